"""CAP 1.2 intake: classes from severity/urgency/certainty, languages, areas, update, cancel."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from omnigw.cbc.cap import CapError, parse
from omnigw.cbc.messages import AlertClass
from tests.cbc.test_api import _auth, client, store_url  # noqa: F401  (fixtures)


def cap(
    identifier: str = "AUTH-1",
    msg_type: str = "Alert",
    severity: str = "Extreme",
    urgency: str = "Immediate",
    certainty: str = "Observed",
    status: str = "Actual",
    references: str = "",
    area: str = "<polygon>41,2 42,2 42,3 41,3 41,2</polygon>",
    extra_info: str = "",
) -> str:
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>civil-protection@example.gov</sender>
  <sent>2026-11-23T10:00:00+01:00</sent><status>{status}</status><msgType>{msg_type}</msgType>
  <scope>Public</scope>{refs}
  <info>
    <language>en-GB</language><category>Met</category><event>Flood</event>
    <urgency>{urgency}</urgency><severity>{severity}</severity><certainty>{certainty}</certainty>
    <expires>2030-01-01T00:00:00+00:00</expires>
    <headline>Flash flood</headline><instruction>Move to higher ground now.</instruction>
    <area><areaDesc>Coast</areaDesc>{area}</area>
  </info>{extra_info}
</alert>"""


SPANISH = """<info><language>es-ES</language><category>Met</category><event>Inundación</event>
<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>
<headline>Inundación repentina</headline><area><areaDesc>Costa</areaDesc>
<geocode><valueName>AREA</valueName><value>coast</value></geocode></area></info>"""


@pytest.mark.parametrize(
    ("kw", "cls"),
    [
        ({}, AlertClass.EXTREME),
        ({"urgency": "Expected"}, AlertClass.SEVERE),
        ({"severity": "Severe", "certainty": "Likely"}, AlertClass.SEVERE),
        ({"severity": "Moderate"}, AlertClass.PUBLIC_SAFETY),
        ({"status": "Exercise"}, AlertClass.EXERCISE),
        ({"status": "Test"}, AlertClass.MONTHLY_TEST),
    ],
)
def test_classes(kw: dict[str, str], cls: AlertClass) -> None:
    assert parse(cap(**kw)).alert_class is cls


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("<alert", "well-formed"),
        (cap(status="Draft"), "not broadcast"),
        (cap(certainty="Possible"), "certainty Observed/Likely"),
        (cap(msg_type="Update"), "references: required"),
        (cap(area=""), "no polygon"),
        (cap(area="<polygon>1,1 2,2</polygon>"), r"4\+ points"),
    ],
)
def test_invalid_cap_names_the_element(xml: str, reason: str) -> None:
    with pytest.raises(CapError, match=reason):
        parse(xml)


async def test_alert_update_cancel_over_http(client: TestClient) -> None:  # type: ignore[type-arg]  # noqa: F811
    auth = {**_auth(client, "alerting"), "Content-Type": "application/cap+xml"}
    resp = await client.post("/api/v1/cap", data=cap(extra_info=SPANISH), headers=auth)
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert [(m["language"], m["message_id"]) for m in alert["messages"]] == [
        ("en", 4371),
        ("es", 4384),
    ]
    assert alert["expires_at"].startswith("2030-01-01")
    ref = "civil-protection@example.gov,AUTH-1,2026-11-23T10:00:00+01:00"
    update = cap("AUTH-2", "Update", references=ref, extra_info=SPANISH)
    resp = await client.post("/api/v1/cap", data=update, headers=auth)
    assert resp.status == 200, await resp.text()
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth)).json()
    assert [m["update_number"] for m in got["messages"]] == [1, 1]
    cancel = cap("AUTH-3", "Cancel", references=ref)
    assert (await client.post("/api/v1/cap", data=cancel, headers=auth)).status == 200
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth)).json()
    assert got["state"] == "cancelled"
    assert (await client.post("/api/v1/cap", data=cancel, headers=auth)).status == 404
    resp = await client.post("/api/v1/cap", data="<nope/>", headers=auth)
    assert resp.status == 400 and "CAP 1.2" in (await resp.json())["reason"]
