"""CRUD over the declared CRM resources, each write checked and logged in one transaction.

A write either passes every check (references, uniqueness, the resource's own
rules) and lands with its activity record, or nothing is written and the caller
gets an error naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from omnigw.crm.models import Activity
from omnigw.crm.resources import Resource, count
from omnigw.crm.schemas import CrmBody
from omnigw.errors import Conflict, Invalid, NotFound
from omnigw.store.base import Base, utcnow
from omnigw.store.engine import SessionFactory

MAX_PAGE = 10_000
DEFAULT_PAGE = 1_000  # big enough that OmniCRM scripts listing "everything" see everything
PAGING = frozenset({"page", "per_page", "sort", "order", "search"})


def row_dict(row: Base) -> dict[str, Any]:
    """A row as JSON-ready data: every column, datetimes in ISO 8601."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        out[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def log_activity(
    session: AsyncSession,
    actor: str,
    entity: str,
    entity_id: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        Activity(actor=actor, entity=entity, entity_id=entity_id, action=action,
                 before=before, after=after)
    )  # fmt: skip


def _parse(res: Resource, name: str, raw: str) -> Any:
    column = res.table.__table__.columns[name]
    kind = column.type.python_type
    if kind is bool:
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise Invalid(f"{name}: expected true or false, got {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise Invalid(f"{name}: expected an integer, got {raw!r}") from None
    return raw


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    """Case-insensitive prefix match that an index on lower(column) can serve: the range
    narrows through the index, LIKE (escaped) keeps the answer exact under any collation."""
    low = func.lower(column)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return and_(low >= prefix, low < upper, low.like(escaped + "%", escape="\\"))


def int_param(query: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise Invalid(f"{name}: expected an integer from 1 to {high}, got {raw!r}")
    return int(raw)


class CrmService:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        # Told the resource name after each committed write (caches of what it holds).
        self.listeners: list[Callable[[str], None]] = []

    def _changed(self, res: Resource) -> None:
        for listener in self.listeners:
            listener(res.name)

    # --- reads ---------------------------------------------------------------------------

    def _filtered(self, res: Resource, query: Mapping[str, str]) -> Select[Any]:
        unknown = sorted(set(query) - PAGING - set(res.filters))
        if unknown:
            allowed = ", ".join(sorted(PAGING | set(res.filters)))
            raise Invalid(f"{unknown[0]}: not a filter of {res.name} (allowed: {allowed})")
        stmt = select(res.table)
        for name in res.filters:
            if name in query:
                stmt = stmt.where(getattr(res.table, name) == _parse(res, name, query[name]))
        text = query.get("search", "").strip().lower()
        if text:
            stmt = stmt.where(or_(*(_starts_with(getattr(res.table, c), text) for c in res.search)))
        return stmt

    async def find(
        self, res: Resource, query: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of rows matching the filters, and how many match in all."""
        stmt = self._filtered(res, query)
        page = int_param(query, "page", 1, 10**9)
        per_page = int_param(query, "per_page", DEFAULT_PAGE, MAX_PAGE)
        sort = query.get("sort", res.id_field)
        if sort not in res.table.__table__.columns:
            raise Invalid(f"sort: {res.name} has no field {sort!r}")
        order = query.get("order", "asc")
        if order not in ("asc", "desc"):
            raise Invalid(f"order: expected asc or desc, got {order!r}")
        column = getattr(res.table, sort)
        ordered = stmt.order_by(column.desc() if order == "desc" else column.asc())
        # The total rides along as a window count: one statement, not a page and a count
        # (each statement is several round trips to the store's thread).
        counted = ordered.add_columns(func.count().over().label("total"))
        async with self._sessions() as session:
            found = (
                await session.execute(counted.limit(per_page).offset((page - 1) * per_page))
            ).all()
            if found:
                return [row_dict(r) for r, _ in found], int(found[0].total)
            total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
            return [], int(total or 0)

    async def get(self, res: Resource, row_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            return row_dict(await self._row(session, res, row_id))

    @staticmethod
    async def _row(session: AsyncSession, res: Resource, row_id: int) -> Base:
        row = await session.get(res.table, row_id)
        if row is None:
            raise NotFound(f"no {res.name} {row_id}")
        return row

    # --- writes --------------------------------------------------------------------------

    async def _validate(
        self,
        session: AsyncSession,
        res: Resource,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        changed: set[str],
    ) -> None:
        for ref in res.references:
            value = after.get(ref.field)
            if (
                ref.field in changed
                and value is not None
                and not await count(session, ref.table, ref.key, value)
            ):
                raise Invalid(f"{ref.field}: no {ref.what} {value}")
        for name in res.unique:
            if name not in changed:
                continue
            stmt = select(getattr(res.table, res.id_field)).where(
                getattr(res.table, name) == after[name]
            )
            other = await session.scalar(stmt)
            if other is not None and (before is None or other != before[res.id_field]):
                raise Conflict(f"{name}: {after[name]!r} already exists ({res.id_field} {other})")
        for check in res.checks:
            await check(session, before, after)

    async def create(self, res: Resource, actor: str, body: CrmBody) -> dict[str, Any]:
        values = body.model_dump()
        async with self._sessions.begin() as session:
            await self._validate(session, res, None, values, set(values))
            row = res.table(**values)
            session.add(row)
            await self._flush(session, res)
            after = row_dict(row)
            log_activity(session, actor, res.name, after[res.id_field], "create", None, after)
        self._changed(res)
        return after

    async def update(self, res: Resource, actor: str, row_id: int, body: CrmBody) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)
        given_id = changes.pop(res.id_field, None)
        if given_id is not None and given_id != row_id:
            raise Invalid(f"{res.id_field}: body says {given_id}, the URL says {row_id}")
        columns = res.table.__table__.columns
        for name, value in changes.items():
            if value is None and not columns[name].nullable:
                raise Invalid(f"{name}: may not be null")
        async with self._sessions.begin() as session:
            row = await self._row(session, res, row_id)
            before = row_dict(row)
            for name in res.immutable & changes.keys():
                if changes[name] != before[name]:
                    raise Invalid(f"{name}: cannot be changed once set")
            after = {**before, **changes}
            await self._validate(session, res, before, after, set(changes))
            for name, value in changes.items():
                setattr(row, name, value)
            if changes:
                row.last_modified = utcnow()  # type: ignore[attr-defined]
            await self._flush(session, res)
            after = row_dict(row)
            log_activity(session, actor, res.name, row_id, "update", before, after)
        self._changed(res)
        return after

    async def delete(self, res: Resource, actor: str, row_id: int) -> None:
        async with self._sessions.begin() as session:
            row = await self._row(session, res, row_id)
            before = row_dict(row)
            for check in res.checks:
                await check(session, before, None)
            for pin in res.in_use:
                n = await count(session, pin.table, pin.column, row_id)
                if n:
                    raise Conflict(f"{res.name} {row_id} is used by {n} {pin.what}")
            await session.delete(row)
            await self._flush(session, res)
            log_activity(session, actor, res.name, row_id, "delete", before, None)
        self._changed(res)

    @staticmethod
    async def _flush(session: AsyncSession, res: Resource) -> None:
        try:
            await session.flush()
        except IntegrityError:
            # A concurrent writer got there between our checks and this write.
            raise Conflict(f"{res.name}: conflicts with a row written at the same time") from None

    async def activity(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        stmt = select(Activity).order_by(Activity.activity_id.desc())
        for name in ("entity", "actor"):
            if name in query:
                stmt = stmt.where(getattr(Activity, name) == query[name])
        if "entity_id" in query:
            if not query["entity_id"].isdigit():
                raise Invalid(f"entity_id: expected an integer, got {query['entity_id']!r}")
            stmt = stmt.where(Activity.entity_id == int(query["entity_id"]))
        limit = int_param(query, "per_page", 100, MAX_PAGE)
        async with self._sessions() as session:
            rows = (await session.execute(stmt.limit(limit))).scalars()
            return [row_dict(r) for r in rows]
