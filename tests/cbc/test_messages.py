"""TS 23.041 identifiers, serial numbers and page encoding."""

from __future__ import annotations

import pytest
from pycrate_mobile.TS23038 import decode_7b

from omnigw.cbc.messages import (
    DCS_GSM7_LANGUAGE_PREFIX,
    DCS_GSM7_UNSPECIFIED,
    DCS_UCS2,
    DCS_UCS2_LANGUAGE_PREFIX,
    AlertClass,
    Certainty,
    GeoScope,
    MessageError,
    SerialNumber,
    Urgency,
    class_of,
    encode_text,
    etws_warning_type,
    message_identifier,
)


@pytest.mark.parametrize(
    ("cls", "extra", "local", "additional"),
    [
        (AlertClass.PRESIDENTIAL, {}, 4370, 4383),
        (AlertClass.EXTREME, {"certainty": Certainty.OBSERVED}, 4371, 4384),
        (AlertClass.EXTREME, {"certainty": Certainty.LIKELY}, 4372, 4385),
        (AlertClass.SEVERE, {"severity": "Extreme", "urgency": Urgency.EXPECTED}, 4373, 4386),
        (AlertClass.SEVERE, {"severity": "Severe", "urgency": Urgency.IMMEDIATE,
                             "certainty": Certainty.LIKELY}, 4376, 4389),
        (AlertClass.SEVERE, {"severity": "Severe", "urgency": Urgency.EXPECTED,
                             "certainty": Certainty.LIKELY}, 4378, 4391),
        (AlertClass.AMBER, {}, 4379, 4392),
        (AlertClass.MONTHLY_TEST, {}, 4380, 4393),
        (AlertClass.EXERCISE, {}, 4381, 4394),
        (AlertClass.PUBLIC_SAFETY, {}, 4396, 4397),
        (AlertClass.STATE_LOCAL_TEST, {}, 4398, 4399),
        (AlertClass.EU_INFO, {}, 6400, 6400),
        (AlertClass.ETWS_TSUNAMI, {}, 4353, 4353),
    ],
)  # fmt: skip
def test_identifiers(
    cls: AlertClass, extra: dict[str, object], local: int, additional: int
) -> None:
    assert message_identifier(cls, False, **extra) == local  # type: ignore[arg-type]
    assert message_identifier(cls, True, **extra) == additional  # type: ignore[arg-type]
    assert class_of(local) is cls and class_of(additional) is cls


def test_severe_needs_a_severe_combination() -> None:
    with pytest.raises(MessageError, match="severe"):
        message_identifier(AlertClass.SEVERE, severity="Moderate")


def test_serial_number_layout_and_update() -> None:
    serial = SerialNumber(GeoScope.PLMN, 0x3FF, 15)
    assert serial.encode() == 0b01_1111111111_1111
    assert SerialNumber.decode(serial.encode()) == serial
    updated = serial.updated()
    assert (updated.message_code, updated.update_number) == (0x3FF, 0)
    with pytest.raises(MessageError):
        SerialNumber(GeoScope.CELL, 1024, 0)


def test_etws_warning_type_bits() -> None:
    assert etws_warning_type(AlertClass.ETWS_TSUNAMI) == (1 << 9) | (1 << 8) | (1 << 7)
    assert etws_warning_type(AlertClass.ETWS_TEST, user_alert=False, popup=False) == 3 << 9


def test_gsm7_page_is_padded_with_cr() -> None:
    encoded = encode_text("Flood warning", "en")
    assert encoded.dcs == 0x01 and len(encoded.pages) == 1
    page = encoded.pages[0]
    assert len(page.content) == 82 and page.length == 12  # ceil(13 * 7 / 8)
    text = decode_7b(page.content)
    assert text.startswith("Flood warning") and set(text[13:93]) == {"\r"}


def test_gsm7_splits_at_93_and_never_inside_an_escape() -> None:
    encoded = encode_text("a" * 92 + "€" + "b")  # the euro takes 2 septets
    assert encoded.dcs == DCS_GSM7_UNSPECIFIED
    assert [decode_7b(p.content)[:93].rstrip("\r") for p in encoded.pages] == ["a" * 92, "€b"]


def test_language_without_own_dcs_gets_a_prefix() -> None:
    encoded = encode_text("Alerta", "ca")
    assert encoded.dcs == DCS_GSM7_LANGUAGE_PREFIX
    assert decode_7b(encoded.pages[0].content).startswith("ca\rAlerta")


def test_ucs2_41_per_page_big_endian() -> None:
    encoded = encode_text("Ж" * 42)
    assert encoded.dcs == DCS_UCS2
    assert [p.length for p in encoded.pages] == [82, 2]
    assert encoded.pages[0].content[:2] == b"\x04\x16"
    assert encoded.pages[1].content[2:4] == b"\x00\x0d"
    prefixed = encode_text("Тревога", "ru")
    assert prefixed.dcs == DCS_UCS2_LANGUAGE_PREFIX
    assert decode_7b(prefixed.pages[0].content[:2])[:2] == "ru"
    assert prefixed.pages[0].content[2:16].decode("utf-16-be") == "Тревога"


def test_limits_are_exact_in_the_error() -> None:
    assert len(encode_text("x" * 1395).pages) == 15
    with pytest.raises(MessageError, match=r"at most 15 .*1395 GSM 7-bit"):
        encode_text("x" * 1396)
    assert len(encode_text("Ж" * 615).pages) == 15
    with pytest.raises(MessageError, match="615 UCS2"):
        encode_text("Ж" * 616)
    with pytest.raises(MessageError, match="language"):
        encode_text("x", "english")
    with pytest.raises(MessageError, match="empty"):
        encode_text("")
