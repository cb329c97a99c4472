"""Tokens verify only with the right key, kind and time."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnigw.identity.tokens import InvalidToken, TokenIssuer, load_or_create_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_expiry_follows_the_injected_clock() -> None:
    clock = Clock()
    issuer = TokenIssuer(b"k" * 32, access_ttl=60, refresh_ttl=600, clock=clock)
    token = issuer.issue(7, 3, "access")
    claims = issuer.verify(token, "access")
    assert (claims.user_id, claims.version, claims.kind) == (7, 3, "access")
    clock.now += 59
    issuer.verify(token, "access")
    clock.now += 1
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token, "access")


def test_wrong_key_and_wrong_kind_are_refused() -> None:
    issuer = TokenIssuer(b"k" * 32, 60, 600)
    other = TokenIssuer(b"x" * 32, 60, 600)
    with pytest.raises(InvalidToken):
        other.verify(issuer.issue(1, 0, "access"), "access")
    with pytest.raises(InvalidToken, match="access"):
        issuer.verify(issuer.issue(1, 0, "refresh"), "access")
    with pytest.raises(InvalidToken):
        issuer.verify("not.a.jwt", "access")


def test_signing_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jwt.key"
    key = load_or_create_key(path)
    assert len(key) >= 48
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key
