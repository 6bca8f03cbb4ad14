"""The peer: FastAPI served by uvicorn the way their docs show (uvloop + httptools).

    python -m bench.peers.fastapi_peer --port 8082

Equivalent to ``uvicorn bench.peers.fastapi_peer:app --loop uvloop --http httptools``,
with the log level at WARNING like our server's in the benchmark.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from bench.peers import meta_payload

app = FastAPI()


# Plain dicts, as in FastAPI's first example. ``response_model=None`` keeps the annotations from
# becoming response models that FastAPI would validate every answer against (the example has none).
@app.get("/api/v1/meta", response_model=None)
async def meta() -> dict[str, object]:
    return meta_payload()


@app.get("/healthz", response_model=None)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
