"""OASIS CAP 1.2 (and 1.1) -> alert: class from severity/urgency/certainty, one message per
language, areas bounded before any geometry runs.

Pure: the XML document's bytes in (its declared encoding is honoured), a `CapAlert` out, or
CapError naming the element. CAP 1.1 is read as 1.2: the elements omnigw uses are the same,
and 1.1's deprecated certainty "Very Likely" means "Likely". CAP 1.0 is refused: it predates
OASIS's namespace, and its <password> element carries a credential in clear text, which a
gateway must not accept as an authority's proof.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from omnigw.cbc.messages import AlertClass, Certainty, Urgency
from omnigw.printable import unprintable

NAMESPACES = {
    "{urn:oasis:names:tc:emergency:cap:1.2}alert": "{urn:oasis:names:tc:emergency:cap:1.2}",
    "{urn:oasis:names:tc:emergency:cap:1.1}alert": "{urn:oasis:names:tc:emergency:cap:1.1}",
}
CAP_10 = "{http://www.incident.com/cap/1.0}alert"
CLASS_PARAMETER = "cmas_class"  # optional <parameter> overriding the derived class
# Bounds checked before any geometry runs: what real feeds send, with room to spare.
MAX_POLYGON_POINTS = 5000  # per polygon (NWS and MeteoAlarm polygons have tens to hundreds)
MAX_AREA_SHAPES = 100  # polygons and circles in one alert
MAX_RADIUS_KM = 1000.0
MAX_INFOS = 32  # languages (one message each); real feeds send one to four


class CapError(ValueError):
    """Invalid or ineligible CAP; the message names the element."""


@dataclass(frozen=True, slots=True)
class CapArea:
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    cells: tuple[str, ...] = ()  # geocode CGI
    named: tuple[str, ...] = ()  # geocode AREA (configured area names)


@dataclass(frozen=True, slots=True)
class CapInfo:
    language: str | None
    text: str


@dataclass(frozen=True, slots=True)
class CapReference:
    """One entry of <references>: the message it names, as the spec's triple."""

    sender: str
    identifier: str
    sent: str


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual | Exercise | Test
    msg_type: str  # Alert | Update | Cancel
    references: tuple[CapReference, ...]
    alert_class: AlertClass
    severity: str
    urgency: Urgency
    certainty: Certainty
    infos: tuple[CapInfo, ...]
    areas: tuple[CapArea, ...]
    expires: datetime | None


class _Reader:
    """Element access in the document's own CAP namespace."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def all(self, node: ET.Element, name: str) -> list[ET.Element]:
        return node.findall(self.ns + name)

    def text(self, node: ET.Element, name: str) -> str | None:
        child = node.find(self.ns + name)
        return child.text.strip() if child is not None and child.text else None

    def required(self, node: ET.Element, name: str, where: str) -> str:
        value = self.text(node, name)
        if not value:
            raise CapError(f"{where}.{name}: required")
        return value

    def time(self, node: ET.Element, name: str, where: str) -> datetime | None:
        """A CAP dateTime: with its time zone, as CAP 1.2 3.3.2 requires."""
        value = self.text(node, name)
        if value is None:
            return None
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise CapError(f"{where}.{name}: {value[:40]!r} is not a CAP date-time") from None
        if stamp.tzinfo is None:
            raise CapError(f"{where}.{name}: {value[:40]!r} has no time zone")
        return stamp


def _point(text: str, where: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise CapError(f"{where}: {text[:40]!r} is not 'lat,lon'") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also false for nan and inf
        raise CapError(f"{where}: {text[:40]!r} is outside -90..90, -180..180")
    return lat, lon


def _area(cap: _Reader, node: ET.Element, where: str) -> CapArea:
    polygons, circles, cells, named = [], [], [], []
    for poly in cap.all(node, "polygon"):
        raw = (poly.text or "").split()
        if len(raw) > MAX_POLYGON_POINTS + 1:
            raise CapError(f"{where}.polygon: {len(raw)} points, at most {MAX_POLYGON_POINTS}")
        points = tuple(_point(p, f"{where}.polygon") for p in raw)
        if len(points) < 4 or points[0] != points[-1]:
            raise CapError(f"{where}.polygon: needs 4+ points, first equal to last")
        polygons.append(points[:-1])
    for circle in cap.all(node, "circle"):
        try:
            centre, radius_text = (circle.text or "").split()
            radius = float(radius_text)
        except ValueError:
            raise CapError(f"{where}.circle: not 'lat,lon radius_km'") from None
        lat, lon = _point(centre, f"{where}.circle")
        if not (math.isfinite(radius) and 0 < radius <= MAX_RADIUS_KM):
            raise CapError(f"{where}.circle: radius {radius_text[:20]!r} km is not in "
                           f"(0, {MAX_RADIUS_KM:g}]")  # fmt: skip
        circles.append((lat, lon, radius))
    for code in cap.all(node, "geocode"):
        name, value = cap.text(code, "valueName"), cap.text(code, "value")
        if name == "CGI" and value:
            cells.append(value)
        elif name == "AREA" and value:
            named.append(value)
    if not (polygons or circles or cells or named):
        raise CapError(f"{where}: no polygon, circle or geocode (CGI/AREA) to broadcast to")
    return CapArea(tuple(polygons), tuple(circles), tuple(cells), tuple(named))


def _class(
    status: str, severity: str, urgency: str, certainty: str, override: str | None
) -> AlertClass:
    if override:
        try:
            return AlertClass(override)
        except ValueError:
            raise CapError(f"parameter {CLASS_PARAMETER}: unknown class {override!r}") from None
    if status == "Exercise":
        return AlertClass.EXERCISE
    if status == "Test":
        return AlertClass.MONTHLY_TEST
    if severity in ("Extreme", "Severe"):
        if urgency not in ("Immediate", "Expected") or certainty not in ("Observed", "Likely"):
            raise CapError(
                "info: urgency Immediate/Expected and certainty Observed/Likely are required "
                f"for a {severity} warning (got {urgency}/{certainty})"
            )
        if severity == "Extreme" and urgency == "Immediate":
            return AlertClass.EXTREME
        return AlertClass.SEVERE
    return AlertClass.PUBLIC_SAFETY


def _references(text: str | None) -> tuple[CapReference, ...]:
    refs = []
    for entry in (text or "").split():
        parts = entry.split(",")
        if len(parts) != 3 or not parts[1]:
            raise CapError(f"alert.references: {entry[:60]!r} is not 'sender,identifier,sent'")
        refs.append(CapReference(*parts))
    return tuple(refs)


def parse(document: bytes | str) -> CapAlert:
    try:
        # expat refuses external entities and guards expansion; the body size is capped.
        # Bytes, so the encoding the document declares is the one used.
        root = ET.fromstring(document)  # noqa: S314
    except ET.ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an encoding expat cannot read
        raise CapError(f"unreadable document: {exc}") from None
    if root.tag == CAP_10:
        raise CapError("alert: CAP 1.0 is not accepted (send CAP 1.2 or 1.1)")
    ns = NAMESPACES.get(root.tag)
    if ns is None:
        raise CapError("alert: root must be a CAP 1.2 (or 1.1) <alert>")
    cap = _Reader(ns)
    identifier = cap.required(root, "identifier", "alert")
    sender = cap.required(root, "sender", "alert")
    sent = cap.time(root, "sent", "alert")
    if sent is None:
        raise CapError("alert.sent: required")
    status = cap.required(root, "status", "alert")
    msg_type = cap.required(root, "msgType", "alert")
    if status not in ("Actual", "Exercise", "Test"):
        raise CapError(f"alert.status: {status} messages are not broadcast")
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise CapError(f"alert.msgType: {msg_type} is not broadcast")
    references = _references(cap.text(root, "references"))
    if msg_type != "Alert" and not references:
        raise CapError(f"alert.references: required for {msg_type}")
    infos_xml = cap.all(root, "info")
    if not infos_xml and msg_type != "Cancel":
        raise CapError("alert.info: at least one is required")
    if len(infos_xml) > MAX_INFOS:
        raise CapError(f"alert.info: {len(infos_xml)} blocks, at most {MAX_INFOS}")
    infos: list[CapInfo] = []
    areas: dict[CapArea, None] = {}  # in order, each once: languages usually repeat it
    for index, info in enumerate(infos_xml):
        where = f"info[{index}]"
        language = (cap.text(info, "language") or "en-US").split("-")[0].lower()
        if any(i.language == language for i in infos):
            raise CapError(f"{where}.language: {language} is given twice")
        parts = [cap.text(info, n) for n in ("headline", "description", "instruction")]
        text = " ".join(p for p in parts if p)
        reason = unprintable(text)
        if reason:
            raise CapError(f"{where}: {reason}")
        if not text and msg_type != "Cancel":
            raise CapError(f"{where}: headline, description or instruction required")
        infos.append(CapInfo(language, text))
        for i, node in enumerate(cap.all(info, "area")):
            areas[_area(cap, node, f"{where}.area[{i}]")] = None
    shapes = sum(len(a.polygons) + len(a.circles) for a in areas)
    if shapes > MAX_AREA_SHAPES:
        raise CapError(f"info.area: {shapes} polygons and circles, at most {MAX_AREA_SHAPES}")
    if not areas and msg_type != "Cancel":
        raise CapError("info[0].area: at least one is required")
    severity = urgency = certainty = ""
    expires = None
    override = None
    first = infos_xml[0] if infos_xml else None
    if first is not None:
        severity = cap.required(first, "severity", "info[0]")
        urgency = cap.required(first, "urgency", "info[0]")
        certainty = cap.required(first, "certainty", "info[0]")
        if certainty == "Very Likely":  # CAP 1.1, deprecated there
            certainty = "Likely"
        expires = cap.time(first, "expires", "info[0]")
        for param in cap.all(first, "parameter"):
            if cap.text(param, "valueName") == CLASS_PARAMETER:
                override = cap.text(param, "value")
    cls = _class(status, severity, urgency, certainty, override) if first is not None else (
        AlertClass.PUBLIC_SAFETY
    )  # fmt: skip
    return CapAlert(
        identifier=identifier, sender=sender, sent=sent, status=status, msg_type=msg_type,
        references=references, alert_class=cls, severity=severity or "Extreme",
        urgency=Urgency(urgency) if urgency in ("Immediate", "Expected") else Urgency.IMMEDIATE,
        certainty=Certainty(certainty) if certainty in ("Observed", "Likely")
        else Certainty.OBSERVED,
        infos=tuple(infos), areas=tuple(areas), expires=expires,
    )  # fmt: skip
