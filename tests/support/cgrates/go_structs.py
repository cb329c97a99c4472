"""Writes `structs.json`: the Go argument structs of the CGRateS calls omnigw makes, for CGRateS
master (19463bd) and v0.10 (8fae6d6), read from a clone of CGRateS's repository.

The wire contract test (tests/ocs/test_cgrates_contract.py) checks every request omnigw
sends against these, so the schema is CGRateS's own declaration, not our reading of it.
Embedded structs are flattened as encoding/json promotes their fields.

    python -m tests.support.cgrates.go_structs /path/to/cgrates > tests/support/cgrates/structs.json
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

VERSIONS = {"master": "19463bdc9", "v0.10": "8fae6d6"}

# method -> (package directory, struct), per version where they differ
METHODS: dict[str, dict[str, tuple[str, str]]] = {
    "master": {
        "SessionSv1.InitiateSession": ("sessions", "V1InitSessionArgs"),
        "SessionSv1.UpdateSession": ("sessions", "V1UpdateSessionArgs"),
        "SessionSv1.TerminateSession": ("sessions", "V1TerminateSessionArgs"),
        "SessionSv1.ProcessMessage": ("sessions", "V1ProcessMessageArgs"),
        "SessionSv1.ProcessCDR": ("utils", "CGREvent"),
        "APIerSv2.SetAccount": ("engine", "AttrSetAccount"),
        "APIerSv1.RemoveAccount": ("utils", "AttrRemoveAccount"),
        "APIerSv1.ExecuteAction": ("utils", "AttrExecuteAction"),
        "APIerSv2.GetAccount": ("utils", "AttrGetAccount"),
        "APIerSv2.GetCDRs": ("utils", "RPCCDRsFilter"),
        "ConfigSv1.GetConfig": ("config", "SectionWithAPIOpts"),
    },
    "v0.10": {
        "SessionSv1.InitiateSession": ("sessions", "V1InitSessionArgs"),
        "SessionSv1.UpdateSession": ("sessions", "V1UpdateSessionArgs"),
        "SessionSv1.TerminateSession": ("sessions", "V1TerminateSessionArgs"),
        "SessionSv1.ProcessMessage": ("sessions", "V1ProcessMessageArgs"),
        "SessionSv1.ProcessCDR": ("utils", "CGREventWithArgDispatcher"),
        "APIerSv2.SetAccount": ("apier/v2", "AttrSetAccount"),
        "APIerSv1.RemoveAccount": ("utils", "AttrRemoveAccount"),
        "APIerSv1.ExecuteAction": ("utils", "AttrExecuteAction"),
        "APIerSv2.GetAccount": ("utils", "AttrGetAccount"),
        "APIerSv2.GetCDRs": ("utils", "RPCCDRsFilter"),
    },
}
_FIELD = re.compile(r"^\s*([A-Z]\w*(?:\s*,\s*[A-Z]\w*)*)\s+([^\s`/]+)\s*(`[^`]*`)?")
_EMBEDDED = re.compile(r"^\s*\*?((?:\w+\.)?[A-Z]\w*)\s*(?://.*)?$")
_TAG = re.compile(r'json:"([^",]*)')


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def _find(repo: str, rev: str, package: str, name: str) -> tuple[str, int, list[str]]:
    found = _git(repo, "grep", "-n", f"^type {name} struct", rev, "--", f"{package}/*.go")
    line = next(x for x in found.splitlines() if "_test.go" not in x)
    _, path, number = line.split(":", 2)[0:3]
    start = int(number.split(":")[0])
    text = _git(repo, "show", f"{rev}:{path}").splitlines()
    body = []
    for row in text[start:]:
        if row.startswith("}"):
            break
        body.append(row)
    return path, start, body


def _struct(repo: str, rev: str, package: str, name: str) -> dict[str, Any]:
    path, line, body = _find(repo, rev, package, name)
    fields: dict[str, str] = {}
    embedded: list[str] = []
    for row in body:
        if not row.strip() or row.strip().startswith("//"):
            continue
        if match := _EMBEDDED.match(row):
            qualified = match.group(1)
            pkg, _, inner = qualified.rpartition(".")
            sub = _struct(repo, rev, pkg or package, inner)
            embedded.append(f"{qualified} ({sub['source']})")
            for field, kind in sub["fields"].items():
                fields.setdefault(field, kind)
            continue
        if match := _FIELD.match(row):
            names, kind, tag = match.groups()
            for field in re.split(r"\s*,\s*", names):
                tagged = _TAG.search(tag or "")
                if tagged and tagged.group(1) == "-":
                    continue
                fields[tagged.group(1) if tagged and tagged.group(1) else field] = kind
    return {"source": f"{path}:{line}", "fields": fields, "embedded": embedded}


def main(repo: str) -> None:
    out: dict[str, Any] = {}
    for version, rev in VERSIONS.items():
        out[version] = {
            method: {"struct": f"{package}.{name}", **_struct(repo, rev, package, name)}
            for method, (package, name) in METHODS[version].items()
        }
    json.dump({"revisions": VERSIONS, "methods": out}, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
