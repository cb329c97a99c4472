"""python -m tests.support.cgrates --port 2012 [--http-port 2080]
[--account 4911=10000000:*data] [--action Action_plan=1000000:*data]"""

from __future__ import annotations

import argparse
import asyncio
import json

import uvloop

from tests.support.cgrates.server import Cgrates


def _spec(text: str) -> tuple[str, str, int]:
    name, rest = text.split("=")
    amount, tor = rest.split(":")
    return name, tor, int(amount)


async def _main(port: int, http_port: int, accounts: list[str], actions: list[str]) -> None:
    cgrates = Cgrates()
    for spec in accounts:
        cgrates.add_account(*_spec(spec))
    for spec in actions:
        cgrates.add_action(*_spec(spec))
    await cgrates.start(port, http_port)
    print(json.dumps({"port": cgrates.port, "http_port": cgrates.http_port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="strict CGRateS SessionS stand-in")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--account", action="append", default=[], help="NAME=AMOUNT:TOR")
    parser.add_argument("--action", action="append", default=[], help="ACTIONS_ID=UNITS:TOR")
    args = parser.parse_args()
    uvloop.run(_main(args.port, args.http_port, args.account, args.action))
