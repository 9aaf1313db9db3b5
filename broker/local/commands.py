"""``broker serve`` and ``broker demo``: the local stack from the command line."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from broker.ops.aws_access import EXIT_AWS_HELP, add_aws_endpoint_argument, exit_on_aws_problem

# Log keys that say nothing in a terminal (they describe the Lambda, not the sign-in).
_QUIET_KEYS = frozenset({
    "level", "location", "message", "timestamp", "service", "cold_start", "function_name",
    "function_memory_size", "function_arn", "function_request_id", "xray_trace_id", "sampling_rate",
})


def add_parser(subparsers: Any) -> None:
    """Register ``serve`` and ``demo``."""
    serve = subparsers.add_parser(
        "serve", help="run the whole multi-account flow locally (emulator, dev IdP, broker, Studio)",
        description="Start the AWS emulator, roll the spokes out into it (broker rollout apply, from "
                    "--accounts and --routing), and serve "
                    "the dev IdP portal, the broker and a Studio stand-in on one loopback URL.",
        epilog=f"exit codes: 0 stopped, 1 cannot start, {EXIT_AWS_HELP}")
    _common_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    serve.add_argument("--port", type=int, default=8000, help="port of the portal and broker (0: free)")
    add_aws_endpoint_argument(serve, "use an emulator that is already running instead of starting one")
    serve.add_argument("--profile-delay", type=float, default=2.0, metavar="SECONDS",
                       help="how long a new Studio profile stays Pending in the emulator (default 2)")
    serve.add_argument("--profile-wait", type=float, default=8.0, metavar="SECONDS",
                       help="how long the broker waits for a new profile before it answers the "
                            "holding page (default 8, BROKER_PROFILE_WAIT_SECONDS in AWS)")
    serve.add_argument("--slow-team", default="first", metavar="TEAM",
                       help="one team whose new profiles take --slow-team-delay, so the holding "
                            "page is seen (default: the routing table's first team, team1 in the "
                            "sample; 'none' for no slow team)")
    serve.add_argument("--slow-team-delay", type=float, default=20.0, metavar="SECONDS",
                       help="how long that team's new profiles stay Pending (default 20)")
    serve.set_defaults(handler=serve_command)

    demo = subparsers.add_parser(
        "demo", help="run the seed scenario end to end over HTTP and check it (a smoke test)",
        description="Start the local stack on free ports, sign user1 in to team1 and team2, user2 "
                    "to team2 and user3 (no access) to team1 over HTTP, print where each landed, "
                    "and check the profiles. Exits 1 if any expectation fails.")
    _common_options(demo)
    demo.add_argument("--verbose", action="store_true", help="show the stack's and the broker's logs")
    demo.set_defaults(handler=demo_command)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--routing", type=Path, default=Path("routing.yaml"),
                        help="routing table whose teams and applications the stack plays")
    parser.add_argument("--users", type=Path, default=Path("local/users.yaml"),
                        help="dev IdP users and their teams")
    parser.add_argument("--accounts", type=Path, default=Path("accounts"),
                        help="spoke account registry the rollout deploys into the emulator")
    parser.add_argument("--state-dir", type=Path, default=Path(".local-state"),
                        help="where the dev IdP's keys and the local routing file are kept")


def serve_command(args: argparse.Namespace) -> int:
    """Run the stack until Ctrl-C or SIGTERM."""
    return exit_on_aws_problem("broker serve", lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    from broker.exceptions import ConfigurationError
    from broker.local.devidp import LOCAL_ROUTING_NAME
    from broker.local.stack import LocalStack, StackOptions, StackStartError, quiet_http_logs

    quiet_http_logs()
    _broker_logs(sys.stdout, logging.INFO)  # before stdout is redirected below
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    options = StackOptions(
        host=args.host, port=args.port, routing=args.routing, users=args.users,
        accounts_dir=args.accounts, state_dir=args.state_dir, aws_endpoint=args.aws_endpoint,
        profile_delay_seconds=args.profile_delay, profile_wait_seconds=args.profile_wait,
        slow_team=None if args.slow_team == "none" else args.slow_team,
        slow_team_delay_seconds=args.slow_team_delay)
    out = _printer(sys.stdout)
    stack = LocalStack(options, log=out)
    # The handler prints one metric (EMF JSON) per sign-in to stdout for CloudWatch; here the
    # broker's "login" log line says the same, so those lines are dropped.
    with open(os.devnull, "w") as metric_lines, contextlib.redirect_stdout(metric_lines):
        try:
            stack.start()
        except (ConfigurationError, StackStartError, ValueError, OSError) as error:
            print(f"broker serve: cannot start: {error}", file=sys.stderr)
            return 1
        try:
            routing = Path(args.state_dir) / LOCAL_ROUTING_NAME
            out(f"Check it: broker doctor --routing {routing} --accounts {args.accounts} "
                f"--aws-endpoint {stack.emulator_url}")
            out(f"Offboarding: broker profiles reconcile --routing {routing} --accounts {args.accounts} "
                f"--aws-endpoint {stack.emulator_url}")
            out(f"\nOpen {stack.portal_url}   (Ctrl-C stops everything)\n")
            while not stopping.wait(0.5):  # a timed wait keeps the main thread responsive to signals
                pass
        finally:
            out("stopping...")
            stack.stop()
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """Start the stack on free ports, run the seed scenario, print the table; 0 if every check passed."""
    from broker.exceptions import ConfigurationError
    from broker.local.demo import format_report, run_seed_scenario
    from broker.local.devidp import load_users
    from broker.local.stack import LocalStack, StackOptions, StackStartError, quiet_http_logs

    quiet_http_logs()
    _broker_logs(sys.stderr, logging.INFO if args.verbose else logging.CRITICAL)
    log = _printer(sys.stderr) if args.verbose else (lambda _: None)
    options = StackOptions(port=0, routing=args.routing, users=args.users, accounts_dir=args.accounts,
                           state_dir=args.state_dir, profile_delay_seconds=0.3)
    # The handler prints its per-sign-in metric (EMF) to stdout, which is for the table here.
    metric_lines = sys.stderr if args.verbose else io.StringIO()
    try:
        with contextlib.redirect_stdout(metric_lines), LocalStack(options, log=log) as stack:
            assert stack.routing is not None
            started_at = f"Local stack at {stack.portal_url} (emulator {stack.emulator_url})\n"
            users = load_users(args.users, stack.routing.teams)
            report = run_seed_scenario(stack.base_url, stack.routing, users, stack.spokes)
    except (ConfigurationError, StackStartError, ValueError, OSError) as error:
        print(f"broker demo: cannot start: {error}", file=sys.stderr)
        return 1
    print(started_at)
    format_report(report)
    return 0 if report.ok else 1


def _printer(stream: Any) -> Callable[[str], None]:
    def write(line: str) -> None:
        print(line, file=stream, flush=True)

    return write


def _broker_logs(stream: Any, level: int) -> None:
    """One readable line per broker log record instead of Lambda's JSON."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from broker import handler

    # The local stack's metrics are disabled; Powertools still warns that none were published.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    records = handler.logger.registered_handler
    records.setFormatter(LambdaPowertoolsFormatter(json_serializer=_terminal_line))
    if isinstance(records, logging.StreamHandler):
        records.setStream(stream)
    handler.logger.setLevel(level)


def _terminal_line(record: dict[str, Any]) -> str:
    extras = " ".join(f"{key}={value}" for key, value in record.items() if key not in _QUIET_KEYS)
    time_of_day = str(record.get("timestamp", ""))[11:19]
    return f"{time_of_day} broker {record.get('level', '')} {record.get('message', '')} {extras}".rstrip()
