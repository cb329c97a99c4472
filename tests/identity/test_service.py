"""Identity service on SQLite and PostgreSQL: users, roles, login, tokens, API keys, TOTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pyotp
import pytest

from omnigw.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthenticated
from omnigw.identity.permissions import BUILTIN_ROLES, Permission
from omnigw.identity.service import IdentityService
from omnigw.store.base import utcnow

PASSWORD = "correct horse battery"


async def test_first_admin_is_created_once(identity: IdentityService) -> None:
    generated = await identity.ensure_admin("Admin@Example.com", None)
    assert generated is not None and len(generated) >= 16
    assert await identity.ensure_admin("other@example.com", None) is None
    users = await identity.list_users()
    assert [(u.email, u.roles) for u in users] == [("admin@example.com", ("admin",))]
    result = await identity.login("admin@example.com", generated, None, "127.0.0.1")
    assert result.principal.permissions == BUILTIN_ROLES["admin"][1]


async def test_admin_password_from_environment_is_used(identity: IdentityService) -> None:
    assert await identity.ensure_admin("admin@example.com", PASSWORD) is None
    await identity.login("admin@example.com", PASSWORD, None, "c")


async def test_permissions_are_the_union_of_roles(identity: IdentityService) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["alerting", "noc"])
    who = (await identity.login("a@x.org", PASSWORD, None, "c")).principal
    assert who.permissions == BUILTIN_ROLES["alerting"][1] | BUILTIN_ROLES["noc"][1]
    assert who.allows(Permission.ALERT_SUBMIT) and not who.allows(Permission.CRM_WRITE)


async def test_user_validation(identity: IdentityService) -> None:
    with pytest.raises(Invalid, match="password"):
        await identity.create_user("a@x.org", "short", [])
    with pytest.raises(Invalid, match="unknown role"):
        await identity.create_user("a@x.org", PASSWORD, ["wizard"])
    with pytest.raises(Invalid, match="email"):
        await identity.create_user("not-an-email", PASSWORD, [])
    await identity.create_user("a@x.org", PASSWORD, [])
    with pytest.raises(Conflict):
        await identity.create_user("A@X.org", PASSWORD, [])
    with pytest.raises(NotFound):
        await identity.set_roles("nobody@x.org", ["admin"])


async def test_wrong_password_and_unknown_user_are_the_same_answer(
    identity: IdentityService,
) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    with pytest.raises(Unauthenticated) as wrong:
        await identity.login("a@x.org", "wrong password!", None, "c")
    with pytest.raises(Unauthenticated) as unknown:
        await identity.login("b@x.org", PASSWORD, None, "c")
    assert wrong.value.reason == unknown.value.reason
    assert (wrong.value.code, unknown.value.code) == ("bad_password", "unknown_user")


async def test_failed_logins_are_throttled_per_client_and_email(
    identity: IdentityService,
) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await identity.login("a@x.org", "wrong password!", None, "10.0.0.1")
    with pytest.raises(TooManyRequests) as limited:
        await identity.login("a@x.org", PASSWORD, None, "10.0.0.1")
    assert 0 < limited.value.retry_after <= 60
    # Another client is not locked out by someone else's failures.
    await identity.login("a@x.org", PASSWORD, None, "10.0.0.2")


async def test_password_change_revokes_tokens(identity: IdentityService) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    result = await identity.login("a@x.org", PASSWORD, None, "c")
    assert (await identity.from_access_token(result.token)).email == "a@x.org"
    refreshed = await identity.refresh(result.refresh_token)
    assert refreshed.principal.email == "a@x.org"
    await identity.set_password("a@x.org", "another long password")
    with pytest.raises(Unauthenticated, match="revoked"):
        await identity.from_access_token(result.token)
    with pytest.raises(Unauthenticated, match="revoked"):
        await identity.refresh(result.refresh_token)


async def test_access_and_refresh_tokens_are_not_interchangeable(
    identity: IdentityService,
) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    result = await identity.login("a@x.org", PASSWORD, None, "c")
    with pytest.raises(Unauthenticated):
        await identity.from_access_token(result.refresh_token)
    with pytest.raises(Unauthenticated):
        await identity.refresh(result.token)


async def test_role_change_takes_effect_on_the_next_request(identity: IdentityService) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    token = (await identity.login("a@x.org", PASSWORD, None, "c")).token
    await identity.set_roles("a@x.org", add=["alerting"], remove=["noc"])
    who = await identity.from_access_token(token)
    assert who.roles == ("alerting",)
    assert not who.allows(Permission.CRM_READ)


async def test_api_key_lifecycle(identity: IdentityService) -> None:
    await identity.create_user("crm@x.org", PASSWORD, ["crm"])
    info, key = await identity.create_api_key(
        "crm@x.org", "billing", [Permission.CRM_READ], utcnow() + timedelta(days=1)
    )
    assert key.startswith(f"omgw_{info.key_id}.") and info.masked.endswith("********")
    who = await identity.from_api_key(key)
    assert who.permissions == {Permission.CRM_READ} and who.api_key_id == info.key_id
    [listed] = await identity.list_api_keys()
    assert listed.last_used_at is not None
    with pytest.raises(Unauthenticated):
        await identity.from_api_key(key[:-1] + ("A" if key[-1] != "A" else "B"))
    await identity.revoke_api_key(info.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await identity.from_api_key(key)


async def test_api_key_scope_is_limited_to_the_owner(identity: IdentityService) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["alerting"])
    with pytest.raises(Invalid, match="does not hold"):
        await identity.create_api_key("a@x.org", "k", [Permission.CRM_WRITE], None)
    with pytest.raises(Invalid, match="unknown"):
        await identity.create_api_key("a@x.org", "k", ["root"], None)
    _, key = await identity.create_api_key("a@x.org", "k", None, None)
    # Losing a role shrinks what the key can do, too.
    await identity.set_roles("a@x.org", remove=["alerting"])
    assert (await identity.from_api_key(key)).permissions == frozenset()


async def test_expired_api_key_is_refused(identity: IdentityService) -> None:
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    with pytest.raises(Invalid, match="future"):
        await identity.create_api_key("a@x.org", "k", None, utcnow() - timedelta(seconds=1))
    _, key = await identity.create_api_key(
        "a@x.org", "k", None, utcnow() + timedelta(milliseconds=200)
    )
    import asyncio

    await asyncio.sleep(0.3)
    with pytest.raises(Unauthenticated, match="expired"):
        await identity.from_api_key(key)


async def test_totp_second_factor_and_backup_codes(identity: IdentityService) -> None:
    user = await identity.create_user("a@x.org", PASSWORD, ["noc"])
    secret, uri = await identity.totp_begin(user.id)
    assert uri.startswith("otpauth://totp/") and "omnigw" in uri
    with pytest.raises(Invalid, match="code"):
        await identity.totp_enable(
            user.id, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        )
    enrolled_at = time.time()
    codes = await identity.totp_enable(user.id, pyotp.TOTP(secret).at(enrolled_at))
    assert len(codes) == 10 and len(set(codes)) == 10

    with pytest.raises(Unauthenticated) as missing:
        await identity.login("a@x.org", PASSWORD, None, "c")
    assert missing.value.code == "totp_required"
    with pytest.raises(Unauthenticated) as bad:
        await identity.login("a@x.org", PASSWORD, "not-a-code", "c")
    assert bad.value.code == "bad_totp"
    totp = pyotp.TOTP(secret)
    with pytest.raises(Unauthenticated) as replayed:  # the code that enabled TOTP is used up
        await identity.login("a@x.org", PASSWORD, totp.at(enrolled_at), "c")
    assert replayed.value.code == "bad_totp"
    following = totp.at(enrolled_at + 30)  # the next step's code (clock drift is allowed)
    await identity.login("a@x.org", PASSWORD, following, "c")
    for used in (following, totp.at(enrolled_at - 30)):  # the same code, or an older step's
        with pytest.raises(Unauthenticated):
            await identity.login("a@x.org", PASSWORD, used, "c")
    await identity.login("a@x.org", PASSWORD, codes[0], "c")
    with pytest.raises(Unauthenticated):  # a backup code works once
        await identity.login("a@x.org", PASSWORD, codes[0], "c")

    await identity.totp_disable(user.id, PASSWORD)
    await identity.login("a@x.org", PASSWORD, None, "c")


async def test_changes_by_another_instance_are_seen_within_the_cache_ttl(
    identity: IdentityService,
) -> None:
    import asyncio

    from omnigw.identity.service import IdentityService as Service

    other = Service(identity._sessions, identity.tokens, identity.throttle, cache_ttl=0.3)
    await identity.create_user("a@x.org", PASSWORD, ["noc"])
    token = (await identity.login("a@x.org", PASSWORD, None, "c")).token
    assert (await other.from_access_token(token)).roles == ("noc",)
    await identity.set_password("a@x.org", "another long password")  # on "instance 1"
    assert (await other.from_access_token(token)).roles == ("noc",)  # still cached
    await asyncio.sleep(0.35)
    with pytest.raises(Unauthenticated, match="revoked"):
        await other.from_access_token(token)
