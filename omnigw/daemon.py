"""Composition root: builds the services from the config, runs them, reloads and drains.

Start order follows the dependencies (store -> identity -> API -> metrics); READY=1
goes out only after every listener is bound, and SIGTERM drains in reverse.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw import __version__, logs
from omnigw.api.app import ApiServer, build_app
from omnigw.api.context import ApiContext
from omnigw.camel.service import CamelService
from omnigw.cbc import api as cbc_api
from omnigw.cbc import intake as cbc_intake
from omnigw.cbc import inventory
from omnigw.cbc.areas import Areas
from omnigw.cbc.service import CbcService
from omnigw.config import Config, ConfigError, DiameterConfig, OcsConfig, load_config
from omnigw.crm import api as crm_api
from omnigw.crm.service import CrmService
from omnigw.crm_bridge import api as bridge_api
from omnigw.crm_bridge.jobs import Provisioner
from omnigw.crm_bridge.plays import Plays
from omnigw.crm_bridge.steps import Tools
from omnigw.crm_bridge.subscribers import SubscriberIndex
from omnigw.diameter.codec import Avp
from omnigw.diameter.gy import AccountResolver, GyApplication, account_resolver
from omnigw.diameter.node import DiameterNode
from omnigw.diameter.peer import ORIGIN_HOST, ORIGIN_REALM, Identity, Policy
from omnigw.identity.service import IdentityService
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import TokenIssuer, load_or_create_key
from omnigw.metrics import CONFIG_RELOADS, MetricsServer, watch_loop_lag
from omnigw.ocs import api as ocs_api
from omnigw.ocs.backends import build_ocs
from omnigw.ocs.charge import Ocs
from omnigw.store.engine import SessionFactory, create_engine, session_factory
from omnigw.store.migrate import is_current
from omnigw.systemd import Notifier

log = logging.getLogger("omnigw.daemon")

ADMIN_PASSWORD_FILE = "initial-admin-password"


def diameter_node(cfg: DiameterConfig, gy: GyApplication) -> DiameterNode:
    identity = Identity(cfg.origin_host, cfg.origin_realm, (cfg.bind,), state_id=int(time.time()))
    policy = Policy(
        frozenset(p.host for p in cfg.peers), frozenset(cfg.realms), cfg.watchdog_seconds
    )
    return DiameterNode(identity, policy, str(cfg.bind), cfg.port, {4: gy})


def gy_application(
    cfg: DiameterConfig, ocs: Ocs, resolve: AccountResolver | None = None
) -> GyApplication:
    origin = [
        Avp.of_text(ORIGIN_HOST, cfg.origin_host),
        Avp.of_text(ORIGIN_REALM, cfg.origin_realm),
    ]
    return GyApplication(cfg.gy, ocs, origin, resolve)


def ansible_vars(cfg: OcsConfig) -> dict[str, object]:
    """`crm_config` as OmniCRM's playbooks read it (CGRateS host:port of /jsonrpc, tenant)."""
    netloc = httpx.URL(cfg.cgrates.url).netloc.decode()
    return {"crm_config": {"ocs": {"cgrates": netloc, "ocsTenant": cfg.cgrates.tenant}}}


class StartupError(Exception):
    """The daemon cannot start; the message tells the operator what to do."""


def store_engine(cfg: Config) -> AsyncEngine:
    return create_engine(cfg.store_url(), cfg.store.pool_size, cfg.store.echo_sql)


def token_issuer(cfg: Config) -> TokenIssuer:
    secret = cfg.api.jwt_secret
    key = (
        secret.get_secret_value().encode()
        if secret is not None
        else load_or_create_key(cfg.state_dir / "jwt.key")
    )
    return TokenIssuer(key, cfg.api.access_token_ttl_seconds, cfg.api.refresh_token_ttl_seconds)


def identity_service(cfg: Config, sessions: SessionFactory) -> IdentityService:
    throttle = LoginThrottle(
        cfg.api.login_throttle.max_failures, cfg.api.login_throttle.window_seconds
    )
    return IdentityService(sessions, token_issuer(cfg), throttle, cfg.api.auth_cache_seconds)


def _announce_admin_password(cfg: Config, password: str) -> None:
    """Show the generated first password once, never through the logger.

    Under journald stderr would land in the journal, so the password goes to
    a 0600 file in the state directory instead and the log names the file.
    """
    if logs.under_journald() or not sys.stderr.isatty():
        path = cfg.state_dir / ADMIN_PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        log.warning(
            "created the first admin; its one-time password is in a file readable by the"
            " service user only: read it, log in, change it, delete the file",
            extra={"user": cfg.api.admin_email, "file": str(path)},
        )
        return
    print(
        f"\n  First start: created admin user {cfg.api.admin_email}\n"
        f"  One-time password (shown only now): {password}\n"
        f"  Change it with: omnigw user passwd {cfg.api.admin_email}\n",
        file=sys.stderr,
        flush=True,
    )


class Daemon:
    def __init__(self, cfg: Config, config_path: Path | None, notifier: Notifier) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.notifier = notifier
        self._engine: AsyncEngine | None = None
        self._api: ApiServer | None = None
        self._metrics: MetricsServer | None = None
        self._context: ApiContext | None = None
        self.cbc: CbcService | None = None
        self._areas: Areas | None = None
        self.ocs: Ocs | None = None
        self.subscribers: SubscriberIndex | None = None
        self.provisioner: Provisioner | None = None
        self.gy: GyApplication | None = None
        self.diameter: DiameterNode | None = None
        self.camel: CamelService | None = None
        self._reload_lock = asyncio.Lock()

    @property
    def api(self) -> ApiServer:
        if self._api is None:
            raise RuntimeError("daemon not started")
        return self._api

    async def _store_ready(self) -> bool:
        if self._engine is None:
            return False
        try:
            async with asyncio.timeout(2), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means not ready; /readyz says which check failed
            return False
        return True

    async def start(self) -> None:
        cfg = self.cfg
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self._engine = store_engine(cfg)
        try:
            current = await is_current(self._engine)
        except Exception as exc:
            raise StartupError(f"cannot open the store: {exc}") from None
        if not current:
            raise StartupError("the store schema is not current: run `omnigw db upgrade` first")
        identity = identity_service(cfg, session_factory(self._engine))
        await identity.ensure_builtin_roles()
        generated = await identity.ensure_admin(
            cfg.api.admin_email, os.environ.get(cfg.api.admin_password_env)
        )
        if generated is not None:
            _announce_admin_password(cfg, generated)
        sessions = session_factory(self._engine)
        self.ocs, accounts = build_ocs(cfg.ocs, sessions, cfg.state_dir)
        await self.ocs.start()
        crm = CrmService(sessions)
        self.subscribers = SubscriberIndex(cfg.crm, sessions)
        await self.subscribers.start()
        crm.listeners.append(self.subscribers.changed)
        tools = Tools(sessions, accounts, ansible_vars(cfg.ocs))
        self.provisioner = Provisioner(tools, Plays(cfg.crm), self.subscribers.refresh_service)
        await self.provisioner.start()
        self.cbc = CbcService(cfg.cbc, sessions)
        await self.cbc.start()
        if cfg.diameter.enabled:
            crm_lookup = self.subscribers.resolve if cfg.diameter.gy.account_from == "crm" else None
            self.gy = gy_application(cfg.diameter, self.ocs, crm_lookup)
            await self.gy.start()
            self.diameter = diameter_node(cfg.diameter, self.gy)
            await self.diameter.start()
        if cfg.camel.enabled:
            by_crm = cfg.camel.account_from == "crm"
            resolve = (self.subscribers.resolve if by_crm
                       else account_resolver(cfg.camel.account_from))  # fmt: skip
            self.camel = CamelService(cfg.camel, self.ocs, resolve)
            await self.camel.start()
        self._context = ApiContext(
            identity=identity, settings=cfg.api, readiness={"store": self._store_ready}
        )
        app = build_app(
            self._context, [cbc_api.ROUTES, ocs_api.ROUTES, crm_api.ROUTES, bridge_api.ROUTES]
        )
        app[ocs_api.OCS] = self.ocs
        app[crm_api.CRM] = crm
        app[bridge_api.PROVISIONER] = self.provisioner
        app[bridge_api.ACCOUNTS] = accounts
        areas = self._areas = Areas(cfg.cbc)
        areas.set_stored(await inventory.load(sessions))
        await areas.prepare()
        app[cbc_intake.SERVICE] = self.cbc
        app[cbc_intake.AREAS] = areas
        app[cbc_intake.SESSIONS] = sessions
        self._api = ApiServer(app, str(cfg.api.bind), cfg.api.port, cfg.api.drain_grace_seconds,
                              cfg.api.idle_seconds)  # fmt: skip
        await self._api.start()
        if cfg.metrics.enabled:
            self._metrics = MetricsServer(cfg.metrics)
            await self._metrics.start()
        log.info(
            "omnigw started",
            extra={
                "version": __version__,
                "api": f"{cfg.api.bind}:{self._api.bound_port()}",
                "metrics": f"{cfg.metrics.bind}:{cfg.metrics.port}" if self._metrics else None,
                "diameter": f"{cfg.diameter.bind}:{self.diameter.bound_port()}"
                if self.diameter
                else None,
                "ocs": cfg.ocs.backend,
                "store": self._engine.url.render_as_string(hide_password=True),
            },
        )

    def apply(self, new: Config) -> None:
        """Apply what can change without a restart; say what needs one."""
        old = self.cfg
        logs.configure(new.log)
        needs_restart = [
            name
            for name, before, after in (
                ("api.bind/port", (old.api.bind, old.api.port), (new.api.bind, new.api.port)),
                ("metrics", old.metrics, new.metrics),
                ("store", old.store, new.store),
                ("state_dir", old.state_dir, new.state_dir),
                ("api.jwt_secret", old.api.jwt_secret, new.api.jwt_secret),
                ("api.max_body_bytes", old.api.max_body_bytes, new.api.max_body_bytes),
                ("cbc", old.cbc, new.cbc),
                ("diameter", old.diameter, new.diameter),
                ("camel", old.camel, new.camel),
                ("ocs", old.ocs, new.ocs),
                ("crm", old.crm, new.crm),
            )
            if before != after
        ]
        if needs_restart:
            log.warning("these changes take effect after a restart", extra={"keys": needs_restart})
        if self._context is not None:
            identity = self._context.identity
            identity.throttle.max_failures = new.api.login_throttle.max_failures
            identity.throttle.window = new.api.login_throttle.window_seconds
            identity.cache.ttl = new.api.auth_cache_seconds
            identity.cache.clear()
            identity.tokens.set_ttls(
                new.api.access_token_ttl_seconds, new.api.refresh_token_ttl_seconds
            )
            self._context.settings = new.api
        self.cfg = new

    async def reload(self) -> bool:
        """SIGHUP: re-read and validate the file; a bad file keeps the running config."""
        async with self._reload_lock:
            self.notifier.reloading()
            try:
                if self.config_path is None:
                    raise ConfigError("started without a config file")
                new = load_config(self.config_path)
            except ConfigError as exc:
                CONFIG_RELOADS.labels("rejected").inc()
                log.error("reload rejected; keeping the running config", extra={"error": str(exc)})
                self.notifier.ready("running (last reload rejected)")
                return False
            self.apply(new)
            CONFIG_RELOADS.labels("applied").inc()
            log.info("config reloaded")
            self.notifier.ready()
            return True

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish within the grace period, close."""
        if self._context is not None:
            self._context.draining = True
        if self.gy is not None:
            self.gy.drain()  # new Gy sessions go to another server from now on
        if self._api is not None:
            await self._api.stop()
        if self.provisioner is not None:
            await self.provisioner.stop(self.cfg.api.drain_grace_seconds)
        if self.camel is not None:
            await self.camel.stop()  # open dialogues end with what was reported
        if self.subscribers is not None:
            await self.subscribers.close()
        if self.diameter is not None:
            await self.diameter.stop()  # DPR to every peer
        if self.gy is not None:
            await self.gy.stop()
        if self._metrics is not None:
            await self._metrics.stop()
        if self.cbc is not None:
            await self.cbc.stop()
        if self._areas is not None:
            self._areas.close()
        if self.ocs is not None:
            await self.ocs.close()  # flushes balances
        if self._engine is not None:
            await self._engine.dispose()
        log.info("omnigw stopped")


async def serve(cfg: Config, config_path: Path | None) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    notifier = Notifier()
    daemon = Daemon(cfg, config_path, notifier)
    try:
        await daemon.start()
    except (StartupError, OSError) as exc:
        log.error("cannot start", extra={"error": str(exc)})
        await daemon.stop()
        return 1
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[bool]] = set()

    def on_hup() -> None:
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    # What startup built (config, cell inventory, loaded alerts) lives as long as we do:
    # keep it out of the cyclic collector, whose full passes would otherwise stall the loop.
    gc.freeze()
    notifier.ready()
    watchdog = None
    interval = notifier.watchdog_interval()
    if interval is not None:
        watchdog = loop.create_task(_watchdog(notifier, interval))
    lag = loop.create_task(watch_loop_lag())
    await stopping.wait()
    notifier.stopping()
    log.info("draining", extra={"grace_seconds": cfg.api.drain_grace_seconds})
    lag.cancel()
    if watchdog is not None:
        watchdog.cancel()
    await daemon.stop()
    return 0


async def _watchdog(notifier: Notifier, interval: float) -> None:
    # Pinged from the event loop itself: a stuck loop stops the pings and systemd restarts us.
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


def run(config_path: Path) -> int:
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        print(f"omnigw: {exc}", file=sys.stderr)
        return 1
    logs.configure(cfg.log)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(cfg, config_path))
