"""The ``broker`` command: a thin face over the operator tools and the local stack.

Each command group lives in its own module and registers itself here through
``add_parser(subparsers)``; its handler returns the process exit code. Heavy
imports happen inside the handlers, so ``broker --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module path -> command group; each module defines add_parser(subparsers)
COMMAND_MODULES: tuple[str, ...] = (
    "broker.ops.init_command", "broker.local.commands", "broker.local.bench_commands",
    "broker.ops.rollout_commands", "broker.ops.routing_commands", "broker.ops.doctor_commands",
    "broker.ops.profiles_commands")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every group registered."""
    parser = argparse.ArgumentParser(
        prog="broker",
        description="Studio routing broker: operate the routing table and spokes, run the local stack.",
        epilog=(
            "Guides in docs/: deployment.md (hub and spokes from an empty organisation), "
            "onboarding.md (add, change or remove a team), operations.md (what to watch, "
            "every refusal reason, the kill switch, recovery), security.md (threat model, "
            "certificate rotation, incident response)."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``broker`` console script; returns the exit code (2: usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
