"""The floor: a bare aiohttp handler on uvloop, the body encoded by orjson, no middleware.

python -m bench.peers.floor_aiohttp --port 8081
"""

from __future__ import annotations

import argparse

import orjson
import uvloop
from aiohttp import web

from bench.peers import meta_payload


async def meta(_request: web.Request) -> web.Response:
    return web.Response(
        body=orjson.dumps(meta_payload(), option=orjson.OPT_UTC_Z), content_type="application/json"
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/v1/meta", meta)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        make_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
