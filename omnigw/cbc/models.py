"""CBC tables: alerts, their per-language messages, per-peer deliveries and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from omnigw.store.base import Base, UtcDateTime, utcnow


class Alert(Base):
    """What an authority submitted; the unit of update and cancel."""

    __tablename__ = "cbc_alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # active|cancelled|expired
    source: Mapped[str] = mapped_column(String(16))  # api|ecbe|cap
    external_ref: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    alert_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    priority: Mapped[int] = mapped_column(Integer)  # 0 first (presidential)
    category: Mapped[int] = mapped_column(Integer)  # CBSP category
    repetition_seconds: Mapped[int] = mapped_column(Integer)
    broadcasts_requested: Mapped[int] = mapped_column(Integer)  # 0 = until cancelled
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Later references of the same alert (CAP: the identifiers of the Updates that
    # superseded it), so a Cancel or Update naming any of them finds it.
    chain: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    messages: Mapped[list[Message]] = relationship(
        back_populates="alert", lazy="selectin", order_by="Message.index"
    )


class Message(Base):
    """One TS 23.041 message (one language) of an alert."""

    __tablename__ = "cbc_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("cbc_alerts.id", ondelete="CASCADE"), index=True
    )
    index: Mapped[int] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    text: Mapped[str] = mapped_column(String(4000))
    message_identifier: Mapped[int] = mapped_column(Integer, index=True)
    geo_scope: Mapped[int] = mapped_column(Integer)
    message_code: Mapped[int] = mapped_column(Integer)
    update_number: Mapped[int] = mapped_column(Integer)
    dcs: Mapped[int] = mapped_column(Integer)
    pages: Mapped[list[list[Any]]] = mapped_column(JSON)  # [[length, hex], ...]
    warning_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Set when an update no longer carries this message (its language was dropped, or the
    # class changed and a new message replaced it): killed on every peer, kept as history.
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    alert: Mapped[Alert] = relationship(back_populates="messages")
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="message", lazy="selectin", order_by="Delivery.peer"
    )


class Delivery(Base):
    """One message toward one peer; its state is `delivery.DeliveryState`.

    The peer's own answers are kept as the PDUs it sent (`report`: the last
    WRITE-REPLACE COMPLETE/FAILURE, `kill_report`, `status_report`); the
    per-cell view is decoded from them when someone reads it. A big BSC lists
    hundreds of cells per answer, and this keeps the write path one row wide.
    """

    __tablename__ = "cbc_deliveries"
    __table_args__ = (UniqueConstraint("message_id", "peer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("cbc_messages.id", ondelete="CASCADE"))
    peer: Mapped[str] = mapped_column(String(64), index=True)
    # What the peer speaks (cbsp, sbcap): how its answers in `report` & co. are read
    interface: Mapped[str] = mapped_column(String(16), default="cbsp", server_default="cbsp")
    state: Mapped[str] = mapped_column(String(16))
    # The serial number the peer holds (confirmed); None until first confirmed.
    confirmed_serial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kill_report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status_report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    message: Mapped[Message] = relationship(back_populates="deliveries")
    # Loaded only for the alert view (an MME's indications can name 20,000 cells).
    reports: Mapped[list[PeerReport]] = relationship(
        back_populates="delivery", lazy="raise", order_by="PeerReport.id"
    )


class PeerReport(Base):
    """A report a peer sent unasked about a delivery, as it came: an MME's
    Write-Replace-Warning-Indication (cells scheduled), Stop-Warning-Indication (cells
    stopped), or a PWS-Failure-Indication naming cells of the delivery (cells failed).
    Reports only add up (one per eNB is usual), so each is a row of its own."""

    __tablename__ = "cbc_peer_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("cbc_deliveries.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # scheduled | stopped | failed
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    frame: Mapped[bytes] = mapped_column(LargeBinary)

    delivery: Mapped[Delivery] = relationship(back_populates="reports")


class AlertEvent(Base):
    """The alert's history: accepted, updated, delivered per peer, cancelled, ..."""

    __tablename__ = "cbc_alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("cbc_alerts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    what: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class InventoryCell(Base):
    """A cell added to the inventory through the API (the config file has its own list)."""

    __tablename__ = "cbc_inventory"

    cell: Mapped[str] = mapped_column(String(24), primary_key=True)  # CGI or ECGI
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    azimuth: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
