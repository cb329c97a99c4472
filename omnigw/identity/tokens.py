"""JWT access and refresh tokens (HS256) and the signing key's home on disk."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jwt

TokenKind = Literal["access", "refresh"]
ISSUER = "omnigw"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    version: int
    kind: TokenKind
    expires_at: int
    jti: str


class TokenIssuer:
    """Issues and verifies tokens; `clock` is injected so expiry is testable."""

    def __init__(
        self,
        key: bytes,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._ttl: dict[TokenKind, int] = {"access": access_ttl, "refresh": refresh_ttl}
        self._clock = clock

    def ttl(self, kind: TokenKind) -> int:
        return self._ttl[kind]

    def set_ttls(self, access_ttl: int, refresh_ttl: int) -> None:
        """Applied on reload; tokens already issued keep their expiry."""
        self._ttl = {"access": access_ttl, "refresh": refresh_ttl}

    def issue(self, user_id: int, version: int, kind: TokenKind, jti: str | None = None) -> str:
        now = int(self._clock())
        claims = {
            "iss": ISSUER,
            "sub": str(user_id),
            "ver": version,
            "typ": kind,
            "iat": now,
            "exp": now + self._ttl[kind],
            "jti": jti or secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str, kind: TokenKind) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "ver", "typ"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if claims["typ"] != kind:
            raise InvalidToken(f"expected a {kind} token")
        # Expiry checked against the injected clock, not the wall clock inside PyJWT.
        if int(claims["exp"]) <= int(self._clock()):
            raise InvalidToken("token expired")
        try:
            return TokenClaims(int(claims["sub"]), int(claims["ver"]), kind, int(claims["exp"]),
                               str(claims.get("jti", "")))  # fmt: skip
        except (TypeError, ValueError):
            raise InvalidToken("malformed claims") from None


def load_or_create_key(path: Path) -> bytes:
    """The signing key stored at `path`, created (mode 0600) on first use."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
