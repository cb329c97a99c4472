"""CAP operation arguments: each one we write is read back by pycrate's TCAP_CAP (the
reference codec) inside an invoke, with the values we meant; each one pycrate writes we
read; and tshark's camel dissector shows the fields an operator looks for."""

from __future__ import annotations

from typing import Any

import pytest
from pycrate_asn1dir import TCAP_CAP

from omnigw.camel.ber import DecodeError
from omnigw.camel.cap import codec as cap
from omnigw.camel.cap.codec import Event, Mode, Number, Op, SmsEvent
from omnigw.camel.m3ua.codec import DATA, PPID, ProtocolData, Tag, message
from omnigw.camel.m3ua.codec import encode as m3ua
from omnigw.camel.sccp.codec import CAP_SSN, Address, GlobalTitle, Unitdata
from omnigw.camel.sccp.codec import encode as sccp
from omnigw.camel.tcap.codec import Invoke, Kind, Message, Request, Response, encode
from tests.support import tshark

REFERENCE = TCAP_CAP.TCAP_CAP_Messages.TCAP_CAP_Message
ALICE, BOB = Number("34600000001", True), Number("34600000002", True)
IMSI = "214010000000001"


def reference(op: int, argument: bytes) -> Any:
    """The argument as pycrate reads it from an invoke in a Begin."""
    wire = encode(
        Message(Kind.BEGIN, otid=b"\x00\x00\x00\x01", components=(Invoke(1, op, argument),))
    )
    REFERENCE.from_ber(wire)
    assert REFERENCE.to_ber() == wire
    return REFERENCE.get_val()[1]["components"][0][1][1]["argument"]


def test_initial_dp_of_an_mo_call() -> None:
    idp = cap.InitialDp(100, Event.COLLECTED_INFO, ALICE, BOB, IMSI, b"\x01\x02",
                        Number("34600000099", True))  # fmt: skip
    name, value = reference(Op.INITIAL_DP, cap.encode_initial_dp(idp))
    assert name == "InitialDPArg" and value["serviceKey"] == 100
    assert value["eventTypeBCSM"] == "collectedInfo"
    assert value["callingPartyNumber"] == bytes.fromhex("8413430600000001")  # odd, international
    assert value["calledPartyBCDNumber"] == bytes.fromhex("914306000000f2")
    assert value["iMSI"] == bytes.fromhex("12040100000000f1")
    assert cap.initial_dp(cap.encode_initial_dp(idp)) == idp


def test_initial_dp_of_an_mt_call_carries_the_isup_called_party_number() -> None:
    idp = cap.InitialDp(7, Event.TERM_ATTEMPT_AUTHORIZED, Number("912345678", False), BOB)
    _, value = reference(Op.INITIAL_DP, cap.encode_initial_dp(idp))
    assert value["eventTypeBCSM"] == "termAttemptAuthorized"
    assert value["calledPartyNumber"][:2] == b"\x84\x10"
    assert value["callingPartyNumber"][:1] == b"\x83"  # odd, national
    assert cap.initial_dp(cap.encode_initial_dp(idp)) == idp


def test_an_initial_dp_pycrate_writes_is_read() -> None:
    REFERENCE.set_val(("begin", {"otid": b"\x01", "components": [("basicROS", ("invoke", {
        "invokeId": ("present", 1), "opcode": ("local", 0),
        "argument": ("InitialDPArg", {
            "serviceKey": 55, "calledPartyNumber": bytes.fromhex("0390214365"),
            "callingPartyNumber": bytes.fromhex("8413430600000001"),
            "callingPartysCategory": b"\x0a", "eventTypeBCSM": "analyzedInformation",
            "iMSI": bytes.fromhex("12040100000000f1"), "mscAddress": bytes.fromhex("9143"),
            "bearerCapability": ("bearerCap", b"\x80\x90\xa3"),
        })}))]}))  # fmt: skip
    arg = REFERENCE.to_ber()
    invoke = arg[arg.index(b"\xa1") :]
    argument = invoke[invoke.index(b"\x02\x01\x00") + 3 :]
    idp = cap.initial_dp(argument)
    assert (idp.service_key, idp.event) == (55, Event.ANALYZED_INFORMATION)
    assert idp.called == Number("123456", False) and idp.calling == ALICE
    assert idp.imsi == IMSI and idp.msc == Number("34", True)


@pytest.mark.parametrize(
    "report",
    [cap.BcsmReport(Event.O_ANSWER, 2, None, True),
     cap.BcsmReport(Event.O_DISCONNECT, 1, 16),
     cap.BcsmReport(Event.O_CALLED_PARTY_BUSY, None, 17, True),
     cap.BcsmReport(Event.T_DISCONNECT, 2, 31)],
    ids=lambda r: Event(r.event).name,
)  # fmt: skip
def test_event_report_bcsm(report: cap.BcsmReport) -> None:
    wire = cap.encode_event_report_bcsm(report)
    name, value = reference(Op.EVENT_REPORT_BCSM, wire)
    assert name == "EventReportBCSMArg"
    assert value["eventTypeBCSM"] == {7: "oAnswer", 9: "oDisconnect", 5: "oCalledPartyBusy",
                                      17: "tDisconnect"}[report.event]  # fmt: skip
    if report.leg is not None:
        assert value["legID"] == ("receivingSideID", bytes([report.leg]))
    assert cap.event_report_bcsm(wire) == report


def test_apply_charging_report_and_apply_charging() -> None:
    wire = cap.encode_apply_charging_report(cap.ChargingReport(3000, leg_active=False))
    name, value = reference(Op.APPLY_CHARGING_REPORT, wire)
    assert name == "ApplyChargingReportArg"  # an OCTET STRING holding CAMEL-CallResult
    assert cap.apply_charging_report(wire) == cap.ChargingReport(3000, False)
    for release in (False, True):
        wire = cap.apply_charging(3000, release, 3)
        name, value = reference(Op.APPLY_CHARGING, wire)
        assert value["partyToCharge"] == ("sendingSideID", b"\x01")
        assert value["aChBillingChargingCharacteristics"].startswith(b"\xa0")
        assert cap.read_apply_charging(wire) == cap.Charging(3000, release, 1)
    with pytest.raises(ValueError, match="864000"):
        cap.apply_charging(864001, False, 3)


def test_a_time_if_tariff_switch_report_counts_both_parts() -> None:
    switch = bytes.fromhex("a106800164810132")  # 100 since the switch, 50 before it
    result = bytes.fromhex("a003810101") + b"\xa1\x08" + switch
    wire = b"\x04\x11\xa0\x0f" + result
    assert cap.apply_charging_report(wire).time == 150
    with pytest.raises(DecodeError):
        cap.apply_charging_report(bytes.fromhex("0409a007a10580030d2ff1"))  # 864241 > 864000


def test_v2_writes_release_if_duration_exceeded_as_a_sequence() -> None:
    # aChBillingChargingCharacteristics [0] { timeDurationCharging [0] { [0] 100,
    # releaseIfdurationExceeded [1] SEQUENCE { tone FALSE } } }, partyToCharge leg1
    wire = bytes.fromhex("3011800aa008800164a103010100a203800101")
    assert cap.apply_charging(100, True, 2) == wire
    assert cap.read_apply_charging(cap.apply_charging(100, True, 2)).release


def test_request_report_bcsm_event_and_release_call() -> None:
    events = [
        (Event.O_ANSWER, Mode.NOTIFY_AND_CONTINUE, None),
        (Event.O_DISCONNECT, Mode.INTERRUPTED, 1),
    ]
    _, value = reference(Op.REQUEST_REPORT_BCSM_EVENT, cap.request_report_bcsm(events))
    assert value["bcsmEvents"] == [
        {"eventTypeBCSM": "oAnswer", "monitorMode": "notifyAndContinue"},
        {"eventTypeBCSM": "oDisconnect", "monitorMode": "interrupted",
         "legID": ("sendingSideID", b"\x01")},
    ]  # fmt: skip
    assert cap.request_report_bcsm_events(cap.request_report_bcsm(events)) == events
    _, value = reference(Op.RELEASE_CALL, cap.release_call(31))
    assert value == ("allCallSegments", b"\x82\x9f")


def test_sms_operations() -> None:
    idp = cap.InitialDpSms(200, SmsEvent.SMS_COLLECTED_INFO, BOB, ALICE, IMSI)
    name, value = reference(Op.INITIAL_DP_SMS, cap.encode_initial_dp_sms(idp))
    assert name == "InitialDPSMSArg" and value["eventTypeSMS"] == "sms-CollectedInfo"
    assert value["destinationSubscriberNumber"] == bytes.fromhex("914306000000f2")
    assert cap.initial_dp_sms(cap.encode_initial_dp_sms(idp)) == idp
    wire = cap.encode_event_report_sms(SmsEvent.O_SMS_SUBMISSION)
    _, value = reference(Op.EVENT_REPORT_SMS, wire)
    assert value["eventTypeSMS"] == "o-smsSubmission"
    assert cap.event_report_sms(wire) == SmsEvent.O_SMS_SUBMISSION
    events = [(SmsEvent.O_SMS_SUBMISSION, Mode.NOTIFY_AND_CONTINUE)]
    _, value = reference(Op.REQUEST_REPORT_SMS_EVENT, cap.request_report_sms(events))
    assert value["sMSEvents"] == [
        {"eventTypeSMS": "o-smsSubmission", "monitorMode": "notifyAndContinue"}
    ]
    assert cap.release_sms(21) == b"\x04\x01\x15"


@pytest.mark.parametrize(
    ("decoder", "raw"),
    [(cap.initial_dp, b"\x30\x03\x83\x01\x00"), (cap.initial_dp, b"\x04\x00"),
     (cap.event_report_bcsm, b"\x30\x00"), (cap.apply_charging_report, b"\x30\x00"),
     (cap.initial_dp_sms, b"\x30\x02\x81\x00"), (cap.event_report_sms, b"\x30\x00"),
     (cap.initial_dp, b"\x30\x05\x80\x01")],
)  # fmt: skip
def test_arguments_missing_what_is_mandatory_are_refused(decoder: Any, raw: bytes) -> None:
    with pytest.raises((DecodeError, ValueError)):
        decoder(raw)


def test_tshark_reads_a_prepaid_call_with_the_fields_an_operator_looks_for() -> None:
    scf = Address(CAP_SSN, gt=GlobalTitle("34600000001"), route_on_ssn=False)
    msc = Address(CAP_SSN, 100, GlobalTitle("346000099"), route_on_ssn=False)
    v3 = (0, 4, 0, 0, 1, 21, 3, 4)
    idp = cap.InitialDp(100, Event.COLLECTED_INFO, ALICE, BOB, IMSI)
    messages = [
        Message(Kind.BEGIN, otid=b"\0\0\0\1", dialogue=Request(v3),
                components=(Invoke(1, Op.INITIAL_DP, cap.encode_initial_dp(idp)),)),
        Message(Kind.CONTINUE, otid=b"\0\0\0\2", dtid=b"\0\0\0\1", dialogue=Response(v3),
                components=(Invoke(1, Op.APPLY_CHARGING, cap.apply_charging(3000, True, 3)),)),
        Message(Kind.CONTINUE, otid=b"\0\0\0\1", dtid=b"\0\0\0\2", components=(
            Invoke(2, Op.APPLY_CHARGING_REPORT,
                   cap.encode_apply_charging_report(cap.ChargingReport(3000))),)),
        Message(Kind.END, dtid=b"\0\0\0\1",
                components=(Invoke(4, Op.RELEASE_CALL, cap.release_call(31)),)),
    ]  # fmt: skip
    wires = [
        m3ua(message(DATA, (Tag.PROTOCOL_DATA, ProtocolData(
            100, 200, 3, 2, 0, 1, sccp(Unitdata(scf, msc, encode(m)))).encode())))
        for m in messages
    ]  # fmt: skip
    rows = tshark.upper_pdu_fields(wires, "sctp.ppi", PPID, [
        "camel.serviceKey", "camel.maxCallPeriodDuration", "camel.releaseIfdurationExceeded",
        "camel.timeIfNoTariffSwitch", "camel.cause_indicator", "camel.local",
        "tcap.application_context_name"])  # fmt: skip
    assert all(not r["_ws.malformed"] and not r["_ws.expert.message"] for r in rows), rows
    assert rows[0]["camel.serviceKey"] == ["100"]
    assert rows[0]["tcap.application_context_name"] == ["0.4.0.0.1.21.3.4"]
    assert rows[1]["camel.maxCallPeriodDuration"] == ["3000"]
    assert rows[1]["camel.releaseIfdurationExceeded"] == ["1"]
    assert rows[2]["camel.timeIfNoTariffSwitch"] == ["3000"]
    assert rows[3]["camel.cause_indicator"] == ["31"]
