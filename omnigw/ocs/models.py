"""OCS tables: the embedded backend's balances, and usage an OCS has yet to take."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from omnigw.store.base import Base, UtcDateTime, utcnow


class Account(Base):
    """An embedded-backend account; it exists (and may be disabled) with or without balances."""

    __tablename__ = "ocs_accounts"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Balance(Base):
    """One account's balance of one unit type (embedded backend only)."""

    __tablename__ = "ocs_balances"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    unit: Mapped[str] = mapped_column(String(16), primary_key=True)  # seconds|octets|units
    amount: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UnreportedUsage(Base):
    """Usage a client reported while the OCS was unreachable, replayed in id order."""

    __tablename__ = "ocs_unreported_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # usage: a CDR; close: end the OCS session
    request_id: Mapped[str] = mapped_column(String(300), unique=True)
    charge_key: Mapped[str] = mapped_column(String(300))
    session_id: Mapped[str] = mapped_column(String(256))
    account: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(16))
    used: Mapped[int] = mapped_column(BigInteger)
    rating_group: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # What CGRateS rates the record by, as the charge's own requests were
    service_context: Mapped[str] = mapped_column(String(256), default="", server_default="")
    other_party: Mapped[str | None] = mapped_column(String(256), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set when the OCS refused the record (it is then kept, not retried, for the operator).
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Usage(Base):
    """What one ended charge used (embedded backend): the account's usage history."""

    __tablename__ = "ocs_usage"
    __table_args__ = (Index("ix_ocs_usage_account_id", "account", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    charge_key: Mapped[str] = mapped_column(String(300))  # "<Session-Id>_rg<N>"
    rating_group: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
