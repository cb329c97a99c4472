"""Gy with `account_from: crm`: the MSISDN or IMSI of a provisioned SIM finds its account."""

from __future__ import annotations

from diameter.message import Message as PdMessage
from diameter.message.commands.credit_control import CreditControlAnswer

from omnigw.config import GyConfig
from omnigw.diameter.codec import Avp, decode, encode
from omnigw.diameter.gy import GyApplication
from tests.crm_bridge.conftest import GB, Bridge
from tests.support.gy import ccr, mscc

INITIAL, TERMINATION = 1, 3
MB = 1024 * 1024
ORIGIN = [Avp.of_text(264, "omnigw.test"), Avp.of_text(296, "test")]


async def _ask(app: GyApplication, wire: bytes) -> CreditControlAnswer:
    parsed = PdMessage.from_bytes(encode(await app(decode(wire))))
    assert isinstance(parsed, CreditControlAnswer)
    return parsed


async def test_provisioned_subscriber_is_charged_and_a_suspended_one_refused(
    bridge: Bridge,
) -> None:
    c = await bridge.catalogue()
    job = await bridge.provision(c["plan"], c["customer"])
    sid = job["service_id"]
    app = GyApplication(GyConfig(account_from="crm"), bridge.ocs, ORIGIN, bridge.index.resolve)

    cca = await _ask(app, ccr("s1", INITIAL, 0, mscc(10, rsu=MB), msisdn="61400000000"))
    assert cca.result_code == 2001
    cca = await _ask(app, ccr("s1", TERMINATION, 1, mscc(10, used=MB), msisdn="61400000000"))
    assert cca.result_code == 2001
    balance = await bridge.call("GET", f"/crm/service/{sid}/balance")
    assert balance["balances"]["octets"] == 5 * GB - MB
    await _ask(app, ccr("s4", INITIAL, 0, mscc(10, rsu=MB), msisdn="61400000000"))
    await _ask(app, ccr("s4", TERMINATION, 1, mscc(10, used=3 * MB), msisdn="61400000000"))
    # Usage: the embedded history, or the CDRs CGRateS made of the sessions that ended.
    usage = await bridge.call("GET", f"/crm/service/{sid}/usage", headers=bridge.noc)
    assert usage["totals"] == {"octets": 4 * MB}
    assert [(r["charge"], r["amount"]) for r in usage["records"]] == [
        ("s4_rg10", 3 * MB), ("s1_rg10", MB)
    ]  # fmt: skip
    page2 = await bridge.call("GET", f"/crm/service/{sid}/usage?per_page=1&page=2")
    assert [r["charge"] for r in page2["records"]] == ["s1_rg10"]
    await bridge.call("GET", f"/crm/service/{sid}/usage?per_page=0", status=400)

    unknown = await _ask(app, ccr("s2", INITIAL, 0, mscc(10, rsu=MB), msisdn="61499999999"))
    assert unknown.result_code == 5030  # DIAMETER_USER_UNKNOWN

    await bridge.call("PATCH", f"/crm/service/{sid}", {"service_status": "suspended"})
    barred = await _ask(app, ccr("s3", INITIAL, 0, mscc(10, rsu=MB), msisdn="61400000000"))
    assert barred.result_code == 4010  # DIAMETER_END_USER_SERVICE_DENIED
