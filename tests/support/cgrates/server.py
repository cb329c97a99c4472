"""The stand-in's endpoints: JSON-RPC over raw TCP (:2012) and over HTTP (:2080/jsonrpc),
served as CGRateS serves them, and the handles tests use to set it up and crash it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.support.cgrates.apier import APIER, Apier
from tests.support.cgrates.sessions import FLAGS, SessionS, check
from tests.support.cgrates.state import CgrError, ExtraBalance, State


class Cgrates:
    def __init__(self, state: State | None = None, latency: float = 0.0) -> None:
        self.state = state or State()
        self.latency = latency
        self.sessions = SessionS(self.state)
        self.apier = Apier(self.state)
        self._servers: list[asyncio.Server] = []
        self._runner: web.AppRunner | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.http_port = 0

    # --- set-up, as an operator would load a tariff plan ---------------------------------

    def add_account(self, account: str, tor: str, amount: int) -> None:
        self.state.accounts.setdefault(account, {})[tor] = amount

    def add_balance(self, account: str, balance: ExtraBalance) -> None:
        """An expired or disabled balance beside the account's active one."""
        assert balance.disabled or balance.expires[:4] != "0001", "only inactive balances"
        self.state.accounts.setdefault(account, {})
        self.state.extra_balances.setdefault(account, []).append(balance)

    def add_action(self, actions_id: str, tor: str, units: int) -> None:
        """Like APIerSv1.SetActions with one *topup of `units` on `tor`."""
        self.state.actions.setdefault(actions_id, {})[tor] = units

    def charged(self, account: str, tor: str, initial: int) -> int:
        """What the account paid so far, reservations of live sessions excluded."""
        held = sum(
            s.reserved for s in self.state.sessions.values()
            if s.account == account and s.tor == tor
        )  # fmt: skip
        return initial - self.state.balance(account, tor) - held

    # --- one call ------------------------------------------------------------------------

    def call(self, method: str, params: Any) -> Any:
        if self.state.record:
            self.state.requests.append((method, params))
        if method in APIER:
            self.state.calls[method] += 1
            return self.apier.call(method, params)
        if method not in FLAGS:
            raise CgrError(f"rpc: can't find method {method}")
        args = check(method, params)
        self.state.calls[method] += 1
        # The *rpc_responses cache, by method and event ID, holds errors as well as results
        # (sessions.go 2501-2515); with limit 0 there is none.
        cache_key = (method, args["ID"])
        cached = self.state.rpc_responses_limit != 0
        if cached and cache_key in self.state.cache:
            result, error = self.state.cache[cache_key]
            if error is not None:
                raise CgrError(error)
            return result
        try:
            reply = self.sessions.dispatch(method, args["Event"], args["ID"])
        except CgrError as exc:
            if cached:
                self.state.cache[cache_key] = (None, str(exc))
            raise
        if cached:
            self.state.cache[cache_key] = (reply, None)
        return reply

    def _answer(self, request: Any) -> dict[str, Any]:
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict):
                raise CgrError("request must be an object")
            result = self.call(str(request.get("method")), request.get("params"))
        except CgrError as exc:
            return {"id": request_id, "result": None, "error": str(exc)}
        return {"id": request_id, "result": result, "error": None}

    # --- transports ----------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while line := await reader.readline():
                if self.latency:
                    await asyncio.sleep(self.latency)
                reply = self._answer(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
        except (ConnectionError, ValueError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _serve_http(self, request: web.Request) -> web.Response:
        """cores/server.go 186-198: any HTTP method, the body through the JSON-RPC codec, the
        codec's answer (one JSON object and a newline) with status 200, errors included."""
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        reply = json.dumps(self._answer(body)) + "\n"
        return web.Response(text=reply, content_type="application/json")

    async def start(self, port: int = 0, http_port: int = 0) -> None:
        server = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
        self._servers = [server]
        self.port = server.sockets[0].getsockname()[1]
        app = web.Application()
        app.router.add_route("*", "/jsonrpc", self._serve_http)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", http_port)
        await site.start()
        self.http_port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Like a crash: listeners and connections go, sessions are lost, accounts stay."""
        for server in self._servers:
            server.close()
        for writer in list(self._conns):
            writer.transport.abort()
        for server in self._servers:
            await server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()
        for session in self.state.sessions.values():
            # CGRateS debits a reservation in advance; a crash loses the session, not the debit.
            self.state.lost[session.account] += session.reserved
        self.state.sessions.clear()
        self.state.closed.clear()
        self.state.cache.clear()

    async def restart(self) -> None:
        await self.start(self.port, self.http_port)
