"""TS 23.041 cell broadcast messages: identifiers, serial numbers, data coding, pages.

Pure functions: text and alert class in, identifiers and 82-octet pages out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import lru_cache

from pycrate_core.utils import PycrateErr
from pycrate_mobile.TS23038 import encode_7b

PAGE_OCTETS = 82
MAX_PAGES = 15
GSM7_PER_PAGE = 93  # 82 octets hold 93 septets
UCS2_PER_PAGE = 41
CR = "\r"


class MessageError(ValueError):
    """The alert cannot become a valid TS 23.041 message; the text says why and the limit."""


class AlertClass(StrEnum):
    """What an authority asks for; maps to a message identifier (TS 23.041 9.4.1.2.2)."""

    PRESIDENTIAL = "presidential"  # CMAS Presidential / EU-Alert level 1
    EXTREME = "extreme"  # EU-Alert level 2
    SEVERE = "severe"  # EU-Alert level 3
    AMBER = "amber"  # child abduction / EU-Amber
    MONTHLY_TEST = "monthly_test"
    EXERCISE = "exercise"
    OPERATOR_DEFINED = "operator_defined"
    PUBLIC_SAFETY = "public_safety"  # EU-Alert level 4
    STATE_LOCAL_TEST = "state_local_test"
    EU_INFO = "eu_info"
    ETWS_EARTHQUAKE = "etws_earthquake"
    ETWS_TSUNAMI = "etws_tsunami"
    ETWS_EARTHQUAKE_TSUNAMI = "etws_earthquake_tsunami"
    ETWS_TEST = "etws_test"
    ETWS_OTHER = "etws_other"


class Urgency(StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"


class Certainty(StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"


# (local language, additional language) identifiers
_FIXED: dict[AlertClass, tuple[int, int]] = {
    AlertClass.PRESIDENTIAL: (4370, 4383),
    AlertClass.AMBER: (4379, 4392),
    AlertClass.MONTHLY_TEST: (4380, 4393),
    AlertClass.EXERCISE: (4381, 4394),
    AlertClass.OPERATOR_DEFINED: (4382, 4395),
    AlertClass.PUBLIC_SAFETY: (4396, 4397),
    AlertClass.STATE_LOCAL_TEST: (4398, 4399),
    AlertClass.EU_INFO: (6400, 6400),
    AlertClass.ETWS_EARTHQUAKE: (4352, 4352),
    AlertClass.ETWS_TSUNAMI: (4353, 4353),
    AlertClass.ETWS_EARTHQUAKE_TSUNAMI: (4354, 4354),
    AlertClass.ETWS_TEST: (4355, 4355),
    AlertClass.ETWS_OTHER: (4356, 4356),
}
# Extreme: severity Extreme + urgency Immediate; Severe: the next six combinations.
_EXTREME = {Certainty.OBSERVED: 4371, Certainty.LIKELY: 4372}
_SEVERE = {
    ("Extreme", Urgency.EXPECTED, Certainty.OBSERVED): 4373,
    ("Extreme", Urgency.EXPECTED, Certainty.LIKELY): 4374,
    ("Severe", Urgency.IMMEDIATE, Certainty.OBSERVED): 4375,
    ("Severe", Urgency.IMMEDIATE, Certainty.LIKELY): 4376,
    ("Severe", Urgency.EXPECTED, Certainty.OBSERVED): 4377,
    ("Severe", Urgency.EXPECTED, Certainty.LIKELY): 4378,
}
ADDITIONAL_LANGUAGE_OFFSET = 13  # 4371 -> 4384 ... 4378 -> 4391

ETWS_WARNING_TYPE = {
    AlertClass.ETWS_EARTHQUAKE: 0,
    AlertClass.ETWS_TSUNAMI: 1,
    AlertClass.ETWS_EARTHQUAKE_TSUNAMI: 2,
    AlertClass.ETWS_TEST: 3,
    AlertClass.ETWS_OTHER: 4,
}


def is_etws(alert_class: AlertClass) -> bool:
    return alert_class in ETWS_WARNING_TYPE


def message_identifier(
    alert_class: AlertClass,
    additional_language: bool = False,
    severity: str = "Extreme",
    urgency: Urgency = Urgency.IMMEDIATE,
    certainty: Certainty = Certainty.OBSERVED,
) -> int:
    """The message identifier for a class; Extreme/Severe also depend on the CAP triple."""
    if alert_class in _FIXED:
        local, additional = _FIXED[alert_class]
        return additional if additional_language else local
    if alert_class is AlertClass.EXTREME:
        ident = _EXTREME[certainty]
    else:
        key = (severity, urgency, certainty)
        if key not in _SEVERE:
            raise MessageError(
                f"severe: severity {severity}/urgency {urgency} is not a Severe combination"
            )
        ident = _SEVERE[key]
    return ident + ADDITIONAL_LANGUAGE_OFFSET if additional_language else ident


def class_of(identifier: int) -> AlertClass | None:
    """The class a message identifier belongs to (for identifiers given directly)."""
    for cls, pair in _FIXED.items():
        if identifier in pair:
            return cls
    if identifier in (4371, 4372, 4384, 4385):
        return AlertClass.EXTREME
    if 4373 <= identifier <= 4378 or 4386 <= identifier <= 4391:
        return AlertClass.SEVERE
    return None


class GeoScope(IntEnum):
    """Serial number geographical scope (TS 23.041 9.4.1.2.1)."""

    CELL_IMMEDIATE = 0
    PLMN = 1
    AREA = 2  # location / service / tracking area
    CELL = 3


@dataclass(frozen=True, slots=True)
class SerialNumber:
    geo_scope: GeoScope
    message_code: int  # 10 bits; unique per live message with the same identifier
    update_number: int  # 4 bits

    def __post_init__(self) -> None:
        if not 0 <= self.message_code < 1024:
            raise MessageError("message code: must be 0..1023")
        if not 0 <= self.update_number < 16:
            raise MessageError("update number: must be 0..15")

    def encode(self) -> int:
        return self.pack(self.geo_scope, self.message_code, self.update_number)

    @staticmethod
    def pack(geo_scope: int, message_code: int, update_number: int) -> int:
        """The 16-bit value of valid parts, without building the object (hot paths)."""
        return (int(geo_scope) << 14) | (message_code << 4) | update_number

    @classmethod
    def decode(cls, value: int) -> SerialNumber:
        return cls(GeoScope(value >> 14), cls.code_of(value), value & 0xF)

    @staticmethod
    def code_of(value: int) -> int:
        """The message code of a 16-bit serial number."""
        return (value >> 4) & 0x3FF

    def updated(self) -> SerialNumber:
        """The serial number of the next update: same code, update number + 1 mod 16."""
        return SerialNumber(self.geo_scope, self.message_code, (self.update_number + 1) % 16)


def etws_warning_type(alert_class: AlertClass, user_alert: bool = True, popup: bool = True) -> int:
    """Warning-Type, 2 octets: type (7 bits) | user alert | popup | padding."""
    return (ETWS_WARNING_TYPE[alert_class] << 9) | (int(user_alert) << 8) | (int(popup) << 7)


# TS 23.038 5: languages with their own 7-bit DCS value (group 0000 and 0010).
GSM7_LANGUAGE_DCS = {
    "de": 0x00, "en": 0x01, "it": 0x02, "fr": 0x03, "es": 0x04, "nl": 0x05, "sv": 0x06,
    "da": 0x07, "pt": 0x08, "fi": 0x09, "no": 0x0A, "el": 0x0B, "tr": 0x0C, "hu": 0x0D,
    "pl": 0x0E, "cs": 0x20, "he": 0x21, "ar": 0x22, "ru": 0x23, "is": 0x24,
}  # fmt: skip
DCS_GSM7_UNSPECIFIED = 0x0F
DCS_GSM7_LANGUAGE_PREFIX = 0x10  # text starts with 2-letter language + CR
DCS_UCS2_LANGUAGE_PREFIX = 0x11  # 2 GSM 7-bit language characters, then UCS2
DCS_UCS2 = 0x48  # general data coding, uncompressed, UCS2


class Category(IntEnum):
    """How a BSC schedules a message among others (TS 48.049 8.2.5; SBc-AP has none)."""

    HIGH_PRIORITY = 0
    BACKGROUND = 1
    NORMAL = 2


@dataclass(frozen=True, slots=True)
class Page:
    content: bytes  # exactly 82 octets
    length: int  # octets of useful content (CBSP user information length)


@dataclass(frozen=True, slots=True)
class EncodedText:
    dcs: int
    pages: tuple[Page, ...]


@lru_cache(maxsize=4096)
def _septets(char: str) -> int | None:
    """Septets a character takes in the GSM default alphabet (2 via escape), or None."""
    try:
        return int(encode_7b(char)[1])
    except PycrateErr:
        return None


def gsm7_compatible(text: str) -> bool:
    return all(_septets(c) is not None for c in text)


def _split(text: str, capacity: int, cost: dict[str, int]) -> list[str]:
    """Split into chunks of at most `capacity` units without breaking a character."""
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        units = cost.get(char, 1)
        if used + units > capacity:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += units
    if current or not chunks:
        chunks.append("".join(current))
    return chunks


def _too_long(pages: int, per_page: int, coding: str) -> MessageError:
    return MessageError(
        f"text: needs {pages} pages but at most {MAX_PAGES} fit "
        f"({MAX_PAGES * per_page} {coding} characters)"
    )


def _gsm7_pages(text: str, first_page_prefix: str) -> tuple[Page, ...]:
    cost = {c: _septets(c) or 1 for c in set(text)}
    body = first_page_prefix + text
    cost.update({c: _septets(c) or 1 for c in first_page_prefix})
    chunks = _split(body, GSM7_PER_PAGE, cost)
    if len(chunks) > MAX_PAGES:
        raise _too_long(len(chunks), GSM7_PER_PAGE, "GSM 7-bit")
    pages = []
    for chunk in chunks:
        used = sum(cost[c] for c in chunk)
        packed, _ = encode_7b(chunk + CR * (GSM7_PER_PAGE - used))
        pages.append(Page(bytes(packed[:PAGE_OCTETS]), (used * 7 + 7) // 8))
    return tuple(pages)


def _ucs2_pages(text: str, language: str | None) -> tuple[Page, ...]:
    cost = {c: len(c.encode("utf-16-be")) // 2 for c in set(text)}
    prefix = b""
    if language:
        prefix, _ = encode_7b(language)
        prefix = bytes(prefix[:2])  # 2 septets padded to the octet boundary
    first_capacity = UCS2_PER_PAGE - (1 if prefix else 0)
    chunks = _split(text, first_capacity, cost)
    if len(chunks) > 1:  # re-split the rest at the full page size
        head = chunks[0]
        chunks = [head, *_split(text[len(head) :], UCS2_PER_PAGE, cost)]
    if len(chunks) > MAX_PAGES:
        raise _too_long(len(chunks), UCS2_PER_PAGE, "UCS2")
    pages = []
    for index, chunk in enumerate(chunks):
        data = (prefix if index == 0 else b"") + chunk.encode("utf-16-be")
        filler = "\r" * ((PAGE_OCTETS - len(data)) // 2)
        pages.append(Page(data + filler.encode("utf-16-be"), len(data)))
    return tuple(pages)


def encode_text(text: str, language: str | None = None) -> EncodedText:
    """Choose the coding (GSM 7-bit when every character fits, else UCS2) and build pages.

    `language` is an ISO 639-1 code; it selects the DCS language or a text prefix.
    """
    if not text:
        raise MessageError("text: must not be empty")
    lang = language.lower() if language else None
    if lang is not None and (len(lang) != 2 or not lang.isalpha() or not lang.isascii()):
        raise MessageError(f"language: {language!r} is not an ISO 639-1 code")
    if gsm7_compatible(text):
        if lang is None:
            return EncodedText(DCS_GSM7_UNSPECIFIED, _gsm7_pages(text, ""))
        if lang in GSM7_LANGUAGE_DCS:
            return EncodedText(GSM7_LANGUAGE_DCS[lang], _gsm7_pages(text, ""))
        return EncodedText(DCS_GSM7_LANGUAGE_PREFIX, _gsm7_pages(text, lang + CR))
    if lang is None:
        return EncodedText(DCS_UCS2, _ucs2_pages(text, None))
    return EncodedText(DCS_UCS2_LANGUAGE_PREFIX, _ucs2_pages(text, lang))
