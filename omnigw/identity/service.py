"""Identity operations the API and the CLI share: login, tokens, users, roles, API keys, TOTP."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnigw.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthenticated
from omnigw.identity.models import ApiKey, BackupCode, RefreshToken, Role, User
from omnigw.identity.passwords import (
    check_strength,
    hash_secret,
    hash_secret_async,
    verify_secret_async,
)
from omnigw.identity.permissions import BUILTIN_ROLES, unknown
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import InvalidToken, TokenIssuer
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory

log = logging.getLogger("omnigw.identity")

API_KEY_PREFIX = "omgw"
BACKUP_CODE_COUNT = 10
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and what it may do."""

    user_id: int
    email: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    api_key_id: str | None = None

    def allows(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    refresh_token: str
    principal: Principal


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    name: str
    owner: str
    permissions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def masked(self) -> str:
        return f"{API_KEY_PREFIX}_{self.key_id}.********"


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    name: str
    roles: tuple[str, ...]
    totp_enabled: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


def _permissions_of(user: User) -> frozenset[str]:
    granted: set[str] = set()
    for role in user.roles:
        builtin = BUILTIN_ROLES.get(role.name)
        granted |= builtin[1] if role.builtin and builtin else set(role.permissions)
    return frozenset(granted)


def _principal(user: User, key: ApiKey | None = None) -> Principal:
    permissions = _permissions_of(user)
    if key is not None:
        # A key never grants more than its owner currently has.
        permissions = permissions & frozenset(key.permissions)
    return Principal(
        user_id=user.id,
        email=user.email,
        roles=tuple(sorted(r.name for r in user.roles)),
        permissions=permissions,
        api_key_id=key.key_id if key else None,
    )


def _user_info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        email=user.email,
        name=user.name,
        roles=tuple(sorted(r.name for r in user.roles)),
        totp_enabled=user.totp_enabled,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _key_info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=key.key_id,
        name=key.name,
        owner=key.user.email,
        permissions=tuple(sorted(key.permissions)),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PrincipalCache:
    """Resolved credentials for a few seconds, so each API call does not cost a store read.

    Every identity change made by this process clears it at once; `ttl` bounds
    how long a change made by another instance sharing the store goes unseen.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, credential: str) -> Principal | None:
        entry = self._entries.get(_sha256(credential))
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, credential: str, who: Principal, valid_for: float) -> None:
        """Remember `who` for the TTL, or less when the credential itself expires sooner."""
        keep = min(self.ttl, valid_for)
        if keep <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[_sha256(credential)] = (time.monotonic() + keep, who)

    def clear(self) -> None:
        self._entries.clear()


class IdentityService:
    def __init__(
        self,
        sessions: SessionFactory,
        tokens: TokenIssuer,
        throttle: LoginThrottle,
        cache_ttl: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self.tokens = tokens
        self.throttle = throttle
        self.cache = PrincipalCache(cache_ttl)

    # --- helpers -----------------------------------------------------------------

    @staticmethod
    async def _user_by_email(session: AsyncSession, email: str) -> User | None:
        result = await session.execute(select(User).where(User.email == email.strip().lower()))
        return result.scalar_one_or_none()

    async def _require_user(self, session: AsyncSession, email: str) -> User:
        user = await self._user_by_email(session, email)
        if user is None:
            raise NotFound(f"no user with email {email}")
        return user

    @staticmethod
    async def _roles(session: AsyncSession, names: Iterable[str]) -> list[Role]:
        wanted = set(names)
        result = await session.execute(select(Role).where(Role.name.in_(wanted)))
        roles = list(result.scalars())
        missing = wanted - {r.name for r in roles}
        if missing:
            raise Invalid(f"unknown role(s): {', '.join(sorted(missing))}")
        return roles

    # --- bootstrap ---------------------------------------------------------------

    async def ensure_builtin_roles(self) -> None:
        """Make sure every built-in role has a row (their permissions come from code)."""
        async with self._sessions.begin() as session:
            existing = {r.name: r for r in (await session.execute(select(Role))).scalars()}
            for name, (description, permissions) in BUILTIN_ROLES.items():
                role = existing.get(name)
                if role is None:
                    session.add(
                        Role(
                            name=name,
                            description=description,
                            permissions=sorted(permissions),
                            builtin=True,
                        )
                    )
                else:
                    role.description, role.builtin = description, True
                    role.permissions = sorted(permissions)

    async def ensure_admin(self, email: str, password: str | None) -> str | None:
        """Create the first admin when there are no users; returns a generated password."""
        async with self._sessions() as session:
            if (await session.execute(select(User.id).limit(1))).first() is not None:
                return None
        generated = None
        if password is None:
            generated = password = secrets.token_urlsafe(15)
        await self.create_user(email, password, ["admin"], name="Administrator")
        return generated

    # --- users -------------------------------------------------------------------

    async def create_user(
        self, email: str, password: str, roles: Iterable[str], name: str = ""
    ) -> UserInfo:
        email = email.strip().lower()
        if "@" not in email or len(email) > 320:
            raise Invalid("email: not an email address")
        weakness = check_strength(password)
        if weakness:
            raise Invalid(f"password: {weakness}")
        password_hash = await hash_secret_async(password)
        async with self._sessions.begin() as session:
            if await self._user_by_email(session, email) is not None:
                raise Conflict(f"a user with email {email} exists")
            user = User(email=email, name=name, password_hash=password_hash)
            user.roles = await self._roles(session, roles)
            session.add(user)
            await session.flush()
            log.info("user created", extra={"user": email, "roles": sorted(roles)})
            return _user_info(user)

    async def set_password(self, email: str, password: str) -> None:
        weakness = check_strength(password)
        if weakness:
            raise Invalid(f"password: {weakness}")
        password_hash = await hash_secret_async(password)
        async with self._sessions.begin() as session:
            user = await self._require_user(session, email)
            user.password_hash = password_hash
            user.token_version += 1  # every earlier token stops working
        self.cache.clear()
        log.info("password changed", extra={"user": email})

    async def set_roles(
        self, email: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> UserInfo:
        async with self._sessions.begin() as session:
            user = await self._require_user(session, email)
            current = {r.name: r for r in user.roles}
            for role in await self._roles(session, add):
                current[role.name] = role
            for name in remove:
                current.pop(name, None)
            user.roles = list(current.values())
            self.cache.clear()
            log.info("roles changed", extra={"user": email, "roles": sorted(current)})
            return _user_info(user)

    async def list_users(self) -> list[UserInfo]:
        async with self._sessions() as session:
            users = (await session.execute(select(User).order_by(User.id))).scalars()
            return [_user_info(u) for u in users]

    async def list_roles(self) -> list[tuple[str, str, list[str], bool]]:
        async with self._sessions() as session:
            roles = (await session.execute(select(Role).order_by(Role.name))).scalars()
            return [
                (
                    r.name,
                    r.description,
                    sorted(BUILTIN_ROLES[r.name][1] if r.builtin else r.permissions),
                    r.builtin,
                )
                for r in roles
            ]

    # --- login and tokens ----------------------------------------------------------

    async def login(self, email: str, password: str, totp: str | None, client: str) -> LoginResult:
        """Check credentials (and the second factor when enabled) and issue tokens."""
        email = email.strip().lower()
        wait = self.throttle.retry_after(client, email)
        if wait > 0:
            raise TooManyRequests("too many failed logins; try again later", wait)
        async with self._sessions.begin() as session:
            user = await self._user_by_email(session, email)
            stored = user.password_hash if user else _DUMMY_HASH
            password_ok = await verify_secret_async(stored, password)
            if user is None or not password_ok or user.disabled:
                self.throttle.failed(client, email)
                code = "unknown_user" if user is None else "bad_password"
                if user is not None and user.disabled and password_ok:
                    code = "disabled"
                raise Unauthenticated("invalid email or password", code)
            if user.totp_enabled:
                if not totp:
                    raise Unauthenticated("second factor required: send 'totp'", "totp_required")
                if not await self._check_second_factor(session, user, totp):
                    self.throttle.failed(client, email)
                    raise Unauthenticated("invalid second factor", "bad_totp")
            self.throttle.succeeded(client, email)
            user.last_login_at = utcnow()
            return await self._issue(session, user)

    async def _issue(self, session: AsyncSession, user: User) -> LoginResult:
        """An access token and a refresh token that works once (recorded to be rotated)."""
        jti = secrets.token_urlsafe(16)
        ttl = self.tokens.ttl("refresh")
        now = utcnow()
        # Rows of tokens past their expiry are of no use even to detect reuse: drop them.
        await session.execute(
            delete(RefreshToken).where(
                RefreshToken.user_id == user.id, RefreshToken.expires_at < now
            )
        )
        session.add(RefreshToken(jti=jti, user_id=user.id,
                                 expires_at=now + timedelta(seconds=ttl)))  # fmt: skip
        return LoginResult(
            token=self.tokens.issue(user.id, user.token_version, "access"),
            refresh_token=self.tokens.issue(user.id, user.token_version, "refresh", jti),
            principal=_principal(user),
        )

    async def refresh(self, refresh_token: str) -> LoginResult:
        """A new pair for a refresh token, which is used up. Presenting a used one again
        means someone holds a copy: every token of the user is revoked (logout everywhere)."""
        try:
            claims = self.tokens.verify(refresh_token, "refresh")
        except InvalidToken as exc:
            raise Unauthenticated(f"invalid refresh token: {exc}", "bad_token") from None
        async with self._sessions.begin() as session:
            user = await session.get(User, claims.user_id)
            if user is None or user.disabled or user.token_version != claims.version:
                raise Unauthenticated("refresh token revoked", "bad_token")
            issued = await session.get(RefreshToken, claims.jti) if claims.jti else None
            if issued is None or issued.user_id != user.id:
                raise Unauthenticated("refresh token unknown", "bad_token")
            if issued.used_at is None:
                issued.used_at = utcnow()
                return await self._issue(session, user)
            user.token_version += 1  # committed as the block ends, before the refusal
        self.cache.clear()
        log.warning("a used refresh token was presented again: all tokens revoked",
                    extra={"user_id": claims.user_id})  # fmt: skip
        raise Unauthenticated("refresh token already used", "reused_token")

    async def logout_everywhere(self, user_id: int) -> None:
        async with self._sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is not None:
                user.token_version += 1
        self.cache.clear()

    async def from_access_token(self, token: str) -> Principal:
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        try:
            claims = self.tokens.verify(token, "access")
        except InvalidToken as exc:
            raise Unauthenticated(f"invalid token: {exc}", "bad_token") from None
        async with self._sessions() as session:
            user = await session.get(User, claims.user_id)
            if user is None or user.disabled or user.token_version != claims.version:
                raise Unauthenticated("token revoked", "bad_token")
            who = _principal(user)
        self.cache.put(token, who, claims.expires_at - time.time())
        return who

    # --- API keys -------------------------------------------------------------------

    @staticmethod
    def looks_like_api_key(value: str) -> bool:
        return value.startswith(API_KEY_PREFIX + "_")

    async def create_api_key(
        self,
        owner_email: str,
        name: str,
        permissions: Iterable[str] | None,
        expires_at: datetime | None,
    ) -> tuple[ApiKeyInfo, str]:
        """A new key; the returned secret is shown once and stored only as a hash."""
        if not name.strip():
            raise Invalid("name: must not be empty")
        if expires_at is not None and expires_at <= utcnow():
            raise Invalid("expires_at: must be in the future")
        async with self._sessions.begin() as session:
            user = await self._require_user(session, owner_email)
            held = _permissions_of(user)
            wanted = set(held if permissions is None else permissions)
            bad = unknown(wanted)
            if bad:
                raise Invalid(f"permissions: unknown {', '.join(bad)}")
            beyond = sorted(wanted - held)
            if beyond:
                raise Invalid(f"permissions: {owner_email} does not hold {', '.join(beyond)}")
            key_id = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            key = ApiKey(
                key_id=key_id,
                secret_sha256=_sha256(secret),
                name=name.strip(),
                user=user,
                permissions=sorted(wanted),
                expires_at=expires_at,
            )
            session.add(key)
            await session.flush()
            log.info("api key created", extra={"key_id": key_id, "owner": user.email})
            return _key_info(key), f"{API_KEY_PREFIX}_{key_id}.{secret}"

    async def list_api_keys(self, owner_id: int | None = None) -> list[ApiKeyInfo]:
        async with self._sessions() as session:
            query = select(ApiKey).order_by(ApiKey.id)
            if owner_id is not None:
                query = query.where(ApiKey.user_id == owner_id)
            return [_key_info(k) for k in (await session.execute(query)).scalars()]

    async def revoke_api_key(self, key_id: str, owner_id: int | None = None) -> ApiKeyInfo:
        """Revoke a key; with `owner_id`, only that user's own key."""
        async with self._sessions.begin() as session:
            key = (
                await session.execute(select(ApiKey).where(ApiKey.key_id == key_id))
            ).scalar_one_or_none()
            if key is None or (owner_id is not None and key.user_id != owner_id):
                raise NotFound(f"no API key {key_id}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                self.cache.clear()
                log.info("api key revoked", extra={"key_id": key_id})
            return _key_info(key)

    async def from_api_key(self, raw: str) -> Principal:
        cached = self.cache.get(raw)
        if cached is not None:
            return cached
        prefix, _, rest = raw.partition("_")
        key_id, _, secret = rest.partition(".")
        if prefix != API_KEY_PREFIX or not key_id or not secret:
            raise Unauthenticated("malformed API key", "bad_api_key")
        async with self._sessions.begin() as session:
            key = (
                await session.execute(select(ApiKey).where(ApiKey.key_id == key_id))
            ).scalar_one_or_none()
            if key is None or not hmac.compare_digest(key.secret_sha256, _sha256(secret)):
                raise Unauthenticated("invalid API key", "bad_api_key")
            if key.revoked_at is not None:
                raise Unauthenticated("API key revoked", "revoked_api_key")
            if key.expires_at is not None and key.expires_at <= utcnow():
                raise Unauthenticated("API key expired", "expired_api_key")
            if key.user.disabled:
                raise Unauthenticated("API key owner is disabled", "disabled")
            # Written when the cache misses, so at most once per TTL per key.
            key.last_used_at = utcnow()
            who = _principal(key.user, key)
            valid_for = (
                (key.expires_at - utcnow()).total_seconds() if key.expires_at else self.cache.ttl
            )
        self.cache.put(raw, who, valid_for)
        return who

    # --- TOTP second factor ---------------------------------------------------------

    async def totp_begin(self, user_id: int) -> tuple[str, str]:
        """A fresh secret and its otpauth:// URI; not active until confirmed with a code."""
        secret = pyotp.random_base32()
        async with self._sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            if user.totp_enabled:
                raise Conflict("two-factor authentication is already enabled")
            user.totp_secret = secret
            uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="omnigw")
        return secret, uri

    async def totp_enable(self, user_id: int, code: str) -> list[str]:
        """Confirm the pending secret with a code; returns backup codes, shown once."""
        codes = [secrets.token_hex(5) for _ in range(BACKUP_CODE_COUNT)]
        hashes = [await hash_secret_async(c) for c in codes]
        async with self._sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            if user.totp_enabled:
                raise Conflict("two-factor authentication is already enabled")
            if user.totp_secret is None:
                raise Invalid("start the setup first")
            if not _accept_totp(user, code):
                raise Invalid("code: does not match the authenticator")
            user.totp_enabled = True
            old = await session.execute(select(BackupCode).where(BackupCode.user_id == user.id))
            for row in old.scalars():
                await session.delete(row)
            session.add_all(BackupCode(user_id=user.id, code_hash=h) for h in hashes)
        log.info("totp enabled", extra={"user_id": user_id})
        return codes

    async def totp_disable(self, user_id: int, password: str) -> None:
        async with self._sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            if not await verify_secret_async(user.password_hash, password):
                raise Invalid("password: does not match")
            user.totp_enabled, user.totp_secret = False, None
            old = await session.execute(select(BackupCode).where(BackupCode.user_id == user.id))
            for row in old.scalars():
                await session.delete(row)
        log.info("totp disabled", extra={"user_id": user_id})

    async def _check_second_factor(self, session: AsyncSession, user: User, code: str) -> bool:
        code = code.strip().replace(" ", "")
        if user.totp_secret and code.isdigit() and len(code) == 6:
            return _accept_totp(user, code)
        unused = await session.execute(
            select(BackupCode).where(BackupCode.user_id == user.id, BackupCode.used_at.is_(None))
        )
        for backup in unused.scalars():
            if await verify_secret_async(backup.code_hash, code):
                backup.used_at = utcnow()  # a backup code works once
                return True
        return False


def _accept_totp(user: User, code: str, now: float | None = None) -> bool:
    """A code of the current time step or one either side (clock drift), and only of a
    step later than the last accepted: no code works twice, nor an older one after a
    newer (RFC 6238 5.2)."""
    assert user.totp_secret is not None
    totp = pyotp.TOTP(user.totp_secret)
    at = time.time() if now is None else now
    step = totp.timecode(datetime.fromtimestamp(at, UTC))
    for candidate in (step - 1, step, step + 1):
        if candidate <= (user.totp_last_step or -1):
            continue
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            user.totp_last_step = candidate
            return True
    return False
