"""`hookgate`: the command line. Each subcommand lives in `gateway/commands/`.

Settings are read from the environment here, once, and passed down.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import sys
from collections.abc import Coroutine, Sequence
from types import ModuleType
from typing import Any, TypeVar

import uvloop
from pydantic import ValidationError

from gateway.commands import CommandError, consume, migrate, replay, send, serve, sources, sync
from gateway.logs import configure_logging
from gateway.settings import Settings

COMMANDS: tuple[ModuleType, ...] = (serve, consume, migrate, sources, send, replay, sync)

T = TypeVar("T")


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on uvloop, the event loop `serve` runs on too."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hookgate",
        description="Webhook ingestion gateway: verified provider webhooks in, "
        "CloudEvents on Kafka out, a local store kept in sync.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            name = "HOOKGATE_" + "_".join(str(part) for part in problem["loc"]).upper()
            print(f"hookgate: {name}: {problem['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    run = args.run
    try:
        if inspect.iscoroutinefunction(run):
            result: int = run_on_uvloop(run(args, settings))
        else:
            result = run(args, settings)
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        logging.getLogger("hookgate").debug("command failed", exc_info=True)
        print(f"hookgate {args.command}: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
