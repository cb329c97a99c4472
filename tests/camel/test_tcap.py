"""TCAP messages: pycrate's TCAP_CAP (the reference codec) reads what ours writes octet for
octet and we read what it writes; the dialogue table answers what belongs nowhere as
Q.774 says; malformed input is refused with the P-Abort cause it deserves."""

from __future__ import annotations

from typing import Any

import pytest
from pycrate_asn1dir import TCAP_CAP

from omnigw.camel.ber import DecodeError as BerError
from omnigw.camel.ber import items, oid, tlv, to_oid
from omnigw.camel.sccp.codec import CAP_SSN, Address
from omnigw.camel.tcap.codec import (
    AssociateResult,
    BadComponent,
    DecodeError,
    Diagnostic,
    Invoke,
    Kind,
    Message,
    PAbort,
    Problem,
    Reject,
    Request,
    Response,
    ReturnError,
    ReturnResult,
    UserAbort,
    decode,
    encode,
)
from omnigw.camel.tcap.dialogues import Continued, Dialogues, Ended, Opened, Refused

REFERENCE = TCAP_CAP.TCAP_CAP_Messages.TCAP_CAP_Message
V3 = (0, 4, 0, 0, 1, 21, 3, 4)
SSF = Address(CAP_SSN, 100)
OTID, DTID = b"\x00\x00\x00\x01", b"\x10\x00\x00\x07"

MESSAGES = [
    Message(Kind.BEGIN, otid=OTID, dialogue=Request(V3),
            components=(Invoke(1, 0, b"\x30\x03\x80\x01\x64"),)),
    Message(Kind.CONTINUE, otid=DTID, dtid=OTID, dialogue=Response(V3),
            components=(Invoke(1, 23, b"\x30\x00"), Invoke(2, 31))),
    Message(Kind.CONTINUE, otid=OTID, dtid=DTID,
            components=(Reject(7, Problem.UNRECOGNIZED_OPERATION),
                        Reject(None, Problem.BADLY_STRUCTURED_COMPONENT))),
    Message(Kind.END, dtid=OTID, components=(ReturnError(1, 14),)),
    Message(Kind.END, dtid=OTID, components=(ReturnResult(3), Invoke(4, 22, b"\x04\x02\x82\x9f"))),
    Message(Kind.ABORT, dtid=OTID, p_abort=PAbort.RESOURCE_LIMITATION),
    Message(Kind.ABORT, dtid=OTID, dialogue=Response(V3, AssociateResult.REJECT_PERMANENT,
                                                     Diagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)),
    Message(Kind.ABORT, dtid=OTID, dialogue=UserAbort()),
]  # fmt: skip


def reference(wire: bytes) -> Any:
    REFERENCE.from_ber(wire)
    value = REFERENCE.get_val()
    assert REFERENCE.to_ber() == wire, "pycrate writes the same octets back"
    return value


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: m.kind.name)
def test_pycrate_reads_what_we_write_and_we_read_what_it_writes(msg: Message) -> None:
    wire = encode(msg)
    value = reference(wire)
    assert value[0] == {Kind.BEGIN: "begin", Kind.CONTINUE: "continue", Kind.END: "end",
                        Kind.ABORT: "abort"}[msg.kind]  # fmt: skip
    assert decode(wire) == msg


def test_pycrate_sees_our_dialogue_and_invoke_fields() -> None:
    value = reference(encode(MESSAGES[1]))
    dialogue = value[1]["dialoguePortion"]["encoding"][1][1]
    assert dialogue[0] == "dialogueResponse"
    assert dialogue[1]["application-context-name"] == V3 and dialogue[1]["result"] == 0
    invokes = [c[1][1] for c in value[1]["components"]]
    assert [(i["invokeId"], i["opcode"]) for i in invokes] == [
        (("present", 1), ("local", 23)), (("present", 2), ("local", 31))]  # fmt: skip


def test_a_begin_pycrate_writes_is_read() -> None:
    REFERENCE.set_val(("begin", {
        "otid": OTID,
        "dialoguePortion": {"direct-reference": (0, 0, 17, 773, 1, 1, 1), "encoding": (
            "single-ASN1-type", ("DialoguePDU", ("dialogueRequest", {
                "protocol-version": (1, 1), "application-context-name": V3})))},
        "components": [("basicROS", ("invoke", {"invokeId": ("present", 9),
                                                "opcode": ("local", 55)}))],
    }))  # fmt: skip
    msg = decode(REFERENCE.to_ber())
    assert msg == Message(Kind.BEGIN, otid=OTID, dialogue=Request(V3),
                          components=(Invoke(9, 55),))  # fmt: skip


def test_indefinite_lengths_are_read() -> None:
    wire = encode(MESSAGES[0])
    (_, otid), (_, dialogue), (_, components) = items(wire, 2)
    # the same Begin with the message's and the components' lengths indefinite
    indefinite = (b"\x62\x80" + tlv(0x48, otid) + tlv(0x6B, dialogue)
                  + b"\x6c\x80" + components + b"\x00\x00" + b"\x00\x00")  # fmt: skip
    assert decode(indefinite) == MESSAGES[0]


def test_oids_and_lengths_round_trip() -> None:
    for arcs in [(0, 0, 17, 773, 1, 1, 1), V3, (2, 999, 3)]:
        assert to_oid(oid(arcs)) == arcs
    long = tlv(0x04, bytes(300))
    assert long[:4] == b"\x04\x82\x01\x2c" and list(items(long)) == [(0x04, bytes(300))]
    with pytest.raises(BerError):
        list(items(b"\x04\x05\x00"))


@pytest.mark.parametrize(
    ("wire", "cause", "otid"),
    [("6a00", PAbort.UNRECOGNIZED_MESSAGE_TYPE, None),
     ("62034801", PAbort.BADLY_FORMATTED_TRANSACTION_PORTION, None),
     ("620848040000000a6c01", PAbort.BADLY_FORMATTED_TRANSACTION_PORTION, b"\x00\x00\x00\x0a"),
     ("6207480500000000016c00", PAbort.BADLY_FORMATTED_TRANSACTION_PORTION, None),
     ("62026c00", PAbort.INCORRECT_TRANSACTION_PORTION, None),
     ("650648040000000b", PAbort.INCORRECT_TRANSACTION_PORTION, b"\x00\x00\x00\x0b")],
)  # fmt: skip
def test_what_cannot_be_served_says_why_and_who_sent_it(
    wire: str, cause: PAbort, otid: bytes | None
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(bytes.fromhex(wire))
    assert caught.value.cause is cause and caught.value.otid == otid


def test_a_unidirectional_is_read_and_carries_no_transaction_id() -> None:
    assert decode(bytes.fromhex("61026c00")) == Message(Kind.UNIDIRECTIONAL)
    with pytest.raises(DecodeError):
        decode(bytes.fromhex("6106490400000001"))


def test_an_unreadable_component_is_kept_to_be_rejected_and_the_rest_is_served() -> None:
    good = Invoke(2, 24, b"\x30\x03\x80\x01\x07")
    wire = encode(Message(Kind.CONTINUE, otid=OTID, dtid=DTID, components=(good,)))
    components = wire[wire.index(b"\x6c") + 2 :]
    bad = b"\xa1\x03\x02\x01\x01"  # an invoke without its opcode
    odd = b"\xa9\x03\x02\x01\x05"  # not a component
    body = tlv(0x48, OTID) + tlv(0x49, DTID) + tlv(0x6C, bad + components + odd)
    msg = decode(tlv(0x65, body))
    assert msg.components[1] == good
    assert isinstance(msg.components[0], BadComponent)
    assert msg.components[0].invoke_id == 1
    assert msg.components[0].problem is Problem.MISTYPED_COMPONENT
    assert isinstance(msg.components[2], BadComponent)
    assert msg.components[2].problem is Problem.UNRECOGNIZED_COMPONENT


def test_the_dialogue_table_opens_continues_ends_and_times_out() -> None:
    table = Dialogues(capacity=2, idle_seconds=60)
    opened = table.receive(encode(MESSAGES[0]), SSF, now=0.0)
    assert isinstance(opened, Opened) and opened.dialogue.version == 3
    d = opened.dialogue
    first = table.message(d, (), end=False)
    assert first.dialogue == Response(V3) and first.dtid == OTID and first.otid == d.local
    assert table.message(d, (), end=False).dialogue is None  # the AARE goes once
    more = encode(Message(Kind.CONTINUE, otid=OTID, dtid=d.local))
    assert isinstance(table.receive(more, SSF, now=30.0), Continued)
    assert table.expired(now=89.0) == [] and table.expired(now=90.0) == [d]
    again = table.receive(encode(MESSAGES[0]), SSF, now=100.0)
    assert isinstance(again, Opened)
    end = encode(Message(Kind.END, dtid=again.dialogue.local))
    assert isinstance(table.receive(end, SSF, now=101.0), Ended) and len(table) == 0


def test_the_dialogue_table_refuses_as_q774_says() -> None:
    table = Dialogues(capacity=1, idle_seconds=60)
    no_aarq = encode(Message(Kind.BEGIN, otid=OTID, components=(Invoke(1, 0),)))
    refused = table.receive(no_aarq, SSF, 0.0)
    assert isinstance(refused, Refused) and refused.answer is not None
    assert refused.answer.p_abort is PAbort.INCORRECT_TRANSACTION_PORTION
    assert isinstance(table.receive(encode(MESSAGES[0]), SSF, 0.0), Opened)
    full = table.receive(encode(MESSAGES[0]), SSF, 0.0)
    assert isinstance(full, Refused) and full.answer is not None
    assert full.answer.p_abort is PAbort.RESOURCE_LIMITATION and full.answer.dtid == OTID
    stray_end = table.receive(encode(Message(Kind.END, dtid=b"\x99\x99\x99\x99")), SSF, 0.0)
    assert isinstance(stray_end, Refused) and stray_end.answer is None
    unidirectional = table.receive(bytes.fromhex("61026c00"), SSF, 0.0)
    assert isinstance(unidirectional, Refused) and unidirectional.answer is None
