"""Authentication, users, roles and API keys over HTTP (OmniCRM-compatible login)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from omnigw.api.context import context
from omnigw.api.middleware import principal
from omnigw.api.routes import Access, Body, Route, json_response, model_response, read_body
from omnigw.errors import Forbidden
from omnigw.identity.permissions import Permission
from omnigw.identity.service import ApiKeyInfo, LoginResult, UserInfo

TAG = "auth"
EMAIL = r"^[^@\s]+@[^@\s]+$"


class LoginRequest(Body):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, max_length=32, description="TOTP or backup code")


class RefreshRequest(Body):
    refresh_token: str = Field(min_length=1)


class TokenResponse(BaseModel):
    token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    permissions: list[str]
    roles: list[str]


class MeResponse(BaseModel):
    user_id: int
    email: str
    roles: list[str]
    permissions: list[str]
    api_key_id: str | None


class TotpSetupResponse(BaseModel):
    secret: str
    otpauth_uri: str


class TotpCode(Body):
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class BackupCodes(BaseModel):
    backup_codes: list[str]


class PasswordConfirm(Body):
    password: str = Field(min_length=1, max_length=1024)


class ApiKeyCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    permissions: list[Permission] | None = Field(
        default=None, description="Defaults to all of the owner's permissions"
    )
    expires_at: datetime | None = None
    owner: str | None = Field(
        default=None, pattern=EMAIL, description="Another user's email (admin only)"
    )


class ApiKeyOut(BaseModel):
    key_id: str
    masked: str
    name: str
    owner: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyOut:
        return cls(
            key_id=info.key_id,
            masked=info.masked,
            name=info.name,
            owner=info.owner,
            permissions=list(info.permissions),
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            last_used_at=info.last_used_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The whole key; shown only in this answer")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


class UserCreate(Body):
    email: str = Field(pattern=EMAIL, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field(default="", max_length=200)
    roles: list[str] = Field(default_factory=list)


class RoleChange(Body):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    roles: list[str]
    totp_enabled: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, info: UserInfo) -> UserOut:
        return cls(
            id=info.id,
            email=info.email,
            name=info.name,
            roles=list(info.roles),
            totp_enabled=info.totp_enabled,
            disabled=info.disabled,
            created_at=info.created_at,
            last_login_at=info.last_login_at,
        )


class UserList(BaseModel):
    data: list[UserOut]


class RoleOut(BaseModel):
    name: str
    description: str
    permissions: list[str]
    builtin: bool


class RoleList(BaseModel):
    data: list[RoleOut]


def _tokens(request: web.Request, result: LoginResult) -> web.Response:
    return model_response(
        TokenResponse(
            token=result.token,
            refresh_token=result.refresh_token,
            expires_in=context(request).settings.access_token_ttl_seconds,
            permissions=sorted(result.principal.permissions),
            roles=list(result.principal.roles),
        )
    )


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginRequest)
    result = await context(request).identity.login(
        body.email, body.password, body.totp, request.remote or "unknown"
    )
    return _tokens(request, result)


async def refresh(request: web.Request) -> web.Response:
    body = await read_body(request, RefreshRequest)
    return _tokens(request, await context(request).identity.refresh(body.refresh_token))


async def logout(request: web.Request) -> web.Response:
    await context(request).identity.logout_everywhere(principal(request).user_id)
    return json_response({"status": "ok"})


async def me(request: web.Request) -> web.Response:
    who = principal(request)
    return model_response(
        MeResponse(
            user_id=who.user_id,
            email=who.email,
            roles=list(who.roles),
            permissions=sorted(who.permissions),
            api_key_id=who.api_key_id,
        )
    )


async def totp_setup(request: web.Request) -> web.Response:
    secret, uri = await context(request).identity.totp_begin(principal(request).user_id)
    return model_response(TotpSetupResponse(secret=secret, otpauth_uri=uri))


async def totp_enable(request: web.Request) -> web.Response:
    body = await read_body(request, TotpCode)
    codes = await context(request).identity.totp_enable(principal(request).user_id, body.code)
    return model_response(BackupCodes(backup_codes=codes))


async def totp_disable(request: web.Request) -> web.Response:
    body = await read_body(request, PasswordConfirm)
    await context(request).identity.totp_disable(principal(request).user_id, body.password)
    return json_response({"status": "ok"})


def _is_admin(request: web.Request) -> bool:
    return principal(request).allows(Permission.USER_ADMIN)


async def apikey_list(request: web.Request) -> web.Response:
    owner = None if _is_admin(request) else principal(request).user_id
    keys = await context(request).identity.list_api_keys(owner)
    return model_response(ApiKeyList(data=[ApiKeyOut.of(k) for k in keys]))


async def apikey_create(request: web.Request) -> web.Response:
    body = await read_body(request, ApiKeyCreate)
    who = principal(request)
    if who.api_key_id is not None:
        raise Forbidden("an API key cannot create API keys; log in")
    owner = body.owner or who.email
    if owner.lower() != who.email and not _is_admin(request):
        raise Forbidden(
            f"permission {Permission.USER_ADMIN.value} required to create keys for others"
        )
    info, key = await context(request).identity.create_api_key(
        owner, body.name, body.permissions, body.expires_at
    )
    out = ApiKeyCreated(**ApiKeyOut.of(info).model_dump(), key=key)
    return model_response(out, status=201)


async def apikey_revoke(request: web.Request) -> web.Response:
    owner = None if _is_admin(request) else principal(request).user_id
    info = await context(request).identity.revoke_api_key(request.match_info["key_id"], owner)
    return model_response(ApiKeyOut.of(info))


async def user_list(request: web.Request) -> web.Response:
    users = await context(request).identity.list_users()
    return model_response(UserList(data=[UserOut.of(u) for u in users]))


async def user_create(request: web.Request) -> web.Response:
    body = await read_body(request, UserCreate)
    info = await context(request).identity.create_user(
        body.email, body.password, body.roles, body.name
    )
    return model_response(UserOut.of(info), status=201)


async def user_roles(request: web.Request) -> web.Response:
    body = await read_body(request, RoleChange)
    info = await context(request).identity.set_roles(
        request.match_info["email"], body.add, body.remove
    )
    return model_response(UserOut.of(info))


async def role_list(request: web.Request) -> web.Response:
    roles = await context(request).identity.list_roles()
    return model_response(
        RoleList(
            data=[RoleOut(name=n, description=d, permissions=p, builtin=b) for n, d, p, b in roles]
        )
    )


ROUTES = [
    Route(
        "POST",
        "/crm/auth/login",
        login,
        Access.PUBLIC,
        "Log in with email and password (and TOTP when enabled)",
        TAG,
        LoginRequest,
        TokenResponse,
    ),
    Route(
        "POST",
        "/crm/auth/refresh",
        refresh,
        Access.PUBLIC,
        "Exchange a refresh token for new tokens",
        TAG,
        RefreshRequest,
        TokenResponse,
    ),
    Route(
        "POST",
        "/crm/auth/logout",
        logout,
        Access.AUTHENTICATED,
        "Revoke every token of the caller",
        TAG,
    ),
    Route(
        "GET",
        "/crm/auth/me",
        me,
        Access.AUTHENTICATED,
        "Who the caller is and what it may do",
        TAG,
        None,
        MeResponse,
    ),
    Route(
        "POST",
        "/crm/auth/totp/setup",
        totp_setup,
        Access.AUTHENTICATED,
        "Start enrolling a TOTP authenticator",
        TAG,
        None,
        TotpSetupResponse,
    ),
    Route(
        "POST",
        "/crm/auth/totp/enable",
        totp_enable,
        Access.AUTHENTICATED,
        "Confirm the authenticator; returns one-time backup codes",
        TAG,
        TotpCode,
        BackupCodes,
    ),
    Route(
        "POST",
        "/crm/auth/totp/disable",
        totp_disable,
        Access.AUTHENTICATED,
        "Turn the second factor off (password required)",
        TAG,
        PasswordConfirm,
    ),
    Route(
        "GET",
        "/api/v1/apikeys",
        apikey_list,
        Permission.APIKEY_OWN,
        "List API keys (own; all for admins), masked",
        TAG,
        None,
        ApiKeyList,
    ),
    Route(
        "POST",
        "/api/v1/apikeys",
        apikey_create,
        Permission.APIKEY_OWN,
        "Create an API key scoped to some of the owner's permissions",
        TAG,
        ApiKeyCreate,
        ApiKeyCreated,
        201,
    ),
    Route(
        "DELETE",
        "/api/v1/apikeys/{key_id}",
        apikey_revoke,
        Permission.APIKEY_OWN,
        "Revoke an API key",
        TAG,
        None,
        ApiKeyOut,
    ),
    Route(
        "GET", "/api/v1/users", user_list, Permission.USER_ADMIN, "List users", TAG, None, UserList
    ),
    Route(
        "POST",
        "/api/v1/users",
        user_create,
        Permission.USER_ADMIN,
        "Create a user",
        TAG,
        UserCreate,
        UserOut,
        201,
    ),
    Route(
        "PUT",
        "/api/v1/users/{email}/roles",
        user_roles,
        Permission.USER_ADMIN,
        "Add or remove a user's roles",
        TAG,
        RoleChange,
        UserOut,
    ),
    Route(
        "GET",
        "/api/v1/roles",
        role_list,
        Permission.USER_ADMIN,
        "List roles and their permissions",
        TAG,
        None,
        RoleList,
    ),
]
