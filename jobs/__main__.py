"""`python -m jobs worker|media|tutor [--check]`: run a worker, or check that one is alive."""

from __future__ import annotations

import argparse
import logging.config
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from arq.logs import default_log_config
from arq.worker import check_health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__)
    parser.add_argument("kind", choices=["worker", "media", "tutor"], help="which queue's worker")
    parser.add_argument(
        "--check", action="store_true", help="exit 0 if a worker of this kind recorded its health"
    )
    args = parser.parse_args(argv)

    from jobs.worker import WORKERS, build_worker
    from server.runtime import freeze_heap, use_uvloop

    settings_class = WORKERS[args.kind]
    logging.config.dictConfig(default_log_config(verbose=False))
    if args.check:
        return check_health(settings_class)
    use_uvloop()
    started: Callable[[dict[str, Any]], Awaitable[None]] = vars(settings_class)["on_startup"]

    async def on_startup(ctx: dict[str, Any]) -> None:
        await started(ctx)
        freeze_heap()  # what start-up built (the runtime, the tokenizer) stays out of GC passes

    build_worker(settings_class, on_startup=on_startup).run()
    return 0


if __name__ == "__main__":  # pragma: no cover - the process entry point
    sys.exit(main())
