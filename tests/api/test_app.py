"""Draining: stop() stops accepting at once but lets in-flight requests finish."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from omnigw.api.app import ApiServer, build_app
from omnigw.api.context import ApiContext
from omnigw.api.routes import Access, Route
from omnigw.config import ApiConfig
from omnigw.identity.service import IdentityService
from tests.support.ports import free_port


async def test_stop_finishes_in_flight_requests_and_refuses_new_ones(
    identity: IdentityService,
) -> None:
    entered = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        entered.set()
        await asyncio.sleep(0.5)
        return web.json_response({"done": True})

    ctx = ApiContext(identity=identity, settings=ApiConfig())
    extra = [Route("GET", "/slow", slow, Access.PUBLIC, "test", "test")]
    port = free_port()
    server = ApiServer(build_app(ctx, [extra]), "127.0.0.1", port, grace=5.0)
    await server.start()
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/slow"))
        await entered.wait()
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.1)
        try:
            async with aiohttp.ClientSession() as fresh:
                await fresh.get(f"http://127.0.0.1:{port}/healthz")
            refused = False
        except aiohttp.ClientConnectionError:
            refused = True
        response = await in_flight
        assert response.status == 200 and await response.json() == {"done": True}
        await stopping
    assert refused


async def test_a_client_that_never_finishes_its_headers_is_cut_off(
    identity: IdentityService,
) -> None:
    ctx = ApiContext(identity=identity, settings=ApiConfig())
    port = free_port()
    server = ApiServer(build_app(ctx), "127.0.0.1", port, grace=1.0, idle_seconds=0.4)
    await server.start()
    try:
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        for _, writer in slow:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and then nothing more
        async with aiohttp.ClientSession() as session:  # others are served meanwhile
            assert (await session.get(f"http://127.0.0.1:{port}/healthz")).status == 200
        for reader, _ in slow:  # each is closed by the server, not left to hang
            assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        await server.stop()
