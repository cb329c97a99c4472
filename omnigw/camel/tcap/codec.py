"""TCAP messages (ITU-T Q.773) with their dialogue portion (Q.773 4.2.2, the AARQ/AARE/ABRT
of the structured dialogue) and components (invoke, return result, return error, reject).
Pure.

An operation's parameter is kept as the whole TLV it arrived as (or is to be sent as):
the CAP layer above reads and writes it, TCAP only carries it. A component that cannot be
read is kept as a `BadComponent` so the receiver can reject that component and serve the
rest of the message (Q.774 3.2.2.2).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum

from omnigw.camel.ber import DecodeError as BerError
from omnigw.camel.ber import integer, items, oid, only, read, tlv, to_int, to_oid

DIALOGUE_AS = oid((0, 0, 17, 773, 1, 1, 1))  # the dialogue-as-id of the structured dialogue
PROTOCOL_VERSION = bytes.fromhex("800207 80")  # [0] BIT STRING {version1}


class Kind(IntEnum):
    UNIDIRECTIONAL = 0x61
    BEGIN = 0x62
    END = 0x64
    CONTINUE = 0x65
    ABORT = 0x67


KINDS = {kind.value: kind for kind in Kind}


class PAbort(IntEnum):
    """P-AbortCause (Q.773 4.2.1): the transaction sublayer's reasons."""

    UNRECOGNIZED_MESSAGE_TYPE = 0
    UNRECOGNIZED_TRANSACTION_ID = 1
    BADLY_FORMATTED_TRANSACTION_PORTION = 2
    INCORRECT_TRANSACTION_PORTION = 3
    RESOURCE_LIMITATION = 4


class Problem(IntEnum):
    """Reject problems (Q.773 4.2.2.1): the tag says which family, the value which one."""

    UNRECOGNIZED_COMPONENT = 0x8000
    MISTYPED_COMPONENT = 0x8001
    BADLY_STRUCTURED_COMPONENT = 0x8002
    DUPLICATE_INVOKE_ID = 0x8100
    UNRECOGNIZED_OPERATION = 0x8101
    MISTYPED_PARAMETER = 0x8102
    RESOURCE_LIMITATION = 0x8103
    UNRECOGNIZED_LINKED_ID = 0x8105
    UNRECOGNIZED_INVOKE_ID = 0x8200  # returnResult: unrecognizedInvokeID
    RETURN_ERROR_UNRECOGNIZED_INVOKE_ID = 0x8300


class AssociateResult(IntEnum):
    ACCEPTED = 0
    REJECT_PERMANENT = 1


class Diagnostic(IntEnum):
    """dialogue-service-user diagnostics of an AARE (Q.773 4.2.2.2)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2


class DecodeError(ValueError):
    """A message that cannot be served; `otid` when the sender's id could be read, so a
    Begin or Continue can still be answered with a P-Abort of `cause`."""

    def __init__(self, reason: str, cause: PAbort, otid: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason, self.cause, self.otid = reason, cause, otid


# --- dialogue portion ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """AARQ: the application context the initiator proposes."""

    context: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Response:
    """AARE: the context accepted, or refused with a dialogue-service-user diagnostic."""

    context: tuple[int, ...]
    result: AssociateResult = AssociateResult.ACCEPTED
    diagnostic: Diagnostic = Diagnostic.NULL


@dataclass(frozen=True, slots=True)
class UserAbort:
    """ABRT: a dialogue ended by its user (source 0) or the service provider (1)."""

    source: int = 0


DialoguePdu = Request | Response | UserAbort

# --- components ------------------------------------------------------------------------------


@dataclass(slots=True)
class Invoke:
    invoke_id: int
    opcode: int
    argument: bytes | None = None  # the parameter's whole TLV
    linked_id: int | None = None


@dataclass(slots=True)
class ReturnResult:
    invoke_id: int
    opcode: int | None = None
    result: bytes | None = None
    last: bool = True


@dataclass(slots=True)
class ReturnError:
    invoke_id: int
    error: int
    parameter: bytes | None = None


@dataclass(slots=True)
class Reject:
    invoke_id: int | None
    problem: Problem


@dataclass(slots=True)
class BadComponent:
    """Received, and not readable as a component: answer it with a Reject."""

    invoke_id: int | None
    problem: Problem
    reason: str


Component = Invoke | ReturnResult | ReturnError | Reject | BadComponent


@dataclass(slots=True)
class Message:
    kind: Kind
    otid: bytes | None = None
    dtid: bytes | None = None
    dialogue: DialoguePdu | None = None
    components: tuple[Component, ...] = ()
    p_abort: PAbort | None = None  # an Abort from the transaction sublayer


# --- encoding -------------------------------------------------------------------------------


def _dialogue(pdu: DialoguePdu) -> bytes:
    if isinstance(pdu, Request):
        apdu = tlv(0x60, PROTOCOL_VERSION + tlv(0xA1, tlv(0x06, oid(pdu.context))))
    elif isinstance(pdu, Response):
        apdu = tlv(0x61, PROTOCOL_VERSION + tlv(0xA1, tlv(0x06, oid(pdu.context)))
                   + tlv(0xA2, tlv(0x02, integer(pdu.result)))
                   + tlv(0xA3, tlv(0xA1, tlv(0x02, integer(pdu.diagnostic)))))  # fmt: skip
    else:
        apdu = tlv(0x64, tlv(0x80, integer(pdu.source)))
    return tlv(0x6B, tlv(0x28, tlv(0x06, DIALOGUE_AS) + tlv(0xA0, apdu)))


def _component(c: Component) -> bytes:
    if isinstance(c, Invoke):
        body = tlv(0x02, integer(c.invoke_id))
        if c.linked_id is not None:
            body += tlv(0x80, integer(c.linked_id))
        body += tlv(0x02, integer(c.opcode)) + (c.argument or b"")
        return tlv(0xA1, body)
    if isinstance(c, ReturnResult):
        body = tlv(0x02, integer(c.invoke_id))
        if c.opcode is not None and c.result is not None:  # both or neither (X.880)
            body += tlv(0x30, tlv(0x02, integer(c.opcode)) + c.result)
        return tlv(0xA2 if c.last else 0xA7, body)
    if isinstance(c, ReturnError):
        body = tlv(0x02, integer(c.invoke_id)) + tlv(0x02, integer(c.error))
        return tlv(0xA3, body + (c.parameter or b""))
    if isinstance(c, Reject):
        ident = b"\x05\x00" if c.invoke_id is None else tlv(0x02, integer(c.invoke_id))
        return tlv(0xA4, ident + tlv(c.problem >> 8, integer(c.problem & 0xFF)))
    raise TypeError("a BadComponent is only ever received")


def encode(msg: Message) -> bytes:
    body = b""
    if msg.otid is not None:
        body += tlv(0x48, msg.otid)
    if msg.dtid is not None:
        body += tlv(0x49, msg.dtid)
    if msg.p_abort is not None:
        body += tlv(0x4A, integer(msg.p_abort))
    if msg.dialogue is not None:
        body += _dialogue(msg.dialogue)
    if msg.components:
        body += tlv(0x6C, b"".join(_component(c) for c in msg.components))
    return tlv(msg.kind, body)


# --- decoding -------------------------------------------------------------------------------


# Dialogue portions come from a handful of contexts and answers: each distinct one is read
# once.
@functools.lru_cache(maxsize=1024)
def _read_dialogue(value: bytes) -> DialoguePdu:
    return _parse_dialogue(value)


def _parse_dialogue(value: bytes) -> DialoguePdu:
    tag, external = only(value)
    if tag != 0x28:
        raise BerError("a dialogue portion that is not an EXTERNAL")
    parts = dict(items(external))
    if parts.get(0x06) != DIALOGUE_AS or 0xA0 not in parts:
        raise BerError("a dialogue portion that is not the structured dialogue")
    tag, apdu = only(parts[0xA0])
    inner = dict(items(apdu))
    if tag == 0x64:
        return UserAbort(to_int(inner.get(0x80, b"\x00")))
    name = inner.get(0xA1)
    if name is None:
        raise BerError("a dialogue APDU without an application context name")
    oid_tag, oid_value = only(name)
    if oid_tag != 0x06:
        raise BerError("an application context name that is not an OID")
    context = to_oid(oid_value)
    if tag == 0x60:
        return Request(context)
    if tag == 0x61:
        result = AssociateResult(to_int(only(inner.get(0xA2, b"\x02\x01\x00"))[1]))
        diagnostic = Diagnostic.NULL
        if 0xA3 in inner:
            diagnostic = Diagnostic(to_int(only(only(inner[0xA3])[1])[1]))
        return Response(context, result, diagnostic)
    raise BerError(f"dialogue APDU {tag:#x} (AUDT and others are not used by CAP)")


def _read_component(tag: int, value: bytes) -> Component:
    parts = list(items(value))
    invoke_id: int | None = None
    if parts and parts[0][0] == 0x02:
        invoke_id = to_int(parts[0][1])
    try:
        if tag == 0xA1:
            rest = parts[1:]
            linked = None
            if rest and rest[0][0] == 0x80:
                linked = to_int(rest[0][1])
                rest = rest[1:]
            if invoke_id is None or not rest or rest[0][0] != 0x02:
                raise BerError("an invoke without its invoke id or a local opcode")
            argument = None
            if len(rest) > 1:
                argument = tlv(rest[1][0], rest[1][1])
            return Invoke(invoke_id, to_int(rest[0][1]), argument, linked)
        if tag in (0xA2, 0xA7):
            if invoke_id is None:
                raise BerError("a return result without its invoke id")
            if len(parts) < 2:
                return ReturnResult(invoke_id, last=tag == 0xA2)
            inner = list(items(parts[1][1]))
            result = tlv(inner[1][0], inner[1][1]) if len(inner) > 1 else None
            return ReturnResult(invoke_id, to_int(inner[0][1]), result, tag == 0xA2)
        if tag == 0xA3:
            if invoke_id is None or len(parts) < 2:
                raise BerError("a return error without its invoke id or error code")
            parameter = tlv(parts[2][0], parts[2][1]) if len(parts) > 2 else None
            return ReturnError(invoke_id, to_int(parts[1][1]), parameter)
        if tag == 0xA4:
            if len(parts) != 2:
                raise BerError("a reject without its problem")
            return Reject(invoke_id, Problem(parts[1][0] << 8 | to_int(parts[1][1])))
    except (BerError, ValueError, IndexError) as exc:
        problem = Problem.MISTYPED_COMPONENT if tag == 0xA1 else Problem.BADLY_STRUCTURED_COMPONENT
        return BadComponent(invoke_id, problem, str(exc))
    return BadComponent(invoke_id, Problem.UNRECOGNIZED_COMPONENT, f"component tag {tag:#x}")


def _components(value: bytes) -> tuple[Component, ...]:
    out: list[Component] = []
    pos = 0
    while pos < len(value):
        try:
            tag, vs, ve, pos = read(value, pos, len(value))
        except BerError as exc:  # the rest cannot be delimited
            out.append(BadComponent(None, Problem.BADLY_STRUCTURED_COMPONENT, str(exc)))
            break
        out.append(_read_component(tag, value[vs:ve]))
    return tuple(out)


def decode(data: bytes) -> Message:
    otid: bytes | None = None
    try:
        tag, vs, ve, after = read(data, 0, len(data))
        kind = KINDS.get(tag)
        if kind is None:
            raise DecodeError(f"message type {tag:#x}", PAbort.UNRECOGNIZED_MESSAGE_TYPE)
        parts: dict[int, bytes] = {}
        pos = vs
        try:
            while pos < ve:
                part_tag, part_start, part_end, pos = read(data, pos, ve)
                parts.setdefault(part_tag, data[part_start:part_end])
        finally:  # what was read before a fault still names the sender, for the P-Abort
            otid = parts.get(0x48)
        dtid = parts.get(0x49)
        for tid in (otid, dtid):
            if tid is not None and not 1 <= len(tid) <= 4:
                raise DecodeError("a transaction id of other than 1-4 octets",
                                  PAbort.BADLY_FORMATTED_TRANSACTION_PORTION)  # fmt: skip
        need_otid = kind in (Kind.BEGIN, Kind.CONTINUE)
        need_dtid = kind in (Kind.END, Kind.CONTINUE, Kind.ABORT)
        if (otid is None) == need_otid or (dtid is None) == need_dtid:
            raise DecodeError(f"{kind.name} with the wrong transaction ids",
                              PAbort.INCORRECT_TRANSACTION_PORTION, otid)  # fmt: skip
        dialogue = _read_dialogue(parts[0x6B]) if 0x6B in parts else None
        p_abort = PAbort(to_int(parts[0x4A])) if 0x4A in parts else None
        components = _components(parts[0x6C]) if 0x6C in parts else ()
    except DecodeError:
        raise
    except (BerError, ValueError) as exc:
        raise DecodeError(str(exc), PAbort.BADLY_FORMATTED_TRANSACTION_PORTION, otid) from None
    if after != len(data):
        raise DecodeError("octets after the message", PAbort.BADLY_FORMATTED_TRANSACTION_PORTION,
                          otid)  # fmt: skip
    return Message(kind, otid, dtid, dialogue, components, p_abort)
