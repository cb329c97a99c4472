"""Structured log lines: JSON, request ids, journald mode, masking of secret-looking keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from omnigw.config import LogConfig
from omnigw.logs import JsonFormatter, TextFormatter, configure, request_id


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(with_timestamp=True))
    log = logging.getLogger("omnigw.test")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        log.removeHandler(handler)


def test_json_line_with_extras_and_request_id(captured: io.StringIO) -> None:
    token = request_id.set("r-1")
    try:
        logging.getLogger("omnigw.test").info("hello", extra={"peer": "bsc1", "count": 2})
    finally:
        request_id.reset(token)
    line = json.loads(captured.getvalue())
    assert line["msg"] == "hello" and line["level"] == "INFO" and line["logger"] == "omnigw.test"
    assert line["peer"] == "bsc1" and line["count"] == 2 and line["request_id"] == "r-1"
    assert line["ts"].endswith("Z")


def test_secret_looking_keys_are_masked(captured: io.StringIO) -> None:
    logging.getLogger("omnigw.test").info(
        "oops", extra={"password": "hunter2", "api_key": "omgw_x", "refresh_token": "t"}
    )
    line = json.loads(captured.getvalue())
    assert line["password"] == line["api_key"] == line["refresh_token"] == "***"


def test_no_timestamp_under_journald(monkeypatch: pytest.MonkeyPatch) -> None:
    record = logging.LogRecord("omnigw", logging.INFO, "", 0, "m", None, None)
    assert "ts" not in json.loads(JsonFormatter(with_timestamp=False).format(record))
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    configure(LogConfig(format="text"))
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_omnigw", False))
    assert isinstance(handler.formatter, TextFormatter)
    assert not handler.formatter.format(record)[:4].isdigit()


def test_levels_per_logger_and_reload_resets_them() -> None:
    configure(LogConfig(level="WARNING", levels={"omnigw.api": "DEBUG"}))
    assert logging.getLogger("omnigw.api").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("omnigw.daemon").getEffectiveLevel() == logging.WARNING
    configure(LogConfig(level="INFO"))
    assert logging.getLogger("omnigw.api").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() == logging.WARNING
