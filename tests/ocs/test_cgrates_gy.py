"""Gy sessions and events through the daemon's own path to the CGRateS stand-in, over raw TCP
and over HTTP (issue 13, defects 1 and 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from omnigw.ocs.accounts import CgratesAccounts
from tests.ocs.conftest import GyPath
from tests.support.cgrates import Cgrates
from tests.support.gy import ccr, mscc

INITIAL, U, T, E = 1, 2, 3, 4


@pytest.fixture
async def cgrates() -> AsyncIterator[Cgrates]:
    server = Cgrates()
    server.add_account("4911", "*data", 10_000)
    server.add_account("barred", "*data", 10_000)
    server.state.disabled.add("barred")
    await server.start()
    yield server
    await server.stop()


async def test_a_session_is_charged_and_kept_as_one_cdr(cgrates: Cgrates, gy_path: GyPath) -> None:
    client, _ = await gy_path()
    cca = await client.ask(ccr("s1", INITIAL, 0, mscc(10, rsu=1000)))
    assert cca.result_code == 2001
    cca = await client.ask(ccr("s1", U, 1, mscc(10, rsu=1000, used=600)))
    assert cca.multiple_services_credit_control[0].granted_service_unit.cc_total_octets == 1000
    await client.ask(ccr("s1", T, 2, mscc(10, used=300)))
    assert cgrates.state.balance("4911", "*data") == 10_000 - 900
    [cdr] = cgrates.state.cdrs.values()
    assert cdr["Usage"] == "900"


async def test_an_event_charge_is_in_the_usage_history(cgrates: Cgrates, gy_path: GyPath) -> None:
    """Defect 8: ProcessMessage keeps no CDR, so CCR-E charges were missing from /usage."""
    client, ocs = await gy_path()
    cca = await client.ask(ccr("e1", E, 0, mscc(10, rsu=250), requested_action=0))
    assert cca.result_code == 2001
    assert cgrates.state.balance("4911", "*data") == 10_000 - 250  # once, not again by the CDR
    records = await CgratesAccounts(ocs._backend).usage("4911", limit=10, offset=0) or []
    assert [(r.charge, r.amount) for r in records] == [("e1_rg10", 250.0)]


@pytest.mark.parametrize(("msisdn", "code"), [("4911", 2001), ("nobody", 5030), ("barred", 4010)])
async def test_a_ccr_i_without_mscc_asks_cgrates_about_the_account(
    gy_path: GyPath, msisdn: str, code: int
) -> None:
    """Defect 8: a CCR-I asking for nothing was answered 2001 without asking CGRateS, even for
    an account that does not exist."""
    client, _ = await gy_path()
    cca = await client.ask(ccr("s2", INITIAL, 0, msisdn=msisdn))
    assert cca.result_code == code
