"""CAMEL calls and SMS charged in the strict CGRateS stand-in through the daemon's own OCS
path (the failure policy around the CGRateS backend): what CGRateS is asked (ToR,
Category, Destination, usage in nanoseconds), the CDRs it keeps, and an outage in the
middle of a call that loses no usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.camel.service import CamelService
from omnigw.config import CamelConfig, CgratesConfig, FailurePolicy, Quota, RatingRule
from omnigw.diameter.gy import account_resolver
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.guard import GuardedOcs
from omnigw.ocs.metrics import UNREPORTED
from omnigw.sim.ssf import CallScenario, SimSsf, SmsScenario, listen_sgp
from omnigw.store.engine import session_factory
from tests.support.cgrates import Cgrates
from tests.support.cgrates.state import NANOS, Tariff
from tests.support.ports import free_port
from tests.support.waiting import until

ALICE, BOB = "34600000001", "34600000002"
START = 3600 * NANOS
MINUTE = 60 * NANOS

Start = Callable[..., Awaitable[tuple[SimSsf, CamelService]]]


@pytest.fixture
async def cgrates() -> AsyncIterator[Cgrates]:
    server = Cgrates()
    for account in (ALICE, BOB):
        server.add_account(account, "*voice", START)
        server.add_account(account, "*sms", 10)
    # Calls to Spanish mobiles (+346...) are rated per minute; nothing else is rated.
    server.state.destinations = {"ES_MOBILE": ("346",)}
    server.state.tariffs = [
        Tariff("call", {"ES_MOBILE": MINUTE}), Tariff("call_mt", {"*any": NANOS}),
        Tariff("sms", {"*any": 1}),
    ]  # fmt: skip
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def start(cgrates: Cgrates, sqlite_engine: AsyncEngine) -> AsyncIterator[Start]:
    """start(failure action, rating rules) -> the simulator, with omnigw's gsmSCF behind it."""
    running: list[tuple[CamelService, GuardedOcs, Any]] = []

    async def go(
        action: str = "reject", rules: list[RatingRule] | None = None
    ) -> tuple[SimSsf, CamelService]:
        cfg = CgratesConfig(port=cgrates.port, timeout_seconds=0.5, rating=rules or [])
        policy = FailurePolicy(
            action=action, breaker_failures=2,  # type: ignore[arg-type]
            breaker_reset_seconds=0.1, fallback_quota=Quota(seconds=60),
        )  # fmt: skip
        ocs = GuardedOcs(CgratesOcs(cfg, Quota()), policy, session_factory(sqlite_engine))
        await ocs.start()
        ssf = SimSsf()
        port = free_port()
        listener = await listen_sgp(ssf, "tcp", "127.0.0.1", port)
        camel = CamelConfig.model_validate({
            "enabled": True, "period_seconds": 300,
            "links": [{"name": "stp", "transport": "tcp", "addresses": ["127.0.0.1"],
                       "port": port}],
        })  # fmt: skip
        scf = CamelService(camel, ocs, account_resolver("e164"))
        await scf.start()
        await asyncio.wait_for(ssf.ready.wait(), 10)
        running.append((scf, ocs, listener))
        return ssf, scf

    yield go
    for scf, ocs, listener in running:
        await scf.stop()
        listener.close()
        await ocs.close()


def voice_used(cgrates: Cgrates, account: str) -> int:
    return START - cgrates.state.balance(account, "*voice") - cgrates.state.lost.get(account, 0)


async def test_a_call_is_rated_by_its_destination_and_kept_as_one_cdr(
    cgrates: Cgrates, start: Start
) -> None:
    ssf, scf = await start()
    result = await ssf.call(CallScenario(talk_seconds=451.2, ring_seconds=0.3))
    await scf.settled()
    assert result.ended_by == "scf" and result.periods == [3000, 3000]
    assert voice_used(cgrates, ALICE) == 480 * NANOS  # 452 s in whole minutes
    [cdr] = cgrates.state.cdrs.values()
    assert (cdr["ToR"], cdr["Category"], cdr["Destination"]) == ("*voice", "call", BOB)
    assert cdr["Account"] == ALICE and cdr["Usage"] == "7m32s"
    # set up at InitialDP, answered when the switch said so (the ring is not talk)
    rang = datetime.fromisoformat(cdr["AnswerTime"]) - datetime.fromisoformat(cdr["SetupTime"])
    assert rang >= timedelta(seconds=0.3)


async def test_a_destination_no_tariff_prices_is_released_and_nothing_is_left_open(
    cgrates: Cgrates, start: Start
) -> None:
    ssf, scf = await start()
    result = await ssf.call(CallScenario(called="15551234567"))
    await scf.settled()
    assert (result.ended_by, result.cause) == ("released", 41)  # UNAUTHORIZED_DESTINATION
    assert voice_used(cgrates, ALICE) == 0 and not cgrates.state.sessions


async def test_an_mt_call_prices_the_caller_in_the_category_its_rule_names(
    cgrates: Cgrates, start: Start
) -> None:
    ssf, scf = await start(rules=[RatingRule(service_context="camel:101", category="call_mt")])
    result = await ssf.call(CallScenario(calling="4915112345678", called=BOB, mt=True,
                                         service_key=101, talk_seconds=42))  # fmt: skip
    await scf.settled()
    assert result.ended_by == "scf"
    assert voice_used(cgrates, BOB) == 42 * NANOS and voice_used(cgrates, ALICE) == 0
    [cdr] = cgrates.state.cdrs.values()
    assert (cdr["Category"], cdr["Destination"], cdr["Account"]) == (
        "call_mt",
        "4915112345678",
        BOB,
    )


async def test_an_unknown_account_is_released_with_cause_50(start: Start) -> None:
    ssf, _ = await start()
    result = await ssf.call(CallScenario(calling="34611111111"))
    assert (result.ended_by, result.cause) == ("released", 50)


async def test_an_sms_is_one_sms_unit_to_its_recipient(cgrates: Cgrates, start: Start) -> None:
    ssf, scf = await start()
    result = await ssf.sms(SmsScenario())
    await scf.settled()
    assert result.ended_by == "scf"
    assert cgrates.state.balance(ALICE, "*sms") == 9
    [cdr] = cgrates.state.cdrs.values()
    assert (cdr["ToR"], cdr["Category"], cdr["Destination"]) == ("*sms", "sms", BOB)


async def test_cgrates_going_away_mid_call_loses_no_second(cgrates: Cgrates, start: Start) -> None:
    """CGRateS dies after the call's first reservation, with its sessions; the failure policy
    grants 60 s at a time meanwhile, keeps every reported second, and replays them once
    CGRateS is back: the subscriber pays for exactly the 700 s talked."""
    mt_rule = RatingRule(service_context="camel:101", category="call_mt")
    ssf, scf = await start(action="grant", rules=[mt_rule])
    mid_call = asyncio.Event()
    call = asyncio.get_running_loop().create_task(ssf.call(CallScenario(
        calling="4915112345678", called=BOB, mt=True, service_key=101, talk_seconds=700,
        hold=mid_call)))  # fmt: skip
    await until(lambda: bool(cgrates.state.sessions))  # reserved, answered, not yet reported
    await cgrates.stop()
    mid_call.set()
    result = await call
    await scf.settled()
    assert result.ended_by == "scf" and result.periods == [3000] + [600] * 7
    assert UNREPORTED._value.get() > 0
    await cgrates.restart()
    await until(lambda: UNREPORTED._value.get() == 0)
    assert voice_used(cgrates, BOB) == 700 * NANOS


async def test_with_the_reject_policy_a_call_cgrates_cannot_price_is_released_with_41(
    cgrates: Cgrates, start: Start
) -> None:
    ssf, scf = await start(action="reject")
    await cgrates.stop()
    result = await ssf.call(CallScenario())
    assert (result.ended_by, result.cause) == ("released", 41)
    await scf.settled()
    await cgrates.restart()
    assert voice_used(cgrates, ALICE) == 0
