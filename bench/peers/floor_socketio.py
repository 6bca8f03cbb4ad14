"""B4/B7 floor: aiohttp websockets speaking just enough Engine.IO v4 / Socket.IO v5, raw Redis.

What socket.io-client (websocket transport, default namespace) needs and nothing more: the
Engine.IO OPEN packet, the Socket.IO CONNECT answer, server pings every 25 s, and EVENT packets.
Every socket is in the one broadcast room. A message published on ``--channel`` is the JSON of
one event's payload; each instance wraps it once into a Socket.IO EVENT packet inside one
unmasked websocket text frame and writes those bytes to every local socket's transport in one
loop: no per-socket task, queue or encode. No compression, no auth beyond "a token is given".

Usage: python -m bench.peers.floor_socketio --port P --redis URL --channel C [--event NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import struct
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from redis.asyncio import Redis

PING_INTERVAL_MS = 25_000
PING_TIMEOUT_MS = 20_000
MAX_PAYLOAD = 1_000_000

SOCKETS: web.AppKey[dict[str, asyncio.Transport]] = web.AppKey("sockets", dict)


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked websocket text frame (server to client)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


PING_FRAME = text_frame(b"2")


def broadcast(sockets: dict[str, asyncio.Transport], frame: bytes) -> None:
    for transport in sockets.values():
        if not transport.is_closing():
            transport.write(frame)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def engine_io(request: web.Request) -> web.StreamResponse:
    if request.query.get("transport") != "websocket" or request.query.get("EIO") != "4":
        return web.json_response({"code": 0, "message": "Transport unknown"}, status=400)
    sockets = request.app[SOCKETS]
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_PAYLOAD, autoping=True)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    sid = secrets.token_urlsafe(15)
    handshake = {
        "sid": sid,
        "upgrades": [],
        "pingInterval": PING_INTERVAL_MS,
        "pingTimeout": PING_TIMEOUT_MS,
        "maxPayload": MAX_PAYLOAD,
    }
    await ws.send_str("0" + orjson.dumps(handshake).decode())
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data: str = message.data
            if data.startswith("40"):  # CONNECT to "/", auth in the body
                auth = orjson.loads(data[2:] or "{}")
                if not isinstance(auth, dict) or not auth.get("token"):
                    refusal = {"message": "auth.invalid_token"}
                    transport.write(text_frame(b"44" + orjson.dumps(refusal)))
                    continue
                transport.write(text_frame(b"40" + orjson.dumps({"sid": sid})))
                sockets[sid] = transport
            elif data.startswith("41") or data == "1":  # DISCONNECT, engine CLOSE
                break
            # "3" (pong) and client events need no answer here.
    finally:
        sockets.pop(sid, None)
    return ws


async def pinger(app: web.Application) -> None:
    while True:
        await asyncio.sleep(PING_INTERVAL_MS / 1000)
        broadcast(app[SOCKETS], PING_FRAME)


async def subscriber(app: web.Application, redis_url: str, channel: str, event: str) -> None:
    prefix = b'42["' + event.encode() + b'",'
    client = Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    try:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                broadcast(app[SOCKETS], text_frame(prefix + message["data"] + b"]"))
    finally:
        await pubsub.aclose()
        await client.aclose()


def make_app(redis_url: str, channel: str, event: str) -> web.Application:
    app = web.Application()
    app[SOCKETS] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/socket.io/", engine_io)

    async def background(app: web.Application) -> Any:
        tasks = [
            asyncio.create_task(pinger(app)),
            asyncio.create_task(subscriber(app, redis_url, channel, event)),
        ]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    app.cleanup_ctx.append(background)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--event", default="bench.tick")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    web.run_app(
        make_app(args.redis, args.channel, args.event),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
