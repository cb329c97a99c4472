"""Malformed request bodies get a 400 naming the problem, never a 500."""

from __future__ import annotations

import re

import pytest

from tests.support.api import Api

ALERT = '{"class": "extreme", "texts": [{"language": "en", "text": %s}], "target": {"plmn": true}}'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
        ('{"class": "extreme", "texts": []}'.encode("utf-16"), "not UTF-8"),
        (b'{"class": "extr\xe9me"}', "not UTF-8"),
        (
            b'{"message_id": 9223372036854775808}',
            r"message_id: 9223372036854775808 is out of range",
        ),
        (b'{"message_id": ' + b"9" * 4000 + b"}", "out of range"),
        (b'{"message_id": NaN}', "not a JSON number"),
        (b'{"message_id": Infinity}', "not a JSON number"),
        ((ALERT % '"Flood\\u0000 warning"').encode(), r"texts\.0\.text: character U\+0000"),
        ((ALERT % '"Flood \\u001b[2J"').encode(), r"U\+001B"),
        ((ALERT % '"Flood \\u202eecnuoS"').encode(), r"U\+202E"),
        ((ALERT % '"Flood \\u007f"').encode(), r"U\+007F"),
    ],
)
async def test_a_malformed_body_is_400_with_the_reason(api: Api, body: bytes, reason: str) -> None:
    resp = await api.client.post(
        "/crm/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400, await resp.text()
    assert re.search(reason, (await resp.json())["reason"])


async def test_line_breaks_and_accents_are_fine(api: Api) -> None:
    body = '{"email": "ana@x.org", "password": "Línea\\nuno\\tdos"}'.encode()
    resp = await api.client.post(
        "/crm/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 401  # read and checked: just not a user
