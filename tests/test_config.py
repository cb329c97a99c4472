"""The config loader: defaults, strictness, error paths, secrets from env and files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnigw.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def test_empty_file_is_a_complete_config() -> None:
    cfg = parse_config("")
    assert str(cfg.api.bind) == "127.0.0.1" and cfg.api.port == 8080
    assert str(cfg.metrics.bind) == "127.0.0.1" and cfg.metrics.port == 9464
    assert cfg.store_url().startswith("sqlite+aiosqlite:///")
    assert cfg.ocs.backend == "embedded"


def test_shipped_example_config_is_valid() -> None:
    load_config(ROOT / "config" / "omnigw.yaml")


def test_every_section_has_its_place() -> None:
    cfg = parse_config("")
    for section in ("api", "metrics", "store", "log", "cbc", "diameter", "camel", "ocs", "crm"):
        assert hasattr(cfg, section)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api: {port: 70000}", "api.port: Input should be less than or equal to 65535"),
        ("api: {bind: nowhere}", "api.bind"),
        ("api: {prot: 1}", "api.prot: Extra inputs are not permitted"),
        ("cbc: {anything: 1}", "cbc.anything: Extra inputs are not permitted"),
        ("log: {level: LOUD}", "log.level: Input should be"),
        ("api: {login_throttle: {max_failures: 0}}", "api.login_throttle.max_failures"),
        (
            "cbc: {peers: [{name: b, address: 10.0.0.1, plmn: 001-01, cells: [001-02-1-1]}]}",
            "cells ['001-02-1-1'] are not of the peer's plmn 001-01",
        ),
        ("cbc: {peers: [{name: b, address: 10.0.0.1, plmn: '1-1'}]}", "cbc.peers.0.plmn"),
        ("- a list", "top level must be a mapping"),
        ("a: [unclosed", "not valid YAML"),
    ],
)
def test_errors_name_the_bad_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "test.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("test.yaml")


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGW_TEST_JWT", "from-env")
    secret_file = tmp_path / "db.pw"
    secret_file.write_text("from-file\n")
    cfg = parse_config(
        f"""
api: {{jwt_secret: {{env: OMNIGW_TEST_JWT}}}}
store: {{url: "postgresql+asyncpg://u:{{password}}@h/db", password: {{file: {secret_file}}}}}
"""
    )
    assert cfg.api.jwt_secret is not None
    assert cfg.api.jwt_secret.get_secret_value() == "from-env"
    assert cfg.store_url() == "postgresql+asyncpg://u:from-file@h/db"
    assert "from-env" not in repr(cfg) and "from-file" not in repr(cfg)


def test_missing_secret_sources_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.jwt_secret.*OMNIGW_SURELY_UNSET"):
        parse_config("api: {jwt_secret: {env: OMNIGW_SURELY_UNSET}}")
    with pytest.raises(ConfigError, match="cannot read secret file"):
        parse_config(f"api: {{jwt_secret: {{file: {tmp_path / 'nope'}}}}}")


def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("api: {port: 8081}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: {port: x}\n")
    ok = subprocess.run(
        [sys.executable, "-m", "omnigw", "check-config", "--config", str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    fail = subprocess.run(
        [sys.executable, "-m", "omnigw", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fail.returncode == 1 and "api.port" in fail.stderr


def test_a_bad_address_is_one_plain_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "omnigw.yaml"
    config.write_text("cbc:\n  peers:\n    - {name: bsc1, address: 1.2.3}\n")
    result = subprocess.run(
        [sys.executable, "-m", "omnigw", "check-config", "--config", str(config)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "peers" in line]
    assert lines == ["cbc.peers.0.address: not an IPv4 or IPv6 address: '1.2.3'"]


def test_camel_needs_links_when_enabled_and_local_ports_need_addresses() -> None:
    with pytest.raises(ConfigError, match=r"camel: camel\.enabled needs at least one entry"):
        parse_config("camel: {enabled: true}")
    with pytest.raises(ConfigError, match="local_port needs local_addresses"):
        parse_config("camel: {links: [{name: stp, addresses: [10.0.0.1], local_port: 3002}]}")
    with pytest.raises(ConfigError, match="idle_seconds must exceed period_seconds"):
        parse_config("camel: {period_seconds: 600, idle_seconds: 300}")
    cfg = parse_config("camel: {enabled: true, links: [{name: stp, addresses: [10.0.0.1]}]}")
    assert cfg.camel.links[0].port == 2905 and cfg.camel.call_causes.no_credit == 31
