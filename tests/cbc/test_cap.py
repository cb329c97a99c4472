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


# --- real-world shapes (written after public feeds' documents, not copied) ----------------

CAP11_QUAKE = b"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1">
  <identifier>us2026abcd</identifier><sender>quake-feed@example.gov</sender>
  <sent>2026-11-30T08:15:02-00:00</sent><status>Actual</status><msgType>Alert</msgType>
  <scope>Public</scope>
  <info><category>Geo</category><event>Earthquake</event><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Very Likely</certainty>
    <headline>M6.9 earthquake</headline><description>Strong shaking near the coast.</description>
    <area><areaDesc>12 km W of the coast</areaDesc><circle>41.39,2.17 50</circle></area>
  </info>
</alert>"""

LATIN1_FIRE = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>RFS-77</identifier>'
    "<sender>rfs@example.gov</sender><sent>2026-12-01T14:00:00+11:00</sent>"
    "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
    "<info><language>fr-FR</language><category>Fire</category><event>Feu de forêt</event>"
    "<urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty>"
    "<headline>Feu de forêt: évacuez</headline>"
    "<area><areaDesc>Vallée</areaDesc><polygon>41,2 42,2 42,3 41,3 41,2</polygon></area>"
    "</info></alert>"
).encode("latin-1")

BILINGUAL = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>weather@example.gc</sender>
  <sent>2026-12-02T09:0{minute}:00-05:00</sent><status>Actual</status>
  <msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  {infos}
</alert>"""

INFO = """<info><language>{language}</language><category>Met</category><event>storm</event>
  <urgency>Immediate</urgency><severity>{severity}</severity><certainty>Observed</certainty>
  <expires>2030-01-0{day}T00:00:00-05:00</expires><headline>{text}</headline>
  <area><areaDesc>coast</areaDesc>{area}</area></info>"""

BOTH = "<polygon>41,2 42,2 42,3 41,3 41,2</polygon><polygon>44,6 46,6 46,8 44,8 44,6</polygon>"
ONE = "<polygon>41,2 42,2 42,3 41,3 41,2</polygon>"


def _bilingual(identifier: str, msg_type: str, minute: int, refs: str, *infos: str) -> str:
    ref = f"<references>{refs}</references>" if refs else ""
    return BILINGUAL.format(identifier=identifier, msg_type=msg_type, minute=minute, refs=ref,
                            infos="".join(infos))  # fmt: skip


def _info(language: str, text: str, severity: str = "Extreme", day: int = 1,
          area: str = BOTH) -> str:  # fmt: skip
    return INFO.format(language=language, text=text, severity=severity, day=day, area=area)


def test_cap_1_1_is_read_and_its_very_likely_means_likely() -> None:
    alert = parse(CAP11_QUAKE)
    assert alert.alert_class is AlertClass.EXTREME
    assert alert.areas[0].circles == ((41.39, 2.17, 50.0),)


def test_cap_1_0_is_refused_with_the_reason() -> None:
    old = b'<alert xmlns="http://www.incident.com/cap/1.0"><identifier>x</identifier></alert>'
    with pytest.raises(CapError, match=r"CAP 1\.0 is not accepted"):
        parse(old)


def test_a_declared_iso_8859_1_encoding_is_honoured() -> None:
    alert = parse(LATIN1_FIRE)
    assert alert.infos[0].text == "Feu de forêt: évacuez"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("<circle>41,2 5</circle>", "<circle>48.15,11.6 inf</circle>"), "radius"),
        (("<circle>41,2 5</circle>", "<circle>48.15,11.6 nan</circle>"), "radius"),
        (("<circle>41,2 5</circle>", "<circle>95,11.6 5</circle>"), "outside"),
        (("2026-11-23T10:00:00+01:00", "9999-99-99"), "sent: '9999-99-99' is not"),
        (("2026-11-23T10:00:00+01:00", "2026-11-23T10:00:00"), "no time zone"),
        (("2030-01-01T00:00:00+00:00", "soon"), "expires"),
    ],
)
def test_the_cap_door_is_as_strict_as_the_json_door(change: tuple[str, str], reason: str) -> None:
    xml = cap(area="<circle>41,2 5</circle>").replace(*change)
    with pytest.raises(CapError, match=reason):
        parse(xml)


def test_a_polygon_past_the_point_limit_is_refused_before_any_geometry() -> None:
    ring = " ".join(f"{41 + i / 10**5},{2 + (i % 2) / 10}" for i in range(6000))
    with pytest.raises(CapError, match="at most 5000"):
        parse(cap(area=f"<polygon>{ring} 41,2</polygon>"))


async def test_an_update_chain_from_a_bilingual_feed_then_a_cancel_of_the_update(
    client: TestClient,  # type: ignore[type-arg]  # noqa: F811
) -> None:
    auth = {**_auth(client, "alerting"), "Content-Type": "application/cap+xml"}
    first = _bilingual("EC-1", "Alert", 1, "", _info("en-CA", "Storm"), _info("fr-CA", "Tempête"))
    resp = await client.post("/api/v1/cap", data=first, headers=auth)
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert [m["language"] for m in alert["messages"]] == ["en", "fr"]
    # The update lists French first, drops nothing, narrows the area and moves the expiry.
    ref1 = "weather@example.gc,EC-1,2026-12-02T09:01:00-05:00"
    french = _info("fr-CA", "Tempête: abritez-vous", day=2, area=ONE)
    update = _bilingual("EC-2", "Update", 2, ref1, french,
                        _info("en-CA", "Storm: take shelter", day=2, area=ONE))  # fmt: skip
    resp = await client.post("/api/v1/cap", data=update, headers=auth)
    assert resp.status == 200, await resp.text()
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth)).json()
    live = [m for m in got["messages"] if m["stopped_at"] is None]
    assert [(m["language"], m["text"], m["update_number"]) for m in live] == [
        ("en", "Storm: take shelter", 1), ("fr", "Tempête: abritez-vous", 1)
    ]  # fmt: skip
    assert got["expires_at"].startswith("2030-01-02")
    # An English-only update of the update: French is stopped, not refused.
    ref2 = "weather@example.gc,EC-2,2026-12-02T09:02:00-05:00"
    english = _bilingual("EC-3", "Update", 3, ref2, _info("en-CA", "Storm easing", day=2))
    assert (await client.post("/api/v1/cap", data=english, headers=auth)).status == 200
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth)).json()
    assert [m["language"] for m in got["messages"] if m["stopped_at"] is None] == ["en"]
    # A severity change makes the English message a new one (new identifier).
    ref3 = "weather@example.gc,EC-3,2026-12-02T09:03:00-05:00"
    severe = _bilingual("EC-4", "Update", 4, ref3, _info("en-CA", "Storm", severity="Severe"))
    assert (await client.post("/api/v1/cap", data=severe, headers=auth)).status == 200
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth)).json()
    assert got["class"] == "severe"
    # The feed cancels by naming its latest message only.
    ref4 = "weather@example.gc,EC-4,2026-12-02T09:04:00-05:00"
    cancel = _bilingual("EC-5", "Cancel", 5, ref4)
    resp = await client.post("/api/v1/cap", data=cancel, headers=auth)
    assert resp.status == 200, await resp.text()
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth)).json()
    assert got["state"] == "cancelled"


async def test_cap_1_1_and_latin_1_documents_are_accepted_over_http(
    client: TestClient,  # type: ignore[type-arg]  # noqa: F811
) -> None:
    auth = {**_auth(client, "alerting"), "Content-Type": "application/cap+xml"}
    for document in (CAP11_QUAKE, LATIN1_FIRE):
        resp = await client.post("/api/v1/cap", data=document, headers=auth)
        assert resp.status == 201, await resp.text()
