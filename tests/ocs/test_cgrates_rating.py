"""What CGRateS rates a Gy charge by (issue 13, defect 7): Category and Destination per
service, the called party where the CCR names one, against a tariff plan with prefixes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from diameter.message.commands.credit_control import CreditControlAnswer

from omnigw.config import RatingRule
from omnigw.diameter.ccr import parse_ccr
from omnigw.diameter.codec import DecodeError, decode
from tests.ocs.conftest import GyPath
from tests.support.cgrates import NANOS, Cgrates, Tariff
from tests.support.gy import called, ccr, mscc, sms_to

INITIAL, T = 1, 3
VOICE = 3600 * NANOS


def test_the_called_party_is_read_from_service_information() -> None:
    def party(**kwargs: object) -> str | None:
        return parse_ccr(decode(ccr("s", INITIAL, 0, mscc(1), **kwargs))).called  # type: ignore[arg-type]

    assert party(service_information=called("tel:+15550100;npdi")) == "+15550100"
    assert party(service_information=called("sip:+4930123@ims.example;user=phone")) == "+4930123"
    assert party(service_information=sms_to("491701234567")) == "491701234567"
    assert party() is None
    with pytest.raises(DecodeError) as long:  # no party's number: refused, not truncated
        party(service_information=called("tel:+" + "1" * 200))
    assert long.value.result_code == 5004


@pytest.fixture
async def cgrates() -> AsyncIterator[Cgrates]:
    """A tariff plan as an operator loads one: calls priced per minute to the US only, data
    and SMS to anywhere, a premium service by its own destination."""
    server = Cgrates()
    server.state.tariffs = [
        Tariff("call", {"DST_US": 60 * NANOS}),
        Tariff("data", {"*any": 1}),
        Tariff("sms", {"*any": 1}),
        Tariff("premium", {"DST_PREMIUM": 1}),
    ]
    server.state.destinations = {"DST_US": ("+1",), "DST_PREMIUM": ("premium",)}
    server.add_account("4911", "*data", 10_000)
    server.add_account("4911", "*voice", VOICE)
    server.add_account("4911", "*sms", 10)
    await server.start()
    yield server
    await server.stop()


def _result(cca: CreditControlAnswer) -> int:
    return int(cca.multiple_services_credit_control[0].result_code)


async def test_a_rating_group_number_is_not_priced_as_a_phone_number(
    cgrates: Cgrates, gy_path: GyPath
) -> None:
    """Destination was the rating group's number and Category always "call": a data charge
    of rating group 10 was priced as a call to a destination starting with "1" (per minute,
    so 1000 octets cost more than the balance). Data is now Category "data" and Destination
    "data", which the plan's *any data rate prices by the octet."""
    cgrates.state.destinations = {"DST_US": ("1",)}  # a plan keyed without the "+"
    client, _ = await gy_path()
    cca = await client.ask(ccr("d1", INITIAL, 0, mscc(10, rsu=1000)))
    assert _result(cca) == 2001
    await client.ask(ccr("d1", T, 1, mscc(10, used=700)))
    assert cgrates.state.balance("4911", "*data") == 10_000 - 700
    [cdr] = cgrates.state.cdrs.values()
    assert (cdr["Category"], cdr["Destination"]) == ("data", "data")


async def test_a_call_is_priced_by_its_called_party(cgrates: Cgrates, gy_path: GyPath) -> None:
    client, _ = await gy_path()
    to_us = called("tel:+15550100")
    cca = await client.ask(ccr("v1", INITIAL, 0, mscc(1, rsu=30, seconds=True),
                              service_information=to_us))  # fmt: skip
    assert _result(cca) == 2001
    await client.ask(ccr("v1", T, 1, mscc(1, used=61, seconds=True)))
    assert cgrates.state.balance("4911", "*voice") == VOICE - 120 * NANOS  # whole minutes
    [cdr] = cgrates.state.cdrs.values()
    assert (cdr["Category"], cdr["Destination"]) == ("call", "+15550100")

    to_de = called("tel:+4930123456")  # the plan has no rate for it
    cca = await client.ask(ccr("v2", INITIAL, 0, mscc(1, rsu=30, seconds=True),
                              service_information=to_de))  # fmt: skip
    assert cca.result_code == 5031  # RALS_ERROR:UNAUTHORIZED_DESTINATION
    assert cgrates.state.sessions == {}  # and closed (defect 5)


async def test_rules_set_category_and_destination_per_service(
    cgrates: Cgrates, gy_path: GyPath
) -> None:
    client, _ = await gy_path(
        RatingRule(rating_group=50, category="premium", destination="premium"),
        RatingRule(service_context="32274@3gpp.org", category="sms"),
    )
    await client.ask(ccr("p1", INITIAL, 0, mscc(50, rsu=100)))
    await client.ask(ccr("p1", T, 1, mscc(50, used=100)))
    sms = ccr("m1", INITIAL, 0, mscc(7, rsu=100), context="32274@3gpp.org",
              service_information=sms_to("491701234567"))  # fmt: skip
    await client.ask(sms)
    await client.ask(ccr("m1", T, 1, mscc(7, used=1), context="32274@3gpp.org"))
    rated = sorted((c["OriginID"], c["Category"], c["Destination"])
                   for c in cgrates.state.cdrs.values())  # fmt: skip
    assert rated == [("m1_rg7", "sms", "491701234567"), ("p1_rg50", "premium", "premium")]
    assert cgrates.state.balance("4911", "*data") == 10_000 - 100 - 1
