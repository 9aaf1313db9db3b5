"""``broker bench``: measure the production login path against its floor (see docs/performance.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``bench`` on the ``broker`` command line."""
    parser = subparsers.add_parser(
        "bench",
        help="measure sign-ins: AWS calls, CPU, latency, cold start, vs. python3-saml and boto3 alone",
        description=(
            "Runs the real Lambda handler against the emulator (in its own process) with "
            "really signed SAML responses, and prints per-login AWS calls, CPU, latency, "
            "throughput and memory for warm logins, first logins, warm logins with an "
            "injected per-call latency, cold starts of the packaged broker, 1,000 people "
            "in one container, and a 10-team against a --table-size table (the Lambda's load, "
            "the memory the table holds, `broker routing validate` on it), beside the floors: "
            "python3-saml validation alone, the two AWS calls plus parse and signature check "
            "alone (in blocks alternating with the warm logins'), `import boto3` + one "
            "SageMaker client. "
            "With --before TREE, another commit's broker is measured in the same run, side by side."
        ),
    )
    parser.add_argument("--logins", type=_positive, default=400,
                        help="warm logins to measure, over all processes (default 400)")
    parser.add_argument("--users", type=_positive, default=10, help="people (default 10)")
    parser.add_argument("--teams", type=_positive, default=4,
                        help="teams each person belongs to, in 2 spoke accounts (default 4)")
    parser.add_argument("--table-size", type=_positive, default=10_000,
                        help="teams in the large routing table compared with a 10-team one "
                             "(default 10000)")
    parser.add_argument("--accounts", type=_positive, default=500,
                        help="accounts the large table's teams spread over (default 500)")
    parser.add_argument("--concurrency", type=_positive, default=1,
                        help="broker processes (Lambda containers) signing in at once (default 1)")
    parser.add_argument("--compare-logins", type=_positive, default=200,
                        help="warm logins per routing table in the size comparison (default 200)")
    parser.add_argument("--cold-starts", type=_positive, default=3,
                        help="fresh processes for the cold-start measurement (default 3)")
    parser.add_argument("--people", type=_positive, default=1000,
                        help="distinct people one container serves in the memory measurement "
                             "(default 1000)")
    parser.add_argument("--latencies", type=_latencies, default=(10, 20, 40), metavar="MS,MS,...",
                        help="per-call latencies D injected into warm logins, in ms (default 10,20,40)")
    parser.add_argument("--latency-logins", type=_positive, default=30,
                        help="warm logins per injected latency (default 30)")
    parser.add_argument("--before", metavar="TREE", default=None,
                        help="also measure the broker of this source tree (e.g. `git worktree add "
                             "/tmp/bench-before <commit>`) and print before/after side by side")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; exit 0 when it ran (targets are reported, not enforced), 1 on failure."""
    from broker.local.bench.report import format_table
    from broker.local.bench.runner import BenchOptions, run_bench

    try:
        options = BenchOptions(
            logins=args.logins, users=args.users, teams=args.teams, table_size=args.table_size,
            accounts=args.accounts, concurrency=args.concurrency, compare_logins=args.compare_logins,
            cold_starts=args.cold_starts, people=args.people, latencies_ms=args.latencies,
            latency_logins=args.latency_logins, before=args.before,
        )
    except ValueError as error:  # a --before tree without a broker package
        print(f"bench: {error}", file=sys.stderr)
        return 2
    try:
        report = run_bench(options, progress=lambda line: print(f"bench: {line}", file=sys.stderr))
    except (RuntimeError, TimeoutError, OSError) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_table(report))
    return 0


def _latencies(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of milliseconds") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError("every latency must be at least 1 ms")
    return values


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
