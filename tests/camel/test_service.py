"""The gsmSCF end to end: omnigw's ASP connects over M3UA/TCP to the gsmSSF simulator
(standing in for the STP), which plays calls and SMS; the embedded OCS charges them."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.camel.ber import only, tlv
from omnigw.camel.cap import codec as cap
from omnigw.camel.cap.codec import Event, Op
from omnigw.camel.sccp import codec as sccp
from omnigw.camel.sccp.codec import Address, ReturnCause, Unitdata
from omnigw.camel.service import CamelService
from omnigw.camel.tcap import codec as tcap
from omnigw.camel.tcap.codec import (
    AssociateResult,
    Diagnostic,
    Invoke,
    Kind,
    PAbort,
    Problem,
    Reject,
    Request,
    Response,
    UserAbort,
)
from omnigw.config import CamelConfig, Quota
from omnigw.diameter.gy import account_resolver
from omnigw.ocs.charge import Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.sim.ssf import CallScenario, SimSsf, SmsScenario, listen_sgp
from omnigw.store.engine import session_factory
from tests.support.ports import free_port
from tests.support.waiting import until

ALICE, BOB = "34600000001", "34600000002"


@dataclass
class Lab:
    ssf: SimSsf
    scf: CamelService
    ocs: EmbeddedOcs

    async def seconds(self, account: str) -> int:
        """The balance once every charge asked so far has been answered."""
        await self.scf.settled()
        return (self.ocs.balance_of(account) or {}).get("seconds", 0)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def start_lab(engine: AsyncEngine, tmp: Path, **camel: Any) -> AsyncIterator[Lab]:
    ocs = EmbeddedOcs(session_factory(engine), Quota(seconds=300), tmp)
    await ocs.start()
    for account in (ALICE, BOB):
        await ocs.set_balance(account, Unit.SECONDS, 3600)
        await ocs.set_balance(account, Unit.UNITS, 10)
    ssf = SimSsf()
    port = free_port()
    listener = await listen_sgp(ssf, "tcp", "127.0.0.1", port)
    cfg = CamelConfig.model_validate({
        "enabled": True, "country_code": "34", "period_seconds": 300,
        "links": [{"name": "stp", "transport": "tcp", "addresses": ["127.0.0.1"], "port": port,
                   "routing_context": 200}],
        **camel,
    })  # fmt: skip
    scf = CamelService(cfg, ocs, account_resolver("e164"))
    await scf.start()
    await asyncio.wait_for(ssf.ready.wait(), 10)
    yield Lab(ssf, scf, ocs)
    await scf.stop()
    listener.close()
    await ocs.close()


@pytest.fixture
async def lab(sqlite_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Lab]:
    async for lab in start_lab(sqlite_engine, tmp_path):
        yield lab


async def test_a_prepaid_call_is_charged_for_the_seconds_it_talked(lab: Lab) -> None:
    before = metric("omnigw_camel_dialogues_total", service="call", outcome="completed")
    result = await lab.ssf.call(CallScenario(talk_seconds=451.2))
    assert result.periods == [3000, 3000]  # ApplyCharging: 300 s each, in 100 ms units
    assert result.ended_by == "scf" and result.reported == 4512
    assert await lab.seconds(ALICE) == 3600 - 452
    assert metric("omnigw_camel_dialogues_total", service="call", outcome="completed") == before + 1
    assert metric("omnigw_camel_dialogues_active", service="call") == 0


async def test_the_last_of_the_credit_is_granted_final_and_the_switch_releases(lab: Lab) -> None:
    await lab.ocs.set_balance(ALICE, Unit.SECONDS, 400)
    result = await lab.ssf.call(CallScenario(talk_seconds=None))
    assert result.periods == [3000, 1000] and result.release_at_expiry
    assert result.reported == 4000 and await lab.seconds(ALICE) == 0


async def test_a_call_is_released_with_cause_31_when_the_credit_is_gone(lab: Lab) -> None:
    await lab.ocs.set_balance(ALICE, Unit.SECONDS, 300)
    before = metric("omnigw_camel_releases_total", service="call", cause="31")
    result = await lab.ssf.call(CallScenario(talk_seconds=None))
    assert (result.ended_by, result.cause) == ("released", 31)
    assert result.periods == [3000] and await lab.seconds(ALICE) == 0
    assert metric("omnigw_camel_releases_total", service="call", cause="31") == before + 1


async def test_an_unknown_subscriber_is_released_with_cause_50(lab: Lab) -> None:
    result = await lab.ssf.call(CallScenario(calling="34699999999"))
    assert (result.ended_by, result.cause) == ("released", 50)


@pytest.mark.parametrize("outcome", ["busy", "no_answer", "abandon", "route_failure"])
async def test_an_unanswered_call_costs_nothing(lab: Lab, outcome: str) -> None:
    result = await lab.ssf.call(CallScenario(outcome=outcome))
    assert result.ended_by == "scf" and result.periods == [3000]
    await lab.ocs.flush()
    assert await lab.seconds(ALICE) == 3600
    # the reservation went back: the whole balance can be granted again
    again = await lab.ssf.call(CallScenario(talk_seconds=10))
    assert again.periods == [3000] and await lab.seconds(ALICE) == 3590


async def test_a_mobile_terminated_call_charges_the_called_subscriber(lab: Lab) -> None:
    result = await lab.ssf.call(CallScenario(calling="912345678", called=BOB, mt=True,
                                             talk_seconds=30))  # fmt: skip
    assert result.ended_by == "scf"
    assert await lab.seconds(BOB) == 3600 - 30 and await lab.seconds(ALICE) == 3600


@pytest.mark.parametrize("version", [2, 3, 4])
async def test_each_cap_version_plays_a_whole_call(lab: Lab, version: int) -> None:
    result = await lab.ssf.call(CallScenario(version=version, talk_seconds=650))
    assert result.periods == [3000, 3000, 3000] and result.ended_by == "scf"
    first = result.received[0]
    assert isinstance(first.dialogue, Response)
    assert first.dialogue.result is AssociateResult.ACCEPTED
    assert await lab.seconds(ALICE) == 3600 - 650


async def test_an_sms_is_charged_one_unit_when_submitted_and_nothing_when_it_fails(
    lab: Lab,
) -> None:
    sent = await lab.ssf.sms(SmsScenario())
    assert sent.ended_by == "scf"
    ops = [c.opcode for c in sent.received[0].components if isinstance(c, Invoke)]
    assert ops == [Op.REQUEST_REPORT_SMS_EVENT, Op.CONTINUE_SMS]
    failed = await lab.ssf.sms(SmsScenario(submitted=False, version=4))
    assert failed.ended_by == "scf"
    await lab.scf.settled()
    assert (lab.ocs.balance_of(ALICE) or {})["units"] == 9


async def test_an_sms_without_credit_is_released(lab: Lab) -> None:
    await lab.ocs.set_balance(ALICE, Unit.UNITS, 0)
    result = await lab.ssf.sms(SmsScenario())
    assert (result.ended_by, result.cause) == ("released", 21)


async def test_calls_at_once_each_get_their_own_dialogue_and_charge(lab: Lab) -> None:
    await lab.ocs.set_balance(ALICE, Unit.SECONDS, 50 * 300)  # a first period for each
    results = await asyncio.gather(
        *(lab.ssf.call(CallScenario(talk_seconds=12)) for _ in range(50))
    )
    assert all(r.ended_by == "scf" and r.periods == [3000] for r in results)
    assert await lab.seconds(ALICE) == 50 * 300 - 50 * 12


async def test_the_first_period_is_credit_held_so_calls_at_once_cannot_overspend(lab: Lab) -> None:
    await lab.ocs.set_balance(ALICE, Unit.SECONDS, 700)
    results = await asyncio.gather(*(lab.ssf.call(CallScenario(talk_seconds=None))
                                     for _ in range(4)))  # fmt: skip
    firsts = sorted(r.periods[0] for r in results if r.periods)
    assert firsts == [1000, 3000, 3000]  # 300 + 300 + the 100 s left
    assert [r.cause for r in results if not r.periods] == [31]
    assert await lab.seconds(ALICE) == 0


# --- what cannot be served ---------------------------------------------------------------------


def begin(otid: bytes, context: tuple[int, ...], *components: tcap.Component) -> bytes:
    return tcap.encode(tcap.Message(Kind.BEGIN, otid=otid, dialogue=Request(context),
                                    components=components))  # fmt: skip


async def test_an_unsupported_application_context_is_refused_in_an_abort(lab: Lab) -> None:
    before = metric("omnigw_camel_errors_total", layer="tcap",
                    cause="application_context_not_supported")  # fmt: skip
    answer = await lab.ssf.raw(begin(b"\xaa\x00\x00\x01", (0, 4, 0, 0, 1, 0, 50, 0)))
    assert answer is not None and answer.kind is Kind.ABORT
    assert answer.dialogue == Response(
        (0, 4, 0, 0, 1, 0, 50, 0), AssociateResult.REJECT_PERMANENT,
        Diagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
    )  # fmt: skip
    assert metric("omnigw_camel_errors_total", layer="tcap",
                  cause="application_context_not_supported") == before + 1  # fmt: skip


async def test_a_continue_for_no_dialogue_gets_a_p_abort(lab: Lab) -> None:
    stray = tcap.Message(
        Kind.CONTINUE,
        otid=b"\xaa\x00\x00\x02",
        dtid=b"\x7f\x00\x00\x09",
        components=(Invoke(1, Op.EVENT_REPORT_BCSM, b"\x30\x03\x80\x01\x07"),),
    )
    answer = await lab.ssf.raw(tcap.encode(stray))
    assert answer is not None and answer.p_abort is PAbort.UNRECOGNIZED_TRANSACTION_ID


async def test_a_badly_formatted_transaction_portion_gets_a_p_abort(lab: Lab) -> None:
    broken = bytes.fromhex("62084804aa0000036c01")  # components cut short
    answer = await lab.ssf.raw(broken)
    assert answer is not None
    assert answer.p_abort is PAbort.BADLY_FORMATTED_TRANSACTION_PORTION


async def test_an_unknown_operation_is_rejected_and_the_call_goes_on(lab: Lab) -> None:
    context = (0, 4, 0, 0, 1, 21, 3, 4)
    before = metric("omnigw_camel_errors_total", layer="cap", cause="unrecognized_operation")
    answer = await lab.ssf.raw(begin(b"\xaa\x00\x00\x04", context, Invoke(5, 99, b"\x30\x00")))
    assert answer is not None and answer.kind is Kind.CONTINUE
    assert list(answer.components) == [Reject(5, Problem.UNRECOGNIZED_OPERATION)]
    assert metric("omnigw_camel_errors_total", layer="cap",
                  cause="unrecognized_operation") == before + 1  # fmt: skip
    result = await lab.ssf.call(CallScenario(talk_seconds=5))
    assert result.ended_by == "scf"


async def test_a_flood_of_begins_past_the_table_is_refused_for_resource_limitation(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    async for lab in start_lab(sqlite_engine, tmp_path, max_dialogues=5):
        context = (0, 4, 0, 0, 1, 21, 3, 4)
        # Begins that only open a dialogue (an unknown operation keeps it open)
        opening = Invoke(1, 99, b"\x30\x00")
        answers = [await lab.ssf.raw(begin(bytes([0xBB, 0, 0, i]), context, opening))
                   for i in range(8)]  # fmt: skip
        kinds = [a.kind if a is not None else None for a in answers]
        assert kinds == [Kind.CONTINUE] * 5 + [Kind.ABORT] * 3
        assert all(a is not None and a.p_abort is PAbort.RESOURCE_LIMITATION for a in answers[5:])
        assert len(lab.scf.dialogues) == 5


async def test_unitdata_for_another_subsystem_is_returned_when_the_sender_asks(lab: Lab) -> None:
    before = metric("omnigw_camel_errors_total", layer="sccp", cause="unequipped_user")
    hlr = Address(ssn=6, point_code=200)
    lab.ssf.send_sccp(
        sccp.encode(Unitdata(hlr, lab.ssf.address, b"\x62\x00", return_on_error=True))
    )
    lab.ssf.send_sccp(sccp.encode(Unitdata(hlr, lab.ssf.address, b"\x62\x00")))  # no return
    await until(lambda: len(lab.ssf.returned) == 1)
    [back] = lab.ssf.returned
    assert back.return_cause == ReturnCause.UNEQUIPPED_USER and back.data == b"\x62\x00"
    assert back.called == lab.ssf.address and back.calling == hlr
    await until(lambda: metric("omnigw_camel_errors_total", layer="sccp",
                               cause="unequipped_user") == before + 2)  # fmt: skip


async def test_unreadable_sccp_is_counted_and_the_link_serves_on(lab: Lab) -> None:
    before = metric("omnigw_camel_errors_total", layer="sccp", cause="malformed")
    lab.ssf.send_sccp(b"\x09\x00\x03\x07")  # a UDT cut short
    await until(lambda: metric("omnigw_camel_errors_total", layer="sccp",
                               cause="malformed") == before + 1)  # fmt: skip
    assert (await lab.ssf.call(CallScenario(talk_seconds=3))).ended_by == "scf"
    assert metric("omnigw_camel_asp_active", link="stp") == 1


async def test_a_dialogue_that_goes_silent_is_aborted_and_its_reservation_given_back(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    async for lab in start_lab(sqlite_engine, tmp_path, idle_seconds=1.0, period_seconds=None):
        before = metric("omnigw_camel_dialogues_total", service="call", outcome="timed_out")
        context = (0, 4, 0, 0, 1, 21, 3, 4)
        parties = cap.Number(ALICE, True), cap.Number(BOB, True)
        idp = cap.encode_initial_dp(cap.InitialDp(100, Event.COLLECTED_INFO, *parties))
        otid = b"\xcc\x00\x00\x01"
        answer = await lab.ssf.raw(begin(otid, context, Invoke(1, Op.INITIAL_DP, idp)))
        assert answer is not None and answer.kind is Kind.CONTINUE  # armed, then nothing more
        assert lab.ocs.balance_of(ALICE) is not None
        # the switch never reports: within idle_seconds (+ the 1 s sweep) it is aborted
        await until(functools.partial(bool, lab.ssf.unexpected), within=5)
        aborted = tcap.decode(lab.ssf.unexpected[0])
        assert aborted.kind is Kind.ABORT and aborted.dtid == otid
        assert isinstance(aborted.dialogue, UserAbort)
        assert metric("omnigw_camel_dialogues_total", service="call",
                      outcome="timed_out") == before + 1  # fmt: skip
        assert len(lab.scf.dialogues) == 0
        # the 300 s held for it went back: a new call gets a whole period again
        await lab.ocs.set_balance(ALICE, Unit.SECONDS, 300)
        assert (await lab.ssf.call(CallScenario(talk_seconds=5))).periods == [3000]


async def test_an_initial_dp_too_long_for_one_unitdata_comes_in_segments_and_is_served(
    lab: Lab,
) -> None:
    parties = cap.Number(ALICE, True), cap.Number(BOB, True)
    idp = cap.encode_initial_dp(cap.InitialDp(100, Event.COLLECTED_INFO, *parties))
    # the switch's extensions [15] make it 400 octets long; the gsmSCF reads past them
    long_idp = tlv(0x30, only(idp)[1] + tlv(0xAF, tlv(0x30, bytes(380))))
    wire = begin(b"\xdd\x00\x00\x01", (0, 4, 0, 0, 1, 21, 3, 4), Invoke(1, Op.INITIAL_DP, long_idp))
    assert len(wire) > 255
    answer = await lab.ssf.raw(wire, segmented=True)
    assert answer is not None and answer.kind is Kind.CONTINUE
    ops = [c.opcode for c in answer.components if isinstance(c, Invoke)]
    assert ops == [Op.REQUEST_REPORT_BCSM_EVENT, Op.APPLY_CHARGING, Op.CONTINUE]
