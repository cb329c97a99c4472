"""The Gy application: CCRs composed by python-diameter, our CCAs read back by it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from diameter.message import Message as PdMessage
from diameter.message.commands.credit_control import CreditControlAnswer
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.config import GyConfig, Quota
from omnigw.diameter.codec import FLAG_ERROR, FLAG_REQUEST, Avp, Message, decode, encode
from omnigw.diameter.gy import GyApplication
from omnigw.diameter.metrics import DUPLICATES, ORPHANED
from omnigw.ocs.charge import Charge, Grant, Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.store.engine import session_factory
from tests.support.gy import ccr, mscc

INITIAL, U, T, E = 1, 2, 3, 4
MB = 1024 * 1024
ORIGIN = [Avp.of_text(264, "omnigw.test"), Avp.of_text(296, "test")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def ocs(sqlite_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[EmbeddedOcs]:
    quota = Quota(seconds=300, octets=4 * MB)
    backend = EmbeddedOcs(session_factory(sqlite_engine), quota, tmp_path)
    await backend.start()
    await backend.set_balance("4911", Unit.OCTETS, 100 * MB)
    yield backend
    await backend.close()


def _app(ocs: Any, clock: Clock | None = None, **cfg: Any) -> GyApplication:
    return GyApplication(GyConfig(**cfg), ocs, ORIGIN, clock=clock or Clock())


async def _ask(app: GyApplication, wire: bytes) -> tuple[CreditControlAnswer, int]:
    answer = await app(decode(wire))
    parsed = PdMessage.from_bytes(encode(answer))
    assert isinstance(parsed, CreditControlAnswer)
    return parsed, answer.flags


async def test_session_initial_update_termination_charges_what_was_used(ocs: EmbeddedOcs) -> None:
    app = _app(ocs, validity_seconds=600, threshold_percent=20)
    cca, _ = await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=5 * MB)))
    assert cca.result_code == 2001
    assert (cca.cc_request_type, cca.cc_request_number) == (INITIAL, 0)
    [m] = cca.multiple_services_credit_control
    assert (m.rating_group, m.result_code) == (10, 2001)
    assert m.granted_service_unit.cc_total_octets == 5 * MB
    assert m.validity_time == 600
    assert m.volume_quota_threshold == MB
    assert m.final_unit_indication is None

    cca, _ = await _ask(app, ccr("s1", U, 1, mscc(10, rsu=5 * MB, used=3 * MB)))
    assert cca.multiple_services_credit_control[0].granted_service_unit.cc_total_octets == 5 * MB
    cca, _ = await _ask(app, ccr("s1", T, 2, mscc(10, used=2 * MB)))
    assert cca.result_code == 2001
    assert ocs.balance_of("4911") == {"octets": 95 * MB}
    assert "s1" not in app.sessions


async def test_empty_rsu_gets_the_configured_default(ocs: EmbeddedOcs) -> None:
    cca, _ = await _ask(_app(ocs), ccr("s1", INITIAL, 0, mscc(10, rsu_empty=True)))
    assert cca.multiple_services_credit_control[0].granted_service_unit.cc_total_octets == 4 * MB


async def test_one_rating_group_out_of_credit_while_another_keeps_quota(
    ocs: EmbeddedOcs,
) -> None:
    # The account has octets but no seconds: the voice rating group is refused alone.
    cca, _ = await _ask(
        _app(ocs), ccr("s1", INITIAL, 0, mscc(10, rsu=MB), mscc(20, rsu=60, seconds=True))
    )
    assert cca.result_code == 2001
    by_group = {m.rating_group: m for m in cca.multiple_services_credit_control}
    assert by_group[10].result_code == 2001
    assert by_group[20].result_code == 4012 and by_group[20].granted_service_unit is None


async def test_last_quota_carries_final_unit_indication_then_4012(ocs: EmbeddedOcs) -> None:
    await ocs.set_balance("4911", Unit.OCTETS, 3 * MB)
    app = _app(ocs)
    cca, _ = await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=5 * MB)))
    [m] = cca.multiple_services_credit_control
    assert m.granted_service_unit.cc_total_octets == 3 * MB
    assert m.final_unit_indication.final_unit_action == 0  # TERMINATE
    cca, _ = await _ask(app, ccr("s1", U, 1, mscc(10, rsu=5 * MB, used=3 * MB)))
    assert cca.result_code == 4012
    assert cca.multiple_services_credit_control[0].result_code == 4012


@pytest.mark.parametrize("msisdn", ["4999", None])
async def test_unknown_subscriber_is_5030(ocs: EmbeddedOcs, msisdn: str | None) -> None:
    app = _app(ocs)
    cca, _ = await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=MB), msisdn=msisdn))
    assert cca.result_code == 5030
    assert not app.sessions


async def test_service_context_and_missing_avps_are_protocol_answers(ocs: EmbeddedOcs) -> None:
    app = _app(ocs)
    cca, _ = await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=MB), context="32260@3gpp.org"))
    assert cca.result_code == 5004
    assert cca.failed_avp[0].additional_avps[0].code == 461
    # Without CC-Request-Number: 5005 naming it in Failed-AVP.
    message = decode(ccr("s2", INITIAL, 0, mscc(10, rsu=MB)))
    message.avps = [a for a in message.avps if a.code != 415]
    answer = await app(message)
    parsed = PdMessage.from_bytes(encode(answer))
    assert parsed.result_code == 5005
    assert parsed.failed_avp[0].additional_avps[0].code == 415


async def test_update_of_unknown_session_is_5002(ocs: EmbeddedOcs) -> None:
    cca, _ = await _ask(_app(ocs), ccr("nope", U, 1, mscc(10, rsu=MB, used=10)))
    assert cca.result_code == 5002


async def test_retransmission_replays_the_answer_and_charges_once(ocs: EmbeddedOcs) -> None:
    app = _app(ocs)
    await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=5 * MB)))
    first, _ = await _ask(app, ccr("s1", U, 1, mscc(10, rsu=5 * MB, used=3 * MB), hop=7, e2e=9))
    before = DUPLICATES.labels("replayed")._value.get()
    again = await app(decode(ccr("s1", U, 1, mscc(10, rsu=5 * MB, used=3 * MB), hop=8, e2e=9,
                                 retransmit=True)))  # fmt: skip
    assert again.hop_by_hop == 8 and again.end_to_end == 9  # the repeat's own hop-by-hop
    assert PdMessage.from_bytes(encode(again)).as_bytes()[20:] == first.as_bytes()[20:]
    assert DUPLICATES.labels("replayed")._value.get() == before + 1
    await _ask(app, ccr("s1", T, 2, mscc(10, used=0)))
    # A repeated termination is answered again, and charges nothing more.
    cca, _ = await _ask(app, ccr("s1", T, 2, mscc(10, used=0)))
    assert cca.result_code == 2001
    assert ocs.balance_of("4911") == {"octets": 97 * MB}


class GatedOcs:
    """An OCS that holds every update until released, and counts calls."""

    def __init__(self, inner: EmbeddedOcs) -> None:
        self.inner = inner
        self.updates = 0
        self.gate = asyncio.Event()

    async def initiate(self, charge: Charge) -> Grant:
        return await self.inner.initiate(charge)

    async def update(self, charge: Charge) -> Grant:
        self.updates += 1
        await self.gate.wait()
        return await self.inner.update(charge)

    async def terminate(self, charge: Charge) -> None:
        await self.inner.terminate(charge)

    async def debit(self, charge: Charge) -> Grant:
        return await self.inner.debit(charge)


async def test_repeat_while_the_original_is_charging_waits_for_it(ocs: EmbeddedOcs) -> None:
    gated = GatedOcs(ocs)
    app = GyApplication(GyConfig(), gated, ORIGIN)  # type: ignore[arg-type]
    await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=MB)))
    wire = ccr("s1", U, 1, mscc(10, rsu=MB, used=MB))
    original = asyncio.ensure_future(app(decode(wire)))
    await asyncio.sleep(0)
    repeat = asyncio.ensure_future(app(decode(wire[:4] + bytes([wire[4] | 0x10]) + wire[5:])))
    await asyncio.sleep(0.01)
    assert not repeat.done()
    gated.gate.set()
    first, second = await asyncio.gather(original, repeat)
    assert second.avps == first.avps
    assert gated.updates == 1
    assert ocs.balance_of("4911") == {"octets": 99 * MB}


async def test_idle_sessions_are_terminated_and_reported(ocs: EmbeddedOcs) -> None:
    clock = Clock()
    app = _app(ocs, clock, idle_seconds=60)
    await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=90 * MB)))
    await _ask(app, ccr("s2", INITIAL, 0, mscc(10, rsu=MB)))
    clock.now += 30
    await _ask(app, ccr("s2", U, 1, mscc(10, rsu=MB, used=MB)))
    clock.now += 31
    before = ORPHANED._value.get()
    assert await app.sweep() == 1
    assert set(app.sessions) == {"s2"}
    assert ORPHANED._value.get() == before + 1
    # s1's 90 MB reservation is released: s3 can have it.
    cca, _ = await _ask(app, ccr("s3", INITIAL, 0, mscc(10, rsu=90 * MB)))
    assert cca.multiple_services_credit_control[0].granted_service_unit.cc_total_octets == 90 * MB


async def test_draining_sends_new_sessions_elsewhere_and_serves_the_rest(ocs: EmbeddedOcs) -> None:
    app = _app(ocs)
    await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=MB)))
    app.drain()
    cca, flags = await _ask(app, ccr("s2", INITIAL, 0, mscc(10, rsu=MB)))
    assert cca.result_code == 3004 and flags & FLAG_ERROR
    cca, _ = await _ask(app, ccr("s1", U, 1, mscc(10, rsu=MB, used=MB)))
    assert cca.result_code == 2001


async def test_event_direct_debiting(ocs: EmbeddedOcs) -> None:
    app = _app(ocs)
    cca, _ = await _ask(app, ccr("e1", E, 0, mscc(30, rsu=MB), requested_action=0))
    assert cca.result_code == 2001
    assert cca.multiple_services_credit_control[0].granted_service_unit.cc_total_octets == MB
    again, _ = await _ask(app, ccr("e1", E, 0, mscc(30, rsu=MB), requested_action=0))
    assert again.result_code == 2001
    assert ocs.balance_of("4911") == {"octets": 99 * MB}  # the repeat was not debited
    refused, _ = await _ask(app, ccr("e2", E, 0, mscc(30, rsu=MB), requested_action=3))
    assert refused.result_code == 5004


async def test_reported_usage_past_what_any_balance_holds_is_5004_naming_the_avp(
    ocs: EmbeddedOcs,
) -> None:
    """Defect: a USU of 2^64-1 was debited in full and broke balance persistence."""
    app = _app(ocs)
    await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=MB)))
    cca, _ = await _ask(app, ccr("s1", U, 1, mscc(10, rsu=MB, used=2**64 - 1)))
    assert cca.result_code == 5004  # a permanent failure, not a protocol error: no E bit
    failed = cca.failed_avp[0].additional_avps[0]
    assert (failed.code, failed.value) == (421, 2**64 - 1)  # CC-Total-Octets, as received
    assert ocs.balance_of("4911") == {"octets": 100 * MB}


async def test_an_unknown_mandatory_avp_is_5001_naming_it(ocs: EmbeddedOcs) -> None:
    """RFC 6733 7.1.5; an unknown AVP without the M bit, or a 3GPP one, is ignored."""
    app = _app(ocs)
    base = decode(ccr("s1", INITIAL, 0, mscc(10, rsu=MB)))
    unknown = Message(base.command, base.app_id, 1, 1, base.flags,
                      [*base.avps, Avp(9999, b"\0\0\0\1", 0, True)])  # fmt: skip
    answer = await app(unknown)
    assert _result(answer) == 5001
    [failed] = answer.find(279).group()  # type: ignore[union-attr]
    assert failed.code == 9999
    other_vendor = Message(base.command, base.app_id, 1, 1, base.flags,
                           [*base.avps, Avp(1, b"x", 5535, True)])  # fmt: skip
    assert _result(await app(other_vendor)) == 5001
    extra = [Avp(9999, b"x", 0, False), Avp(873, b"", 10415, True)]  # Service-Information
    tolerated = Message(base.command, base.app_id, 1, 1, base.flags, [*base.avps, *extra])
    assert _result(await app(tolerated)) == 2001


async def test_a_command_gy_does_not_serve_is_3001_with_the_e_bit(ocs: EmbeddedOcs) -> None:
    answer = await _app(ocs)(Message(271, 4, 1, 1, FLAG_REQUEST, [Avp.of_text(263, "s;1")]))
    assert _result(answer) == 3001 and answer.flags & FLAG_ERROR


async def test_an_error_answer_echoes_the_request_type_and_number(ocs: EmbeddedOcs) -> None:
    """RFC 4006 8.3: even a CCR we cannot parse gets its own type and number back."""
    message = decode(ccr("s1", U, 7, mscc(10, rsu=MB)))
    message = Message(
        message.command,
        message.app_id,
        1,
        1,
        message.flags,
        [a for a in message.avps if a.code != 461],
    )  # no Service-Context-Id
    cca, _ = await _ask_message(_app(ocs), message)
    assert cca.result_code == 5005
    assert (cca.cc_request_type, cca.cc_request_number) == (U, 7)


def _result(answer: Message) -> int:
    avp = answer.find(268)
    assert avp is not None
    return avp.u32()


async def _ask_message(app: GyApplication, message: Message) -> tuple[CreditControlAnswer, int]:
    answer = await app(message)
    parsed = PdMessage.from_bytes(encode(answer))
    assert isinstance(parsed, CreditControlAnswer)
    return parsed, answer.flags


@pytest.mark.parametrize(("msisdn", "code"), [("4911", 2001), ("nobody", 5030), ("barred", 4010)])
async def test_a_session_asking_for_nothing_yet_still_needs_a_usable_account(
    ocs: EmbeddedOcs, msisdn: str, code: int
) -> None:
    """A CCR-I without MSCC is answered as its first charge would be (issue 13, defect 8)."""
    await ocs.set_balance("barred", Unit.OCTETS, MB)
    await ocs.set_disabled("barred", True)
    cca, _ = await _ask(_app(ocs), ccr("s9", INITIAL, 0, msisdn=msisdn))
    assert cca.result_code == code


def test_every_ocs_outcome_has_its_gy_result_code() -> None:
    from omnigw.diameter.gy import RESULT_CODES
    from omnigw.ocs.charge import Outcome

    assert set(RESULT_CODES) == set(Outcome)
    assert RESULT_CODES[Outcome.NO_CREDIT] == 4012 and RESULT_CODES[Outcome.BUSY] == 3004
