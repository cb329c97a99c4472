"""Credit-Control messages (RFC 4006, TS 32.299): CCR read into types, CCA built from them.

Pure functions over `codec.Message`. Parsing checks what RFC 4006 makes
mandatory and raises `DecodeError` with the result code the answer must carry
(5005 missing AVP, 5004 invalid value) and the offending AVP for Failed-AVP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache

from omnigw.config import MAX_AMOUNT
from omnigw.diameter.codec import (
    INVALID_AVP_LENGTH,
    INVALID_AVP_VALUE,
    Avp,
    DecodeError,
    Entry,
    Message,
    walk,
)
from omnigw.ocs.charge import Unit

CREDIT_CONTROL = 272  # command code
GY = 4  # Auth-Application-Id of Diameter Credit-Control
TGPP = 10415  # 3GPP vendor id
MISSING_AVP = 5005

# Base AVPs
SESSION_ID, ORIGIN_HOST, ORIGIN_REALM, DESTINATION_REALM = 263, 264, 296, 283
AUTH_APPLICATION_ID, RESULT_CODE, ERROR_MESSAGE, FAILED_AVP = 258, 268, 281, 279
EVENT_TIMESTAMP, TERMINATION_CAUSE = 55, 295
# RFC 4006
CC_REQUEST_NUMBER, CC_REQUEST_TYPE, SERVICE_CONTEXT_ID = 415, 416, 461
SUBSCRIPTION_ID, SUBSCRIPTION_ID_TYPE, SUBSCRIPTION_ID_DATA = 443, 450, 444
MSCC, RSU, USU, GSU = 456, 437, 446, 431
CC_TIME, CC_TOTAL_OCTETS, CC_INPUT_OCTETS, CC_OUTPUT_OCTETS = 420, 421, 412, 414
CC_SERVICE_SPECIFIC_UNITS = 417
RATING_GROUP, SERVICE_IDENTIFIER, VALIDITY_TIME = 432, 439, 448
FINAL_UNIT_INDICATION, FINAL_UNIT_ACTION = 430, 449
REQUESTED_ACTION, CC_FAILURE_HANDLING = 436, 427
MULTIPLE_SERVICES_INDICATOR = 455
# TS 32.299 (vendor 3GPP)
REPORTING_REASON, TIME_QUOTA_THRESHOLD, VOLUME_QUOTA_THRESHOLD = 872, 868, 869
SERVICE_INFORMATION, IMS_INFORMATION, CALLED_PARTY_ADDRESS = 873, 876, 832
SMS_INFORMATION, RECIPIENT_INFO, RECIPIENT_ADDRESS, ADDRESS_DATA = 2000, 2026, 1201, 897

AVP_UNSUPPORTED = 5001

# The CCR's top-level AVPs (RFC 4006 3.1, RFC 6733 6.7): any other base AVP marked
# mandatory is one we do not understand, and RFC 6733 7.1.5 says refuse it (5001).
# Vendor AVPs: 3GPP's are TS 32.299's Gy additions (Service-Information, ...), which a
# PGW sends with the M bit and we may ignore; another vendor's mandatory AVP is refused.
CCR_AVPS = frozenset({
    SESSION_ID, ORIGIN_HOST, ORIGIN_REALM, DESTINATION_REALM, AUTH_APPLICATION_ID,
    SERVICE_CONTEXT_ID, CC_REQUEST_TYPE, CC_REQUEST_NUMBER, EVENT_TIMESTAMP,
    TERMINATION_CAUSE, SUBSCRIPTION_ID, MSCC, RSU, USU, SERVICE_IDENTIFIER, REQUESTED_ACTION,
    MULTIPLE_SERVICES_INDICATOR,
    1,  # User-Name
    50,  # Acct-Multi-Session-Id
    278,  # Origin-State-Id
    282,  # Route-Record
    284,  # Proxy-Info
    293,  # Destination-Host
    411,  # CC-Correlation-Id
    419,  # CC-Sub-Session-Id
    440,  # Service-Parameter-Info
    458,  # User-Equipment-Info
    25,  # Class
    33,  # Proxy-State (inside Proxy-Info, tolerated at the top)
})  # fmt: skip
AVP_MANDATORY = 0x40

FINAL_REPORT = 2  # Reporting-Reason FINAL
DIRECT_DEBITING = 0  # Requested-Action
TERMINATE = 0  # Final-Unit-Action


class RequestType(IntEnum):
    INITIAL = 1
    UPDATE = 2
    TERMINATION = 3
    EVENT = 4


class SubscriptionType(IntEnum):
    E164 = 0
    IMSI = 1
    SIP_URI = 2
    NAI = 3
    PRIVATE = 4


@dataclass(slots=True)
class ServiceRequest:
    """One Multiple-Services-Credit-Control of a CCR: a rating group's report and ask."""

    rating_group: int | None
    service_id: int | None
    unit: Unit
    asked: bool  # an RSU was present
    requested: int | None  # its amount; None when the RSU was empty (we choose)
    used: int
    final: bool  # Reporting-Reason FINAL: the client is done with this rating group

    @property
    def name(self) -> str:
        if self.rating_group is not None:
            return f"rg{self.rating_group}"
        return f"sid{self.service_id}"


@dataclass(slots=True)
class Ccr:
    session_id: str
    origin_host: str
    request_type: RequestType
    request_number: int
    service_context: str
    subscriptions: list[tuple[int, str]]
    services: list[ServiceRequest]
    requested_action: int | None = None
    called: str | None = None  # the called party or SMS recipient (Service-Information)


@dataclass(slots=True)
class ServiceAnswer:
    """What a CCA says about one rating group."""

    rating_group: int | None
    service_id: int | None
    result_code: int
    unit: Unit = Unit.OCTETS
    granted: int | None = None
    validity: int = 0
    threshold: int = 0
    final: bool = False


@dataclass(slots=True)
class Cca:
    result_code: int
    services: list[ServiceAnswer] = field(default_factory=list)
    error_message: str | None = None
    failed: Avp | None = None


def _required(first: dict[int, Entry], code: int, name: str) -> Entry:
    entry = first.get(code)
    if entry is None:
        # Failed-AVP names the missing AVP with an empty value (RFC 6733 7.5).
        raise DecodeError(MISSING_AVP, f"{name} is missing", Avp(code, b"\0\0\0\0"))
    return entry


def _number(entry: Entry, size: int) -> int:
    """An Unsigned32 (size 4) or Unsigned64 (size 8)."""
    if len(entry[3]) != size:
        raise DecodeError(INVALID_AVP_LENGTH, f"AVP {entry[0]}: expected {size} octets",
                          Avp.of_entry(entry))  # fmt: skip
    return int.from_bytes(entry[3], "big")


def _text(entry: Entry) -> str:
    try:
        return entry[3].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(
            INVALID_AVP_VALUE, f"AVP {entry[0]}: not UTF-8", Avp.of_entry(entry)
        ) from None


def _units(entries: list[Entry]) -> tuple[Unit | None, int]:
    """The unit type and amount of an RSU/USU/GSU's contents (octets: total, else in+out)."""
    found: dict[int, int] = {}
    for entry in entries:
        code = entry[0]
        if entry[2]:  # vendor-specific: not a unit AVP
            continue
        if code == CC_TIME:
            found[code] = _number(entry, 4)
        elif code in (CC_TOTAL_OCTETS, CC_INPUT_OCTETS, CC_OUTPUT_OCTETS,
                      CC_SERVICE_SPECIFIC_UNITS):  # fmt: skip
            found[code] = amount = _number(entry, 8)
            if amount > MAX_AMOUNT:  # Unsigned64 allows it; no balance or store holds it
                raise DecodeError(INVALID_AVP_VALUE, f"AVP {code}: {amount} is over the "
                                  f"{MAX_AMOUNT} omnigw accepts", Avp.of_entry(entry))  # fmt: skip
    if CC_TIME in found:
        return Unit.SECONDS, found[CC_TIME]
    if CC_TOTAL_OCTETS in found:
        return Unit.OCTETS, found[CC_TOTAL_OCTETS]
    if CC_INPUT_OCTETS in found or CC_OUTPUT_OCTETS in found:
        return Unit.OCTETS, found.get(CC_INPUT_OCTETS, 0) + found.get(CC_OUTPUT_OCTETS, 0)
    if CC_SERVICE_SPECIFIC_UNITS in found:
        return Unit.UNITS, found[CC_SERVICE_SPECIFIC_UNITS]
    return None, 0


def _service(mscc: Entry, default_unit: Unit) -> ServiceRequest:
    rating_group = service_id = None
    asked, requested, used, final = False, None, 0, False
    unit: Unit | None = None
    for entry in walk(mscc[3]):
        code, _, vendor, value = entry
        if vendor == TGPP:
            if code == REPORTING_REASON and _number(entry, 4) == FINAL_REPORT:
                final = True
            continue
        if code == RATING_GROUP:
            rating_group = _number(entry, 4)
        elif code == SERVICE_IDENTIFIER:
            service_id = _number(entry, 4)
        elif code == RSU:
            asked = True
            kind, amount = _units(walk(value))
            if kind is not None:
                unit, requested = kind, amount
        elif code == USU:
            contents = walk(value)
            kind, amount = _units(contents)
            if kind is not None:
                unit = unit or kind
                used += amount
            for part in contents:  # TS 32.299 also allows Reporting-Reason inside USU
                if part[2] == TGPP and part[0] == REPORTING_REASON:
                    final = final or _number(part, 4) == FINAL_REPORT
    if rating_group is None and service_id is None:
        raise DecodeError(MISSING_AVP, "MSCC without Rating-Group or Service-Identifier",
                          Avp(RATING_GROUP, b"\0\0\0\0"))  # fmt: skip
    return ServiceRequest(rating_group, service_id, unit or default_unit, asked, requested, used,
                          final)  # fmt: skip


def _subscription(entry: Entry) -> tuple[int, str]:
    kind, data = None, None
    for inner in walk(entry[3]):
        if inner[0] == SUBSCRIPTION_ID_TYPE:
            kind = _number(inner, 4)
        elif inner[0] == SUBSCRIPTION_ID_DATA:
            data = _text(inner)
    if kind is None or data is None:
        raise DecodeError(MISSING_AVP, "Subscription-Id needs type and data", Avp.of_entry(entry))
    return kind, data


def _address(text: str) -> str:
    """A party's number from a TEL or SIP URI ("tel:+4930123;npdi", "sip:+4930123@ims;user=
    phone") or a plain address: what a tariff's destination prefixes are matched against."""
    scheme, _, rest = text.partition(":")
    if not rest or scheme.lower() not in ("tel", "sip", "sips"):
        rest = text
    return rest.split("@", 1)[0].split(";", 1)[0].strip()


MAX_PARTY = 128  # longer is no party's number (E.164 has 15 digits)


def _party(entry: Entry) -> str | None:
    party = _address(_text(entry))
    if len(party) > MAX_PARTY:
        raise DecodeError(INVALID_AVP_VALUE, f"AVP {entry[0]}: a party of {len(party)} "
                          f"characters (at most {MAX_PARTY})", Avp.of_entry(entry))  # fmt: skip
    return party or None


def _called_party(service_information: Entry) -> str | None:
    """TS 32.299: IMS-Information/Called-Party-Address for a call, SMS-Information's
    Recipient-Info/Recipient-Address/Address-Data (or an older release's Recipient-Address
    directly in SMS-Information) for an SMS."""
    for entry in walk(service_information[3]):
        if entry[2] != TGPP:
            continue
        if entry[0] == IMS_INFORMATION:
            for inner in walk(entry[3]):
                if inner[0] == CALLED_PARTY_ADDRESS and inner[2] == TGPP:
                    return _party(inner)
        elif entry[0] == SMS_INFORMATION:
            for inner in walk(entry[3]):
                address = inner
                if inner[0] == RECIPIENT_INFO and inner[2] == TGPP:
                    address = next((a for a in walk(inner[3]) if a[0] == RECIPIENT_ADDRESS),
                                   inner)  # fmt: skip
                if address[0] == RECIPIENT_ADDRESS and address[2] == TGPP:
                    for part in walk(address[3]):
                        if part[0] == ADDRESS_DATA and part[2] == TGPP:
                            return _party(part)
    return None


def parse_ccr(message: Message, default_unit: Unit = Unit.OCTETS) -> Ccr:
    """Read from the message's entries, never its `Avp` objects (see `codec.Message`)."""
    first: dict[int, Entry] = {}  # the first of each base/RFC 4006 AVP, in one pass
    repeated: list[Entry] = []  # Subscription-Id and MSCC, which may come several times
    service_information: Entry | None = None
    for entry in message.entries:
        code = entry[0]
        if entry[2]:
            if entry[2] != TGPP and entry[1] & AVP_MANDATORY:
                raise DecodeError(AVP_UNSUPPORTED, f"AVP {code} of vendor {entry[2]} is not "
                                  "supported", Avp.of_entry(entry))  # fmt: skip
            if code == SERVICE_INFORMATION and entry[2] == TGPP:
                service_information = entry
            continue
        if code not in CCR_AVPS and entry[1] & AVP_MANDATORY:
            raise DecodeError(AVP_UNSUPPORTED, f"AVP {code} is not supported",
                              Avp.of_entry(entry))  # fmt: skip
        if code in (SUBSCRIPTION_ID, MSCC):
            repeated.append(entry)
        elif code not in first:
            first[code] = entry
    session_id = _text(_required(first, SESSION_ID, "Session-Id"))
    origin_host = _text(_required(first, ORIGIN_HOST, "Origin-Host"))
    _required(first, ORIGIN_REALM, "Origin-Realm")
    _required(first, DESTINATION_REALM, "Destination-Realm")
    app = _required(first, AUTH_APPLICATION_ID, "Auth-Application-Id")
    if _number(app, 4) != GY:
        raise DecodeError(INVALID_AVP_VALUE, "Auth-Application-Id is not 4", Avp.of_entry(app))
    context = _text(_required(first, SERVICE_CONTEXT_ID, "Service-Context-Id"))
    type_entry = _required(first, CC_REQUEST_TYPE, "CC-Request-Type")
    try:
        request_type = RequestType(_number(type_entry, 4))
    except ValueError:
        raise DecodeError(INVALID_AVP_VALUE, "CC-Request-Type out of range",
                          Avp.of_entry(type_entry)) from None  # fmt: skip
    number = _number(_required(first, CC_REQUEST_NUMBER, "CC-Request-Number"), 4)
    subscriptions = []
    services = []
    for entry in repeated:
        if entry[0] == SUBSCRIPTION_ID:
            subscriptions.append(_subscription(entry))
        else:
            services.append(_service(entry, default_unit))
    action_entry = first.get(REQUESTED_ACTION)
    action = _number(action_entry, 4) if action_entry is not None else None
    top_rsu = first.get(RSU)
    if top_rsu is not None and not services:
        # An event without MSCC asks at the top level (RFC 4006 direct debiting).
        unit, amount = _units(walk(top_rsu[3]))
        services.append(ServiceRequest(None, 0, unit or default_unit, True,
                                       amount if unit else None, 0, False))  # fmt: skip
    called = _called_party(service_information) if service_information is not None else None
    return Ccr(session_id, origin_host, request_type, number, context, subscriptions, services,
               action, called)  # fmt: skip


def _granted(unit: Unit, amount: int) -> Avp:
    if unit is Unit.SECONDS:
        return Avp.of_u32(CC_TIME, amount)
    if unit is Unit.OCTETS:
        return Avp.of_u64(CC_TOTAL_OCTETS, amount)
    return Avp.of_u64(CC_SERVICE_SPECIFIC_UNITS, amount)


@lru_cache(maxsize=4096)
def _u32(code: int, value: int) -> Avp:
    """An Unsigned32 AVP that answers repeat (result codes, rating groups, request types),
    encoded once."""
    return Avp.of_u32(code, value).frozen()


_FINAL_UNIT_TERMINATE = Avp.of_group(
    FINAL_UNIT_INDICATION, [Avp.of_u32(FINAL_UNIT_ACTION, TERMINATE)]
).frozen()


def _service_answer(service: ServiceAnswer) -> Avp:
    return _mscc(service.rating_group, service.service_id, service.result_code, service.unit,
                 service.granted, service.validity, service.threshold, service.final)  # fmt: skip


@lru_cache(maxsize=4096)
def _mscc(
    rating_group: int | None,
    service_id: int | None,
    result_code: int,
    unit: Unit,
    granted: int | None,
    validity: int,
    threshold: int,
    final: bool,
) -> Avp:
    """An answer's MSCC, encoded once per distinct content: most grants are the same quota
    for the same rating group, so steady traffic encodes none."""
    avps: list[Avp] = []
    if granted is not None:
        avps.append(Avp.of_group(GSU, [_granted(unit, granted)]))
    if rating_group is not None:
        avps.append(_u32(RATING_GROUP, rating_group))
    if service_id is not None:
        avps.append(_u32(SERVICE_IDENTIFIER, service_id))
    if granted is not None and validity:
        avps.append(_u32(VALIDITY_TIME, validity))
    avps.append(_u32(RESULT_CODE, result_code))
    if final:
        avps.append(_FINAL_UNIT_TERMINATE)
    if granted is not None and threshold:
        code = TIME_QUOTA_THRESHOLD if unit is Unit.SECONDS else VOLUME_QUOTA_THRESHOLD
        avps.append(Avp.of_u32(code, threshold, vendor=TGPP))
    return Avp.of_group(MSCC, avps).frozen()


def request_numbers(request: Message) -> tuple[int, int]:
    """CC-Request-Type and CC-Request-Number as the request gave them (0 where unreadable),
    for answers to requests that could not be parsed: RFC 4006 8.3 says echo them."""
    found = {CC_REQUEST_TYPE: 0, CC_REQUEST_NUMBER: 0}
    for code, _, vendor, value in request.entries:
        if code in found and not vendor and len(value) == 4 and not found[code]:
            found[code] = int.from_bytes(value, "big")
    return found[CC_REQUEST_TYPE], found[CC_REQUEST_NUMBER]


def build_cca(
    request: Message,
    ccr_type: int,
    ccr_number: int,
    answer: Cca,
    origin: list[Avp],
    failure_handling: int | None = None,
) -> Message:
    """The CCA for `request`; the E bit is set for protocol errors (3xxx)."""
    # Echoed from the request's entries: a CCR never needs its `Avp` objects made.
    session = next((e for e in request.entries if e[0] == SESSION_ID and not e[2]), None)
    avps = [Avp.of_entry(session)] if session is not None else []
    avps += [_u32(RESULT_CODE, answer.result_code), *origin, _u32(AUTH_APPLICATION_ID, GY),
             _u32(CC_REQUEST_TYPE, ccr_type), _u32(CC_REQUEST_NUMBER, ccr_number)]  # fmt: skip
    avps += [_service_answer(s) for s in answer.services]
    if failure_handling is not None:
        avps.append(_u32(CC_FAILURE_HANDLING, failure_handling))
    if answer.error_message:
        avps.append(Avp.of_text(ERROR_MESSAGE, answer.error_message, mandatory=False))
    if answer.failed is not None:
        avps.append(Avp.of_group(FAILED_AVP, [answer.failed]))
    return request.answer(avps, error=3000 <= answer.result_code < 4000)
