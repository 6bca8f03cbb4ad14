"""Fallback load generator for machines without wrk: aiohttp client, N keep-alive connections.

    python -m bench.pyload --url http://127.0.0.1:8080/api/v1/meta --connections 64 --duration 5

Prints the same ``BENCH_JSON {...}`` line as bench/wrk_report.lua. It is much slower than wrk, so
figures measured with it are bounded by the client and only comparable with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import orjson
import uvloop


def _percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def _generate(
    url: str, connections: int, duration: float, headers: dict[str, str]
) -> dict[str, float]:
    latencies: list[float] = []
    counts: dict[str, float] = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non_2xx": 0}
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as s:
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            while (now := time.perf_counter()) < deadline:
                try:
                    async with s.get(url) as response:
                        await response.read()
                        if not 200 <= response.status < 400:
                            counts["non_2xx"] += 1
                except TimeoutError:
                    counts["timeout"] += 1
                    continue
                except aiohttp.ClientConnectionError:
                    counts["connect"] += 1
                    await asyncio.sleep(0.01)
                    continue
                latencies.append(time.perf_counter() - now)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    micros = [value * 1e6 for value in latencies]
    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        **counts,
        "p50_us": _percentile(micros, 50),
        "p90_us": _percentile(micros, 90),
        "p99_us": _percentile(micros, 99),
        "max_us": micros[-1] if micros else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args()
    headers = dict(item.split(":", 1) for item in args.header)
    headers = {name.strip(): value.strip() for name, value in headers.items()}
    report = uvloop.run(_generate(args.url, args.connections, args.duration, headers))
    print("BENCH_JSON " + orjson.dumps(report).decode(), flush=True)


if __name__ == "__main__":
    main()
