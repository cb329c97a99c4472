"""The operator's commands: db, user and apikey."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.daemon import omnigw, write_config

PASSWORD = "operator-password-1"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path, _, _ = write_config(tmp_path)
    return path


def test_db_commands(config: Path) -> None:
    current = omnigw("db", "current", "--config", str(config))
    assert "behind" in current.stdout
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    assert ": current" in omnigw("db", "current", "--config", str(config)).stdout


def test_user_and_apikey_commands(config: Path) -> None:
    c = ["--config", str(config)]
    assert omnigw("user", "add", "crm@x.org", "--role", "crm", *c).returncode == 1  # not migrated
    omnigw("db", "upgrade", *c)
    added = omnigw(
        "user", "add", "crm@x.org", "--role", "crm", "--password-stdin", *c, stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0 and "crm" in added.stdout
    dup = omnigw("user", "add", "crm@x.org", "--password-stdin", *c, stdin=PASSWORD + "\n")
    assert dup.returncode == 1 and "exists" in dup.stderr
    weak = omnigw("user", "add", "w@x.org", "--password-stdin", *c, stdin="short\n")
    assert weak.returncode == 1 and "password" in weak.stderr
    roles = omnigw("user", "role", "crm@x.org", "--add", "noc", "--remove", "crm", *c)
    assert roles.stdout.strip() == "crm@x.org: noc"
    assert omnigw("user", "role", "crm@x.org", "--add", "wizard", *c).returncode == 1
    assert (
        omnigw(
            "user", "passwd", "crm@x.org", *c, env={"OMNIGW_PASSWORD": "a-new-password!"}
        ).returncode
        == 0
    )
    assert "crm@x.org\tnoc" in omnigw("user", "list", *c).stdout

    created = omnigw(
        "apikey", "create", "--user", "crm@x.org", "--name", "nms", "--permission", "crm:read", *c
    )
    assert created.returncode == 0
    key = re.search(r"Key \(shown only now\): (\S+)", created.stdout)
    assert key is not None
    key_id = key.group(1).split("_")[1].split(".")[0]
    listing = omnigw("apikey", "list", *c).stdout
    assert key_id in listing and key.group(1) not in listing and "active" in listing
    beyond = omnigw(
        "apikey", "create", "--user", "crm@x.org", "--name", "x", "--permission", "user:admin", *c
    )
    assert beyond.returncode == 1 and "does not hold" in beyond.stderr
    assert omnigw("apikey", "revoke", key_id, *c).returncode == 0
    assert "revoked" in omnigw("apikey", "list", *c).stdout
    assert omnigw("apikey", "revoke", "nosuchkey", *c).returncode == 1


def test_version() -> None:
    result = omnigw("--version")
    assert result.returncode == 0 and result.stdout.startswith("omnigw ")
