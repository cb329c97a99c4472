"""Structured logging: one JSON object per line, with the request id of the current task.

Under journald (JOURNAL_STREAM is set) the timestamp is left out because the
journal stamps every line itself. Values of keys that look like secrets are
masked as a last line of defence; code must still never pass secrets to a logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

from omnigw.config import LogConfig

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_KEYS = ("password", "token", "secret", "api_key", "apikey", "authorization", "totp")
# Attributes every LogRecord has; anything else was passed through `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _mask(key: str, value: Any) -> Any:
    lowered = key.lower()
    if any(word in lowered for word in _SECRET_KEYS):
        return "***"
    return value


class JsonFormatter(logging.Formatter):
    """Render a record and its `extra=` fields as one JSON line."""

    def __init__(self, with_timestamp: bool) -> None:
        super().__init__()
        self.with_timestamp = with_timestamp

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {}
        if self.with_timestamp:
            line["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
                f".{int(record.msecs):03d}Z"
            )
        line["level"] = record.levelname
        line["logger"] = record.name
        line["msg"] = record.getMessage()
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                line[key] = _mask(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal; extras appended as key=value."""

    def __init__(self, with_timestamp: bool) -> None:
        fmt = "%(asctime)s " if with_timestamp else ""
        super().__init__(fmt + "%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = [
            f"{k}={_mask(k, v)}"
            for k, v in vars(record).items()
            if k not in _RECORD_ATTRS and not k.startswith("_")
        ]
        rid = request_id.get()
        if rid is not None:
            extras.insert(0, f"request_id={rid}")
        return f"{text} {' '.join(extras)}" if extras else text


def under_journald() -> bool:
    return "JOURNAL_STREAM" in os.environ


def configure(cfg: LogConfig) -> None:
    """Install the omnigw handler on the root logger; safe to call again on reload."""
    stamp = not under_journald()
    formatter: logging.Formatter = (
        JsonFormatter(stamp) if cfg.format == "json" else TextFormatter(stamp)
    )
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_omnigw", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler._omnigw = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter)
    root.setLevel(cfg.level)
    # Forget earlier per-logger overrides so a reload can remove one.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("omnigw", "aiohttp", "sqlalchemy", "alembic", "aiosqlite")):
            logging.getLogger(name).setLevel(logging.NOTSET)
    # Library chatter stays out unless asked for per logger; SQL is never logged at INFO
    # by default because statement parameters can carry password hashes.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG, TOTP secrets included.
    for noisy in ("sqlalchemy", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name, level in cfg.levels.items():
        logging.getLogger(name).setLevel(level)
