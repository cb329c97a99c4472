"""The `omnigw` command: run, check-config, db, user, apikey."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from omnigw import __version__
from omnigw.config import Config, ConfigError, load_config
from omnigw.errors import OmnigwError
from omnigw.identity.permissions import ALL_PERMISSIONS
from omnigw.identity.service import IdentityService
from omnigw.store.base import utcnow
from omnigw.store.engine import session_factory

DEFAULT_CONFIG = Path("config/omnigw.yaml")


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config))


def _read_password(args: argparse.Namespace) -> str:
    """From stdin (--password-stdin), OMNIGW_PASSWORD, or an interactive prompt twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if "OMNIGW_PASSWORD" in os.environ:
        return os.environ["OMNIGW_PASSWORD"]
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise OmnigwError("passwords differ")
    return first


def _with_identity(
    args: argparse.Namespace, action: Callable[[IdentityService], Awaitable[None]]
) -> int:
    from omnigw.daemon import identity_service, store_engine
    from omnigw.store.migrate import is_current

    cfg = _config(args)

    async def main() -> None:
        engine = store_engine(cfg)
        try:
            if not await is_current(engine):
                raise OmnigwError("the store schema is not current: run `omnigw db upgrade`")
            identity = identity_service(cfg, session_factory(engine))
            await identity.ensure_builtin_roles()
            await action(identity)
        finally:
            await engine.dispose()

    asyncio.run(main())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from omnigw.daemon import run

    return run(Path(args.config))


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _config(args)
    print(f"{args.config}: ok (store {cfg.store.url or 'sqlite in ' + str(cfg.state_dir)})")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from omnigw.store.migrate import upgrade

    cfg = _config(args)
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade(cfg.store_url(), args.revision)
    print(f"store at revision {args.revision}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from omnigw.daemon import store_engine
    from omnigw.store.migrate import current_revisions, head_revisions

    cfg = _config(args)

    async def main() -> set[str]:
        engine = store_engine(cfg)
        try:
            return await current_revisions(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(main())
    heads = head_revisions(cfg.store_url())
    state = "current" if current == heads else f"behind (head {', '.join(sorted(heads))})"
    print(f"{', '.join(sorted(current)) or 'empty'}: {state}")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def action(identity: IdentityService) -> None:
        user = await identity.create_user(args.email, password, args.role, args.name)
        print(f"user {user.email} created with roles {', '.join(user.roles) or '(none)'}")

    return _with_identity(args, action)


def cmd_user_passwd(args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def action(identity: IdentityService) -> None:
        await identity.set_password(args.email, password)
        print(f"password of {args.email} changed; its old tokens are revoked")

    return _with_identity(args, action)


def cmd_user_role(args: argparse.Namespace) -> int:
    async def action(identity: IdentityService) -> None:
        user = await identity.set_roles(args.email, args.add, args.remove)
        print(f"{user.email}: {', '.join(user.roles) or '(no roles)'}")

    return _with_identity(args, action)


def cmd_user_list(args: argparse.Namespace) -> int:
    async def action(identity: IdentityService) -> None:
        for user in await identity.list_users():
            flags = " (2FA)" if user.totp_enabled else ""
            flags += " (disabled)" if user.disabled else ""
            print(f"{user.email}\t{','.join(user.roles)}{flags}")

    return _with_identity(args, action)


def cmd_apikey_create(args: argparse.Namespace) -> int:
    expires = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None

    async def action(identity: IdentityService) -> None:
        info, key = await identity.create_api_key(
            args.user, args.name, args.permission or None, expires
        )
        print(f"API key {info.key_id} for {info.owner} ({', '.join(info.permissions)})")
        print(f"Key (shown only now): {key}")

    return _with_identity(args, action)


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    async def action(identity: IdentityService) -> None:
        info = await identity.revoke_api_key(args.key_id)
        print(f"API key {info.key_id} revoked")

    return _with_identity(args, action)


def cmd_apikey_list(args: argparse.Namespace) -> int:
    async def action(identity: IdentityService) -> None:
        for k in await identity.list_api_keys():
            state = "revoked" if k.revoked_at else "active"
            if k.expires_at and k.expires_at <= utcnow():
                state = "expired"
            print(f"{k.masked}\t{k.owner}\t{k.name}\t{state}\t{','.join(k.permissions)}")

    return _with_identity(args, action)


def cmd_sim_bsc(args: argparse.Namespace) -> int:
    """Simulated BSCs for labs and load tests; runs until interrupted."""
    import signal

    import uvloop

    from omnigw.sim.bsc import fleet_address, run_fleet

    host, _, port = args.connect.rpartition(":")
    sources = f"{fleet_address(0)}..{fleet_address(args.count - 1)}"

    def refused(why: str) -> int:
        peers = "\n".join(
            f"    - {{name: bsc{i + 1}, address: {fleet_address(i)}}}" for i in range(args.count)
        )
        print(f"omnigw sim bsc: {why}. The CBC must list these BSCs (config/lab.yaml does):\n"
              f"cbc:\n  peers:\n{peers}", file=sys.stderr)  # fmt: skip
        return 1

    async def main() -> int:
        try:
            fleet = await run_fleet(host, int(port), args.count, args.cells, args.mcc, args.mnc)
        except OSError as exc:
            return refused(f"cannot connect to {args.connect} ({exc.strerror or exc})")
        # The CBC closes a connection from an address it does not know: give it a moment.
        await asyncio.sleep(1.0)
        closed = [i for i, bsc in enumerate(fleet) if bsc.closed.is_set()]
        if closed:
            return refused(f"{args.connect} closed the connections from "
                           f"{', '.join(fleet_address(i) for i in closed)}")  # fmt: skip
        # One process stands in for many BSCs: a full collection over all their cells
        # would pause every one of them at once, and their answers then come in a burst.
        gc.freeze()
        print(
            f"{len(fleet)} simulated BSCs connected to {args.connect} "
            f"(sources {sources}, {args.cells} cells each)",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for bsc in fleet:
            bsc.close()
        return 0

    return uvloop.run(main())


def cmd_sim_mme(args: argparse.Namespace) -> int:
    """Simulated MMEs listening for the CBC; runs until interrupted."""
    import signal

    import uvloop

    from omnigw.sim.mme import fleet_tais, run_fleet

    host, _, port = args.listen.rpartition(":")

    async def main() -> int:
        try:
            fleet = await run_fleet(args.transport, host, int(port), args.count, args.cells,
                                    args.tais, args.plmn)  # fmt: skip
        except OSError as exc:
            print(f"omnigw sim mme: cannot listen on {args.listen} ({exc.strerror or exc})",
                  file=sys.stderr)  # fmt: skip
            return 1
        lines = []
        for i in range(args.count):
            tais = ", ".join(f"{t.plmn}-{t.tac}" for t in fleet_tais(args.plmn, i, args.tais))
            lines.append(f"    - {{name: mme{i + 1}, protocol: sbcap, address: {host}, "
                         f"port: {int(port) + i}, tais: [{tais}]}}")  # fmt: skip
        peers = "\n".join(lines)
        print(f"{len(fleet)} simulated MMEs listening on {host}:{port}.. over {args.transport} "
              f"({args.cells} cells each). The CBC lists them as:\ncbc:\n  sbcap: "
              f"{{transport: {args.transport}}}\n  peers:\n{peers}", flush=True)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for mme, listener in fleet:
            mme.close()
            listener.close()
        return 0

    return uvloop.run(main())


def cmd_sim_ssf(args: argparse.Namespace) -> int:
    """A simulated MSC playing prepaid calls or SMS against the gsmSCF, then a summary."""
    import statistics

    import uvloop

    from omnigw.sim.ssf import CallScenario, SimSsf, SmsScenario, connect_asp, listen_sgp, play

    target = args.connect or args.listen
    host, _, port = target.rpartition(":")
    if args.local_port and not args.local_address:
        print("omnigw sim ssf: --local-port needs --local-address", file=sys.stderr)
        return 2

    async def main() -> int:
        ssf = SimSsf(point_code=args.point_code, scf_point_code=args.scf_point_code)
        try:
            if args.connect:
                local = [args.local_address] if args.local_address else []
                await connect_asp(ssf, args.transport, host, int(port), args.routing_context,
                                  local, args.local_port)  # fmt: skip
            else:
                await listen_sgp(ssf, args.transport, host, int(port))
        except OSError as exc:
            print(f"omnigw sim ssf: cannot reach {target} ({exc.strerror or exc})",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"omnigw sim ssf: waiting for the gsmSCF's ASP on {target} ({args.transport})",
              flush=True)  # fmt: skip
        await ssf.ready.wait()
        scenario: CallScenario | SmsScenario
        if args.sms:
            scenario = SmsScenario(args.calling, args.called, service_key=args.service_key,
                                   version=max(args.version, 3))  # fmt: skip
        else:
            talk = None if args.talk < 0 else args.talk
            scenario = CallScenario(args.calling, args.called, service_key=args.service_key,
                                    version=args.version, mt=args.mt, outcome=args.outcome,
                                    talk_seconds=talk)  # fmt: skip
        tally = await play(ssf, scenario, args.calls, args.concurrency)
        ms = sorted(x * 1000 for x in tally.latencies) or [0.0]
        p99 = ms[max(int(len(ms) * 0.99) - 1, 0)]
        print(f"{args.calls} {'SMS' if args.sms else 'calls'} in {tally.seconds:.2f} s: "
              f"{tally.outcomes}; {tally.transactions} answers, p50 "
              f"{statistics.median(ms):.2f} ms, p99 {p99:.2f} ms")  # fmt: skip
        return 0

    return uvloop.run(main())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnigw", description="omnigw telecom gateway")
    parser.add_argument("--version", action="version", version=f"omnigw {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config file")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", parents=[common], help="run the daemon").set_defaults(func=cmd_run)
    sub.add_parser(
        "check-config", parents=[common], help="validate the config (exit 0/1)"
    ).set_defaults(func=cmd_check_config)

    db = sub.add_parser("db", help="store migrations").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", parents=[common], help="migrate the store to the newest schema")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    db.add_parser(
        "current", parents=[common], help="show the store's schema revision"
    ).set_defaults(func=cmd_db_current)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user", required=True)
    add = user.add_parser("add", parents=[common], help="create a user")
    add.add_argument("email")
    add.add_argument("--role", action="append", default=[], help="repeat for several")
    add.add_argument("--name", default="")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_user_add)
    passwd = user.add_parser("passwd", parents=[common], help="set a user's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=cmd_user_passwd)
    role = user.add_parser("role", parents=[common], help="add or remove roles")
    role.add_argument("email")
    role.add_argument("--add", action="append", default=[])
    role.add_argument("--remove", action="append", default=[])
    role.set_defaults(func=cmd_user_role)
    user.add_parser("list", parents=[common], help="list users").set_defaults(func=cmd_user_list)

    apikey = sub.add_parser("apikey", help="API keys").add_subparsers(dest="apikey", required=True)
    create = apikey.add_parser("create", parents=[common], help="create an API key (shown once)")
    create.add_argument("--user", required=True, help="owner's email")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--permission",
        action="append",
        choices=sorted(ALL_PERMISSIONS),
        help="repeat for several; default: all of the owner's",
    )
    create.add_argument("--expires-days", type=int, default=0)
    create.set_defaults(func=cmd_apikey_create)
    revoke = apikey.add_parser("revoke", parents=[common], help="revoke an API key")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_apikey_revoke)
    apikey.add_parser("list", parents=[common], help="list API keys, masked").set_defaults(
        func=cmd_apikey_list
    )

    sim = sub.add_parser("sim", help="peer simulators for labs").add_subparsers(
        dest="sim", required=True
    )
    bsc = sim.add_parser("bsc", help="simulated BSCs that connect to a CBC over CBSP")
    bsc.add_argument("--connect", required=True, help="the CBC's CBSP HOST:PORT")
    bsc.add_argument("--count", type=int, default=1, help="BSCs, from 127.0.1.1 upwards")
    bsc.add_argument("--cells", type=int, default=10, help="cells per BSC")
    bsc.add_argument("--mcc", default="901")
    bsc.add_argument("--mnc", default="70")
    bsc.set_defaults(func=cmd_sim_bsc)
    mme = sim.add_parser("mme", help="simulated MMEs that the CBC connects to over SBc-AP")
    mme.add_argument("--listen", default="127.0.0.1:29168", help="HOST:PORT of the first MME")
    mme.add_argument("--count", type=int, default=1, help="MMEs, on PORT, PORT+1, ...")
    mme.add_argument("--cells", type=int, default=10, help="cells (ECGIs) per MME")
    mme.add_argument("--tais", type=int, default=1, help="tracking areas per MME")
    mme.add_argument("--plmn", default="901-70")
    mme.add_argument("--transport", choices=["sctp", "tcp"], default="sctp",
                     help="kernel SCTP, or SBc-AP framed over TCP (labs without SCTP)")  # fmt: skip
    mme.set_defaults(func=cmd_sim_mme)
    ssf = sim.add_parser("ssf", help="a simulated MSC (gsmSSF) playing prepaid calls or SMS")
    where = ssf.add_mutually_exclusive_group()
    where.add_argument(
        "--listen",
        default="127.0.0.1:2905",
        help="stand in for the STP: the gsmSCF's ASP connects here",
    )
    where.add_argument("--connect", help="HOST:PORT of an STP to join as an ASP")
    ssf.add_argument("--transport", choices=["sctp", "tcp"], default="sctp")
    ssf.add_argument("--routing-context", type=int, default=100)
    ssf.add_argument("--local-address", help="bind to it (with --local-port)")
    ssf.add_argument("--local-port", type=int, default=0, help="the STP knows its ASPs by it")
    ssf.add_argument("--point-code", type=int, default=100)
    ssf.add_argument("--scf-point-code", type=int, default=200)
    ssf.add_argument("--calls", type=int, default=1, help="calls (or SMS) to play")
    ssf.add_argument("--concurrency", type=int, default=1)
    ssf.add_argument("--calling", default="34600000001")
    ssf.add_argument("--called", default="34600000002")
    ssf.add_argument("--service-key", type=int, default=100)
    ssf.add_argument("--version", type=int, choices=[2, 3, 4], default=3)
    ssf.add_argument("--mt", action="store_true", help="mobile terminated")
    ssf.add_argument(
        "--outcome",
        default="answer",
        choices=["answer", "busy", "no_answer", "abandon", "route_failure"],
    )
    ssf.add_argument(
        "--talk",
        type=float,
        default=60.0,
        help="seconds talked (simulated time); -1: until released",
    )
    ssf.add_argument("--sms", action="store_true", help="SMS instead of calls (CAP v3/v4)")
    ssf.set_defaults(func=cmd_sim_ssf)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"omnigw: {exc}", file=sys.stderr)
        return 1
    except OmnigwError as exc:
        print(f"omnigw: {exc.reason}", file=sys.stderr)
        return 1
    return code
