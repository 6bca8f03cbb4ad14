"""B4 publisher for ours and the floor (the Node peer's is bench/peers/node/publish.mjs).

Usage: python -m bench.b4_publish --mode ours|floor --redis URL --channel C --room R
         [--event bench.tick] --rates 10,20,40 --seconds 5 --gap 2

For each rate: ``rate`` broadcasts a second for ``seconds``, each payload
``{"event_id": null, "type", "ts", "data": {"step", "seq", "sent"}}`` (``sent``: wall-clock
ms); one JSON line per step on stdout; then ``gap`` seconds of quiet so the step drains.
``ours`` emits to room R through realtime's write-only Redis manager, exactly as a worker does
(python-socketio's pub/sub message on channel C); ``floor`` publishes the payload's JSON on C.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson


def envelope(event: str, step: int, seq: int) -> dict[str, Any]:
    sent = time.time() * 1000
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent / 1000)) + f".{int(sent) % 1000:03d}Z"
    data = {"step": step, "seq": seq, "sent": sent}
    return {"event_id": None, "type": event, "ts": ts, "data": data}


Send = Callable[[dict[str, Any]], Awaitable[Any]]


async def publisher(args: argparse.Namespace) -> tuple[Send, Any]:
    if args.mode == "ours":
        from realtime.server import client_manager
        from server.settings import Settings

        prefix, _, name = args.channel.rpartition(":")
        settings = Settings(redis_url=args.redis, key_prefix=prefix)
        assert settings.channel(name) == args.channel
        manager = client_manager(settings, write_only=True)

        async def emit(payload: dict[str, Any]) -> Any:
            return await manager.emit(args.event, payload, namespace="/", room=args.room)

        return emit, None
    from redis.asyncio import Redis

    client = Redis.from_url(args.redis)

    async def publish(payload: dict[str, Any]) -> Any:
        return await client.publish(args.channel, orjson.dumps(payload))

    return publish, client


async def run(args: argparse.Namespace) -> None:
    send, client = await publisher(args)
    rates = [float(rate) for rate in args.rates.split(",")]
    for step, rate in enumerate(rates):
        count = max(1, round(rate * args.seconds))
        start = time.time() * 1000
        for seq in range(count):
            wait = (start + seq * 1000 / rate - time.time() * 1000) / 1000
            if wait > 0:
                await asyncio.sleep(wait)
            await send(envelope(args.event, step, seq))
        end = time.time() * 1000
        line = {"step": step, "rate": rate, "sent": count, "start_ms": start, "end_ms": end}
        print(orjson.dumps(line).decode(), flush=True)
        await asyncio.sleep(args.gap)
    if client is not None:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("ours", "floor"), required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--room", default="bench")
    parser.add_argument("--event", default="bench.tick")
    parser.add_argument("--rates", default="10")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--gap", type=float, default=2.0)
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args))


if __name__ == "__main__":
    main()
