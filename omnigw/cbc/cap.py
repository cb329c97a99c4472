"""OASIS CAP 1.2 -> alert: class from severity/urgency/certainty, one message per language.

Pure: XML text in, a `CapAlert` out (or CapError naming the element).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from omnigw.cbc.messages import AlertClass, Certainty, Urgency

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
CLASS_PARAMETER = "cmas_class"  # optional <parameter> overriding the derived class


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
class CapAlert:
    identifier: str
    sender: str
    msg_type: str  # Alert | Update | Cancel
    references: tuple[str, ...]  # referenced identifiers
    alert_class: AlertClass
    severity: str
    urgency: Urgency
    certainty: Certainty
    infos: tuple[CapInfo, ...]
    areas: tuple[CapArea, ...]
    expires: datetime | None


def _text(node: ET.Element, name: str) -> str | None:
    child = node.find(NS + name)
    return child.text.strip() if child is not None and child.text else None


def _required(node: ET.Element, name: str, where: str) -> str:
    value = _text(node, name)
    if not value:
        raise CapError(f"{where}.{name}: required")
    return value


def _point(text: str, where: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise CapError(f"{where}: {text!r} is not 'lat,lon'") from None
    return lat, lon


def _area(node: ET.Element, where: str) -> CapArea:
    polygons, circles, cells, named = [], [], [], []
    for poly in node.findall(NS + "polygon"):
        points = tuple(_point(p, f"{where}.polygon") for p in (poly.text or "").split())
        if len(points) < 4 or points[0] != points[-1]:
            raise CapError(f"{where}.polygon: needs 4+ points, first equal to last")
        polygons.append(points[:-1])
    for circle in node.findall(NS + "circle"):
        try:
            centre, radius = (circle.text or "").split()
            lat, lon = _point(centre, f"{where}.circle")
            circles.append((lat, lon, float(radius)))
        except ValueError:
            raise CapError(f"{where}.circle: not 'lat,lon radius_km'") from None
    for code in node.findall(NS + "geocode"):
        name, value = _text(code, "valueName"), _text(code, "value")
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


def parse(xml: str) -> CapAlert:
    try:
        # expat refuses external entities and guards expansion; the body size is capped.
        root = ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from None
    if root.tag != NS + "alert":
        raise CapError("alert: root must be a CAP 1.2 <alert>")
    identifier = _required(root, "identifier", "alert")
    sender = _required(root, "sender", "alert")
    status = _required(root, "status", "alert")
    msg_type = _required(root, "msgType", "alert")
    if status not in ("Actual", "Exercise", "Test"):
        raise CapError(f"alert.status: {status} messages are not broadcast")
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise CapError(f"alert.msgType: {msg_type} is not broadcast")
    references = tuple(
        ref.split(",")[1]
        for ref in (_text(root, "references") or "").split()
        if ref.count(",") == 2
    )
    if msg_type != "Alert" and not references:
        raise CapError(f"alert.references: required for {msg_type}")
    infos_xml = root.findall(NS + "info")
    if not infos_xml and msg_type != "Cancel":
        raise CapError("alert.info: at least one is required")
    infos, areas = [], []
    first = infos_xml[0] if infos_xml else None
    severity = urgency = certainty = ""
    expires = None
    for index, info in enumerate(infos_xml):
        where = f"info[{index}]"
        language = (_text(info, "language") or "en-US").split("-")[0].lower()
        parts = [_text(info, n) for n in ("headline", "description", "instruction")]
        text = " ".join(p for p in parts if p)
        if not text and msg_type != "Cancel":
            raise CapError(f"{where}: headline, description or instruction required")
        infos.append(CapInfo(language, text))
        if info is first:
            severity = _required(info, "severity", where)
            urgency = _required(info, "urgency", where)
            certainty = _required(info, "certainty", where)
            stamp = _text(info, "expires")
            if stamp:
                try:
                    expires = datetime.fromisoformat(stamp)
                except ValueError:
                    raise CapError(f"{where}.expires: not a CAP date-time") from None
            areas = [
                _area(a, f"{where}.area[{i}]") for i, a in enumerate(info.findall(NS + "area"))
            ]
            if not areas and msg_type == "Alert":
                raise CapError(f"{where}.area: at least one is required")
    override = None
    if first is not None:
        for param in first.findall(NS + "parameter"):
            if _text(param, "valueName") == CLASS_PARAMETER:
                override = _text(param, "value")
    cls = _class(status, severity, urgency, certainty, override) if first is not None else (
        AlertClass.PUBLIC_SAFETY
    )  # fmt: skip
    return CapAlert(
        identifier=identifier, sender=sender, msg_type=msg_type, references=references,
        alert_class=cls, severity=severity or "Extreme",
        urgency=Urgency(urgency) if urgency in ("Immediate", "Expected") else Urgency.IMMEDIATE,
        certainty=Certainty(certainty) if certainty in ("Observed", "Likely")
        else Certainty.OBSERVED,
        infos=tuple(infos), areas=tuple(areas), expires=expires,
    )  # fmt: skip
