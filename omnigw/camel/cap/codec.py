"""The CAP operations of prepaid voice and SMS (TS 29.078), their arguments read and written
straight in BER. Pure.

Only what a gsmSCF for prepaid needs is read; any other component of an argument is
skipped, as the extension markers of the ASN.1 allow. pycrate's TCAP_CAP module is the
reference these are checked against in the tests (it is ~100x slower on this path). CAP v2
and v3/v4 differ on the wire in ApplyCharging: v2's releaseIfdurationExceeded is a
SEQUENCE {tone BOOLEAN}, v3 and v4 made it a BOOLEAN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from omnigw.camel.ber import DecodeError, fields, integer, items, only, tlv, to_int


class Op(IntEnum):
    INITIAL_DP = 0
    CONNECT = 20
    RELEASE_CALL = 22
    REQUEST_REPORT_BCSM_EVENT = 23
    EVENT_REPORT_BCSM = 24
    CONTINUE = 31
    FURNISH_CHARGING_INFORMATION = 34
    APPLY_CHARGING = 35
    APPLY_CHARGING_REPORT = 36
    CALL_INFORMATION_REPORT = 44
    CALL_INFORMATION_REQUEST = 45
    ACTIVITY_TEST = 55
    INITIAL_DP_SMS = 60
    CONNECT_SMS = 62
    REQUEST_REPORT_SMS_EVENT = 63
    EVENT_REPORT_SMS = 64
    CONTINUE_SMS = 65
    RELEASE_SMS = 66
    RESET_TIMER_SMS = 67


class Service(IntEnum):
    CALL = 1
    SMS = 2


# Application context -> (CAP version, what it is for)
CONTEXTS: dict[tuple[int, ...], tuple[int, Service]] = {
    (0, 4, 0, 0, 1, 0, 50, 1): (2, Service.CALL),
    (0, 4, 0, 0, 1, 21, 3, 4): (3, Service.CALL),
    (0, 4, 0, 0, 1, 23, 3, 4): (4, Service.CALL),
    (0, 4, 0, 0, 1, 21, 3, 61): (3, Service.SMS),
    (0, 4, 0, 0, 1, 23, 3, 61): (4, Service.SMS),
}
CONTEXT_OF = {value: context for context, value in CONTEXTS.items()}


class Event(IntEnum):
    """EventTypeBCSM."""

    COLLECTED_INFO = 2
    ANALYZED_INFORMATION = 3
    ROUTE_SELECT_FAILURE = 4
    O_CALLED_PARTY_BUSY = 5
    O_NO_ANSWER = 6
    O_ANSWER = 7
    O_DISCONNECT = 9
    O_ABANDON = 10
    TERM_ATTEMPT_AUTHORIZED = 12
    T_BUSY = 13
    T_NO_ANSWER = 14
    T_ANSWER = 15
    T_DISCONNECT = 17
    T_ABANDON = 18


class SmsEvent(IntEnum):
    """EventTypeSMS."""

    SMS_COLLECTED_INFO = 1
    O_SMS_FAILURE = 2
    O_SMS_SUBMISSION = 3
    SMS_DELIVERY_REQUESTED = 11
    T_SMS_FAILURE = 12
    T_SMS_DELIVERY = 13


class Mode(IntEnum):
    INTERRUPTED = 0
    NOTIFY_AND_CONTINUE = 1
    TRANSPARENT = 2


# --- numbers ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Number:
    """A party's digits and whether they are in international form (E.164 with country
    code), as the switch gave them."""

    digits: str
    international: bool


def tbcd(raw: bytes) -> str:
    """TBCD digits (IMSI, ISDN-AddressString): low nibble first, 0xF fills."""
    out: list[str] = []
    for octet in raw:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F:
                return "".join(out)
            out.append("0123456789*#abc"[nibble])
    return "".join(out)


def to_tbcd(digits: str) -> bytes:
    values = ["0123456789*#abc".index(d) for d in digits] + ([0x0F] if len(digits) % 2 else [])
    return bytes(values[i] | values[i + 1] << 4 for i in range(0, len(values), 2))


def _isup_digits(raw: bytes) -> str:
    """BCD digits after the two header octets; the odd indicator drops the filler."""
    text = "".join(f"{b & 0xF:x}{b >> 4:x}" for b in raw[2:])
    return text[:-1] if raw[0] & 0x80 else text


def isup_number(raw: bytes) -> Number:
    """ISUP Called/Calling Party Number (Q.763 3.9/3.10): nature of address 4 is
    international."""
    if len(raw) < 2:
        raise DecodeError("an ISUP number shorter than its two header octets")
    return Number(_isup_digits(raw), raw[0] & 0x7F == 4)


def to_isup_number(number: Number, calling: bool = False) -> bytes:
    odd = len(number.digits) % 2
    nature = 4 if number.international else 3
    # numbering plan ISDN (1); a calling number: presentation allowed, network provided
    second = 0x13 if calling else 0x10
    digits = bytes.fromhex("".join(
        number.digits[i + 1 : i + 2].ljust(1, "0") + number.digits[i]
        for i in range(0, len(number.digits), 2)
    ))  # fmt: skip
    return bytes((odd << 7 | nature, second)) + digits


def address_number(raw: bytes) -> Number:
    """A BCD number with its type-of-number octet first (CalledPartyBCDNumber, MAP's
    ISDN-AddressString): type 1 is international."""
    if not raw:
        raise DecodeError("an empty address string")
    return Number(tbcd(raw[1:]), raw[0] >> 4 & 0x07 == 1)


def to_address_number(number: Number) -> bytes:
    return bytes((0x91 if number.international else 0xA1,)) + to_tbcd(number.digits)


# --- what the gsmSSF sends --------------------------------------------------------------------


def _sequence(arg: bytes, what: str, mandatory: int, name: str) -> dict[int, bytes]:
    """The components of an argument that is a SEQUENCE, its one mandatory one there."""
    tag, value = only(arg)
    if tag != 0x30:
        raise DecodeError(f"{what} is not a SEQUENCE")
    found = fields(value)
    if mandatory not in found:
        raise DecodeError(f"{what} without {name}")
    return found


@dataclass(slots=True)
class InitialDp:
    service_key: int
    event: int
    calling: Number | None = None
    called: Number | None = None  # calledPartyNumber, else calledPartyBCDNumber
    imsi: str | None = None
    call_reference: bytes | None = None
    msc: Number | None = None


def initial_dp(arg: bytes) -> InitialDp:
    f = _sequence(arg, "InitialDPArg", 0x80, "serviceKey")
    called = None
    if 0x82 in f:
        called = isup_number(f[0x82])
    elif 0x9F38 in f:
        called = address_number(f[0x9F38])
    return InitialDp(
        service_key=to_int(f[0x80]),
        event=to_int(f[0x9C]) if 0x9C in f else Event.COLLECTED_INFO,
        calling=isup_number(f[0x83]) if 0x83 in f else None,
        called=called,
        imsi=tbcd(f[0x9F32]) if 0x9F32 in f else None,
        call_reference=f.get(0x9F36),
        msc=address_number(f[0x9F37]) if 0x9F37 in f else None,
    )


def encode_initial_dp(idp: InitialDp) -> bytes:
    body = tlv(0x80, integer(idp.service_key))
    if idp.called is not None and idp.event >= Event.TERM_ATTEMPT_AUTHORIZED:
        body += tlv(0x82, to_isup_number(idp.called))
    if idp.calling is not None:
        body += tlv(0x83, to_isup_number(idp.calling, calling=True))
    body += tlv(0x9C, integer(idp.event))
    if idp.imsi is not None:
        body += tlv(0x9F32, to_tbcd(idp.imsi))
    if idp.call_reference is not None:
        body += tlv(0x9F36, idp.call_reference)
    if idp.msc is not None:
        body += tlv(0x9F37, to_address_number(idp.msc))
    if idp.called is not None and idp.event < Event.TERM_ATTEMPT_AUTHORIZED:
        body += tlv(0x9F38, to_address_number(idp.called))
    return tlv(0x30, body)


@dataclass(slots=True)
class BcsmReport:
    event: int
    leg: int | None = None  # the leg it happened on (legID receivingSideID)
    cause: int | None = None  # Q.850 cause value of a release or busy, when given
    notification: bool = False  # miscCallInfo: a notification (no instruction awaited)


def cause_value(raw: bytes) -> int:
    """The cause value of a Q.850 Cause (octet 3, optionally 3a, then 4)."""
    if len(raw) < 2:
        raise DecodeError("a Cause shorter than two octets")
    return (raw[1] if raw[0] & 0x80 else raw[2]) & 0x7F


def event_report_bcsm(arg: bytes) -> BcsmReport:
    f = _sequence(arg, "EventReportBCSMArg", 0x80, "eventTypeBCSM")
    cause = None
    if 0xA2 in f:  # eventSpecificInformationBCSM: [n] SEQUENCE { [0] Cause ... }
        info = fields(only(f[0xA2])[1])
        if 0x80 in info:
            cause = cause_value(info[0x80])
    leg = None
    if 0xA3 in f:
        leg = only(f[0xA3])[1][0]
    notification = False
    if 0xA4 in f:
        notification = fields(f[0xA4]).get(0x80) == b"\x01"
    return BcsmReport(to_int(f[0x80]), leg, cause, notification)


# eventSpecificInformationBCSM alternatives that carry a cause, by event
_CAUSE_CHOICE = {
    Event.ROUTE_SELECT_FAILURE: 0xA2, Event.O_CALLED_PARTY_BUSY: 0xA3,
    Event.O_DISCONNECT: 0xA7, Event.T_BUSY: 0xA8, Event.T_DISCONNECT: 0xAC,
}  # fmt: skip


def encode_event_report_bcsm(report: BcsmReport) -> bytes:
    body = tlv(0x80, integer(report.event))
    choice = _CAUSE_CHOICE.get(Event(report.event))
    if report.cause is not None and choice is not None:
        body += tlv(0xA2, tlv(choice, tlv(0x80, bytes((0x80, 0x80 | report.cause)))))
    if report.leg is not None:
        body += tlv(0xA3, tlv(0x81, bytes((report.leg,))))
    if report.notification:
        body += tlv(0xA4, tlv(0x80, b"\x01"))
    return tlv(0x30, body)


@dataclass(slots=True)
class ChargingReport:
    """ApplyChargingReport: time since answer, cumulative, in 100 ms units."""

    time: int
    leg_active: bool = True
    party: int = 1


def apply_charging_report(arg: bytes) -> ChargingReport:
    tag, value = only(arg)
    if tag != 0x04:
        raise DecodeError("ApplyChargingReportArg is not an OCTET STRING")
    tag, result = only(value)
    if tag != 0xA0:
        raise DecodeError("a CAMEL-CallResult other than timeDurationChargingResult")
    f = fields(result)
    if 0xA1 not in f:
        raise DecodeError("timeDurationChargingResult without timeInformation")
    kind, time = only(f[0xA1])
    if kind == 0x80:  # timeIfNoTariffSwitch
        elapsed = to_int(time)
    elif kind == 0xA1:  # timeIfTariffSwitch: time since the switch, plus the interval before
        switch = fields(time)
        elapsed = to_int(switch.get(0x80, b"\x00")) + to_int(switch.get(0x81, b"\x00"))
    else:
        raise DecodeError("timeInformation of an unknown kind")
    if not 0 <= elapsed <= 864000:
        raise DecodeError(f"a time of {elapsed} (0..864000 in 100 ms units)")
    party = only(f[0xA0])[1][0] if 0xA0 in f else 1
    active = f.get(0x82, b"\xff") != b"\x00"
    return ChargingReport(elapsed, active, party)


def encode_apply_charging_report(report: ChargingReport) -> bytes:
    body = tlv(0xA0, tlv(0x81, bytes((report.party,)))) + tlv(0xA1, tlv(0x80, integer(report.time)))
    if not report.leg_active:
        body += tlv(0x82, b"\x00")
    return tlv(0x04, tlv(0xA0, body))


@dataclass(slots=True)
class InitialDpSms:
    service_key: int
    event: int
    destination: Number | None = None
    calling: Number | None = None
    imsi: str | None = None


def initial_dp_sms(arg: bytes) -> InitialDpSms:
    f = _sequence(arg, "InitialDPSMSArg", 0x80, "serviceKey")
    return InitialDpSms(
        service_key=to_int(f[0x80]),
        event=to_int(f[0x83]) if 0x83 in f else SmsEvent.SMS_COLLECTED_INFO,
        destination=address_number(f[0x81]) if 0x81 in f else None,
        calling=address_number(f[0x82]) if 0x82 in f else None,
        imsi=tbcd(f[0x84]) if 0x84 in f else None,
    )


def encode_initial_dp_sms(idp: InitialDpSms) -> bytes:
    body = tlv(0x80, integer(idp.service_key))
    if idp.destination is not None:
        body += tlv(0x81, to_address_number(idp.destination))
    if idp.calling is not None:
        body += tlv(0x82, to_address_number(idp.calling))
    body += tlv(0x83, integer(idp.event))
    if idp.imsi is not None:
        body += tlv(0x84, to_tbcd(idp.imsi))
    return tlv(0x30, body)


def event_report_sms(arg: bytes) -> int:
    f = _sequence(arg, "EventReportSMSArg", 0x80, "eventTypeSMS")
    return to_int(f[0x80])


def encode_event_report_sms(event: int) -> bytes:
    return tlv(0x30, tlv(0x80, integer(event)) + tlv(0xA2, tlv(0x80, b"\x01")))


# --- what the gsmSCF sends --------------------------------------------------------------------


def request_report_bcsm(events: Sequence[tuple[int, Mode, int | None]]) -> bytes:
    """RequestReportBCSMEvent: (event, monitor mode, leg or None) each."""
    items = b""
    for event, mode, leg in events:
        body = tlv(0x80, integer(event)) + tlv(0x81, integer(mode))
        if leg is not None:
            body += tlv(0xA2, tlv(0x80, bytes((leg,))))  # legID: sendingSideID
        items += tlv(0x30, body)
    return tlv(0x30, tlv(0xA0, items))


def request_report_bcsm_events(arg: bytes) -> list[tuple[int, int, int | None]]:
    f = fields(only(arg)[1])
    out: list[tuple[int, int, int | None]] = []
    for _, event in items(f.get(0xA0, b"")):
        e = fields(event)
        leg = only(e[0xA2])[1][0] if 0xA2 in e else None
        out.append((to_int(e[0x80]), to_int(e[0x81]), leg))
    return out


def apply_charging(duration: int, release: bool, version: int, party: int = 1) -> bytes:
    """ApplyCharging of `duration` (100 ms units, 1..864000) for `party`'s leg."""
    if not 1 <= duration <= 864000:
        raise ValueError(f"maxCallPeriodDuration {duration} outside 1..864000")
    inner = tlv(0x80, integer(duration))
    if release:
        inner += tlv(0xA1, tlv(0x01, b"\x00")) if version == 2 else tlv(0x81, b"\xff")
    characteristics = tlv(0xA0, inner)
    return tlv(0x30, tlv(0x80, characteristics) + tlv(0xA2, tlv(0x80, bytes((party,)))))


@dataclass(slots=True)
class Charging:
    duration: int
    release: bool
    party: int


def read_apply_charging(arg: bytes) -> Charging:
    f = fields(only(arg)[1])
    if 0x80 not in f:
        raise DecodeError("ApplyCharging without aChBillingChargingCharacteristics")
    tag, characteristics = only(f[0x80])
    if tag != 0xA0:
        raise DecodeError("aChBillingChargingCharacteristics other than timeDurationCharging")
    inner = fields(characteristics)
    release = False
    if 0x81 in inner:  # v3/v4 BOOLEAN
        release = inner[0x81] != b"\x00"
    elif 0xA1 in inner:  # v2 SEQUENCE {tone}: present means release
        release = True
    party = only(f[0xA2])[1][0] if 0xA2 in f else 1
    return Charging(to_int(inner[0x80]), release, party)


def release_call(cause: int) -> bytes:
    """ReleaseCall's Cause (Q.850): coding ITU, location public network serving the local
    user, the cause value."""
    return tlv(0x04, bytes((0x82, 0x80 | cause)))


def request_report_sms(events: Sequence[tuple[int, Mode]]) -> bytes:
    body = b"".join(tlv(0x30, tlv(0x80, integer(e)) + tlv(0x81, integer(m))) for e, m in events)
    return tlv(0x30, tlv(0xA0, body))


def release_sms(rp_cause: int) -> bytes:
    return tlv(0x04, bytes((rp_cause,)))
