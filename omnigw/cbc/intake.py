"""What every alert door shares: where the CBC service, the store and the areas are in the
web app, and how a refused alert body is answered and counted (per door)."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigw.api.routes import read_body
from omnigw.cbc.areas import Areas
from omnigw.cbc.messages import Category, MessageError
from omnigw.cbc.metrics import REJECTED
from omnigw.cbc.service import CbcService
from omnigw.errors import Invalid

M = TypeVar("M", bound=BaseModel)
SERVICE = web.AppKey("omnigw_cbc", CbcService)
SESSIONS = web.AppKey("omnigw_cbc_sessions", async_sessionmaker[AsyncSession])
AREAS = web.AppKey("omnigw_cbc_areas", Areas)

# The category names the native API and ECBE take
CATEGORY = {
    "high_priority": Category.HIGH_PRIORITY,
    "normal": Category.NORMAL,
    "background": Category.BACKGROUND,
}


async def rejecting(source: str, coro: Any) -> Any:
    try:
        return await coro
    except (Invalid, MessageError) as exc:
        REJECTED.labels(source).inc()
        raise Invalid(str(exc)) from None


async def intake(request: web.Request, model: type[M], source: str) -> M:
    """Read an alert body; a refusal is counted per door."""
    try:
        return await read_body(request, model)
    except Invalid:
        REJECTED.labels(source).inc()
        raise
