"""The benchmark's report: raw measurements in, numbers per scenario, targets and a table out.

Report shape (``--json`` prints it): ``scenarios`` (``warm``, ``first``,
``cold_start``: logins, AWS calls per login by ``service.Operation``, CPU ms
per login, wall latency percentiles, logins/s, peak RSS), ``floor``
(python3-saml alone, ``import boto3`` + one client, and the ratios),
``table_size`` (the same warm login on a small and on a large routing table),
``memory`` (RSS of one container after 10 and after ``--people`` distinct
people, botocore clients made), ``latency`` (warm wall time with an injected
per-call latency D, and the extra over D = 0 in units of D), ``targets`` (the
issue's targets, each with the measured value and ``met``), ``tree`` (path and
commit measured), ``comparison`` (the headline figures of this run, beside
those of ``before`` when ``--before`` gave one; ``before`` is then that tree's
whole report, of the same shape).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

WARM_CALLS = {"dynamodb.PutItem": 1.0, "sagemaker.CreatePresignedDomainUrl": 1.0}
WARM_CPU_TARGET = 1.3  # x (the two AWS calls alone + parse and signature check alone)
LATENCY_TARGET = 1.25  # x D: "about 1 x D"; two calls one after the other are 2 x D
COLD_START_TARGET = 1.5  # x (import boto3 + one SageMaker client)
RSS_TARGET = 1.1
FIRST_LOGIN_ALLOWED = frozenset({
    "dynamodb.PutItem", "sts.AssumeRole", "sagemaker.DescribeUserProfile",
    "sagemaker.CreateUserProfile", "sagemaker.CreatePresignedDomainUrl",
})


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _per_login(calls: Counter[str], logins: int) -> dict[str, float]:
    return {name: round(count / logins, 3) for name, count in sorted(calls.items())} if logins else {}


def scenario(phases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's numbers from the phases (one per worker process) that ran it."""
    phases = list(phases)
    logins = sum(p["logins"] for p in phases)
    calls: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    for phase in phases:
        calls.update(phase["calls"])
        statuses.update(phase["statuses"])
        latencies.extend(phase["latencies_ms"])
    cpu_s = sum(p["cpu_s"] for p in phases)
    span = max(p["started_at"] + p["wall_s"] for p in phases) - min(p["started_at"] for p in phases)
    return {
        "logins": logins,
        "processes": len(phases),
        "statuses": dict(statuses),
        "calls_per_login": _per_login(calls, logins),
        "total_calls_per_login": round(sum(calls.values()) / logins, 3) if logins else 0.0,
        "http_attempts_per_login": round(sum(p["attempts"] for p in phases) / logins, 3),
        "cpu_ms_per_login": cpu_s * 1000 / logins,
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99)},
        "logins_per_second_per_process": statistics.mean(p["logins"] / p["wall_s"] for p in phases),
        "logins_per_second_total": logins / span if span > 0 else 0.0,
        "cpu_bound_logins_per_second_per_core": 1000 / (cpu_s * 1000 / logins) if cpu_s else 0.0,
        "peak_rss_mb": max(p["peak_rss_kb"] for p in phases) / 1024,
    }


def cold_scenario(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Cold starts: process start to first answered login, per fresh process."""
    walls = [r["wall_ms"] for r in runs]
    calls = Counter(runs[0]["calls"]) if runs else Counter()
    return {
        "logins": len(runs),
        "processes": len(runs),
        "statuses": dict(Counter(str(r["status"]) for r in runs)),
        "calls_per_login": _per_login(calls, 1),
        "total_calls_per_login": float(sum(calls.values())),
        "cpu_ms_per_login": statistics.median(r["cpu_s"] * 1000 for r in runs),
        "latency_ms": {"p50": percentile(walls, 50), "p95": percentile(walls, 95),
                       "p99": percentile(walls, 99)},
        "wall_range_ms": [min(walls), max(walls)],
        "import_ms": statistics.median((r["imported_at"] - r["spawned_at"]) * 1000 for r in runs),
        "ready_ms": statistics.median((r["wired_at"] - r["spawned_at"]) * 1000 for r in runs),
        # where the handler came from, and whether its bytecode was shipped (None: an older harness)
        "handler_files": sorted({str(r.get("handler_file")) for r in runs}),
        "handler_bytecode": all(r.get("handler_bytecode") for r in runs),
        "peak_rss_mb": max(r["peak_rss_kb"] for r in runs) / 1024,
    }


def build_report(options: Any, floor: dict[str, Any], workers: list[dict[str, Any]],
                 cold: dict[str, Any], machine: dict[str, Any], duration_s: float,
                 memory: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, the ratios and the issue's targets."""
    from dataclasses import asdict

    main = workers[0]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for worker in workers:
        for phase in worker["phases"]:
            by_name.setdefault(phase["name"], []).append(phase)
    warm = scenario(by_name["warm"])
    first = scenario(by_name["first"])
    cold_start = cold_scenario(cold["broker"])
    baseline = cold["boto3"]
    baseline_ms = statistics.median(r["wall_ms"] for r in baseline)
    floor = dict(floor)
    # The floor blocks alternate with the warm blocks in the same process (see the runner).
    floor_blocks = by_name["aws-floor"]
    floor_rounds = sum(block["rounds"] for block in floor_blocks)
    calls_ms = sum(block["calls_cpu_s"] for block in floor_blocks) * 1000 / floor_rounds
    signature_ms = sum(block["signature_cpu_s"] for block in floor_blocks) * 1000 / floor_rounds
    own_ms = warm["cpu_ms_per_login"] - calls_ms
    warm_floor_ms = calls_ms + signature_ms
    floor.update({
        "floor_blocks": len(floor_blocks), "floor_rounds": floor_rounds,
        "parse_and_signature_beside_warm_cpu_ms": signature_ms,
        "warm_floor_cpu_ms": warm_floor_ms,
        "warm_cpu_over_floor": warm["cpu_ms_per_login"] / warm_floor_ms,
        "aws_two_calls_cpu_ms": calls_ms,
        "broker_own_cpu_ms": own_ms,
        "broker_own_over_python3_saml": own_ms / floor["python3_saml_raw_cpu_ms"],
        "import_boto3_one_client_service": baseline[0]["service"],
        "import_boto3_one_client_wall_ms": baseline_ms,
        "import_boto3_one_client_wall_range_ms": [min(r["wall_ms"] for r in baseline),
                                                  max(r["wall_ms"] for r in baseline)],
        "import_boto3_one_client_cpu_ms": statistics.median(r["cpu_s"] * 1000 for r in baseline),
        "import_boto3_one_client_peak_rss_mb": max(r["peak_rss_kb"] for r in baseline) / 1024,
        "warm_cpu_over_python3_saml": warm["cpu_ms_per_login"] / floor["python3_saml_raw_cpu_ms"],
        "cold_start_over_import_boto3": cold_start["latency_ms"]["p50"] / baseline_ms,
    })
    table = {}
    for name in ("small", "large"):
        table[name] = dict(main["loads"][name])
        table[name]["cpu_ms_per_login"] = scenario(by_name[f"compare-{name}"])["cpu_ms_per_login"]
    table["cpu_ratio_large_over_small"] = (
        table["large"]["cpu_ms_per_login"] / table["small"]["cpu_ms_per_login"])
    table["validate"] = {"wall_s": validation["wall_s"], "cpu_s": validation["cpu_s"],
                         "peak_rss_mb": validation["peak_rss_kb"] / 1024,
                         "summary": validation["summary"]}
    report = {
        "machine": machine,
        "options": asdict(options),
        "duration_s": duration_s,
        "broker_import": main["imports"],
        "scenarios": {"warm": warm, "first": first, "cold_start": cold_start},
        "floor": floor,
        "table_size": table,
        "memory": memory,
        "latency": latency_figures(by_name),
    }
    report["targets"] = targets(report)
    return report


def latency_figures(by_name: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Warm wall time per injected per-call latency D, and what D added, in units of D.

    Logins ran round robin over (0, D1, D2, ...): the extra of D is the median,
    over the rounds, of a D login's wall time minus the D = 0 login's of its round.
    ``waited_over_latency`` is the time the login spent waiting on the injected
    latency (the union of its calls' waits, over D): 2 for two calls one after
    the other, 1 for overlapped ones; unlike wall time, the machine's load does
    not move it.
    """
    (phase,) = by_name["latency"]
    walls: dict[int, list[float]] = {}
    waits: dict[int, list[float]] = {}
    for latency_ms, wall_ms, waited_ms in zip(phase["injected_latency_ms"], phase["latencies_ms"],
                                              phase["waited_ms"], strict=True):
        walls.setdefault(latency_ms, []).append(wall_ms)
        waits.setdefault(latency_ms, []).append(waited_ms)
    rounds = min(len(values) for values in walls.values())
    per_call = {}
    for d in sorted(d for d in walls if d):
        extra = statistics.median(walls[d][n] - walls[0][n] for n in range(rounds))
        per_call[str(d)] = {"logins": len(walls[d]), "p50_ms": percentile(walls[d], 50),
                            "extra_ms": extra, "extra_over_latency": extra / d,
                            "waited_over_latency": statistics.median(waits[d]) / d}
    return {"base_p50_ms": percentile(walls[0], 50), "logins": rounds,
            "calls_per_login": _per_login(Counter(phase["calls"]), phase["logins"]),
            "statuses": phase["statuses"], "per_call_ms": per_call}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each judged from the measured numbers."""
    warm = report["scenarios"]["warm"]
    first = report["scenarios"]["first"]
    floor = report["floor"]
    table = report["table_size"]
    memory = report["memory"]
    ratio = floor["warm_cpu_over_floor"]
    latency = report["latency"]["per_call_ms"]
    worst_latency = max(v["extra_over_latency"] for v in latency.values())
    first_calls = first["calls_per_login"]
    first_ok = (
        set(first_calls) <= FIRST_LOGIN_ALLOWED
        and first_calls.get("sts.AssumeRole", 0) <= 1
        and first_calls.get("sagemaker.CreateUserProfile", 0) <= 1
        and first_calls.get("sagemaker.CreatePresignedDomainUrl", 0) == 1
        and first_calls.get("dynamodb.PutItem", 0) == 1
    )
    all_ok = all(set(s["statuses"]) == {"302"} for s in report["scenarios"].values())
    return [
        {"target": "every login answered 302", "measured": _statuses(report), "met": all_ok},
        {"target": "warm login: exactly PutItem + CreatePresignedDomainUrl",
         "measured": _calls(warm["calls_per_login"]), "met": warm["calls_per_login"] == WARM_CALLS},
        {"target": f"warm login CPU <= {WARM_CPU_TARGET}x (the two AWS calls alone + parse and "
                   "signature check alone)",
         "measured": f"{ratio:.2f}x ({warm['cpu_ms_per_login']:.2f} ms vs "
                     f"{floor['aws_two_calls_cpu_ms']:.2f} + "
                     f"{floor['parse_and_signature_beside_warm_cpu_ms']:.2f} ms)",
         "met": ratio <= WARM_CPU_TARGET},
        {"target": "warm login with a per-call latency D: about 1 x D extra (one round trip)",
         "measured": ", ".join(f"D={d} ms: {v['extra_over_latency']:.2f} x D"
                               for d, v in latency.items()),
         "met": worst_latency <= LATENCY_TARGET},
        {"target": "first login: <= 1 AssumeRole per person per spoke; describe, create, "
                   "describe(s), presign, replay write only",
         "measured": _calls(first_calls), "met": first_ok},
        {"target": "10,000-team table: login CPU within 10% of the 10-team table",
         "measured": f"{table['cpu_ratio_large_over_small']:.3f}x "
                     f"({table['large']['teams']} vs {table['small']['teams']} teams)",
         "met": abs(table["cpu_ratio_large_over_small"] - 1) <= 0.10},
        {"target": "10,000-team table loads in the Lambda in well under a second",
         "measured": f"{table['large']['load_wall_ms']:.0f} ms for {table['large']['teams']} teams",
         "met": table["large"]["load_wall_ms"] < 1000},
        {"target": f"cold start as packaged to first answered login <= {COLD_START_TARGET}x "
                   f"import boto3 + one {floor['import_boto3_one_client_service']} client",
         "measured": f"{floor['cold_start_over_import_boto3']:.2f}x "
                     f"({report['scenarios']['cold_start']['latency_ms']['p50']:.0f} ms vs "
                     f"{floor['import_boto3_one_client_wall_ms']:.0f} ms)",
         "met": floor["cold_start_over_import_boto3"] <= COLD_START_TARGET},
        {"target": f"RSS after {memory['people']:,} distinct people <= 1.1x after "
                   f"{memory['baseline_people']}",
         "measured": f"{memory['rss_ratio']:.3f}x ({memory['rss_after_mb']:.1f} MB vs "
                     f"{memory['rss_baseline_mb']:.1f} MB; clients {memory['clients_baseline']} -> "
                     f"{memory['clients_after']})",
         "met": memory["rss_ratio"] <= RSS_TARGET},
    ]


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's four figures of one report, as numbers."""
    floor, memory = report["floor"], report["memory"]
    return {
        "commit": report.get("tree", {}).get("commit", ""),
        "warm_cpu_ms": report["scenarios"]["warm"]["cpu_ms_per_login"],
        "warm_floor_cpu_ms": floor["warm_floor_cpu_ms"],
        "warm_cpu_over_floor": floor["warm_cpu_over_floor"],
        "latency_extra_over_d": {d: v["extra_over_latency"]
                                 for d, v in report["latency"]["per_call_ms"].items()},
        "latency_waited_over_d": {d: v["waited_over_latency"]
                                  for d, v in report["latency"]["per_call_ms"].items()},
        "latency_p50_ms": {"0": report["latency"]["base_p50_ms"]} | {
            d: v["p50_ms"] for d, v in report["latency"]["per_call_ms"].items()},
        "cold_start_ms": report["scenarios"]["cold_start"]["latency_ms"]["p50"],
        "cold_start_range_ms": report["scenarios"]["cold_start"]["wall_range_ms"],
        "import_boto3_one_client_range_ms": floor["import_boto3_one_client_wall_range_ms"],
        "import_boto3_one_client_ms": floor["import_boto3_one_client_wall_ms"],
        "cold_start_over_import_boto3": floor["cold_start_over_import_boto3"],
        "rss_baseline_mb": memory["rss_baseline_mb"], "rss_after_mb": memory["rss_after_mb"],
        "rss_ratio": memory["rss_ratio"], "people": memory["people"],
        "baseline_people": memory["baseline_people"],
        "table_teams": report["table_size"]["large"]["teams"],
        "table_load_ms": report["table_size"]["large"]["load_wall_ms"],
        "table_load_cpu_ms": report["table_size"]["large"]["load_cpu_ms"],
        "table_load_mb": report["table_size"]["large"]["load_rss_mb"],
        "validate_wall_s": report["table_size"]["validate"]["wall_s"],
        "validate_cpu_s": report["table_size"]["validate"]["cpu_s"],
        "validate_peak_rss_mb": report["table_size"]["validate"]["peak_rss_mb"],
    }


def compare(after: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """The headline figures of this run's tree (``after``) beside ``before``'s, if measured."""
    return {"after": headline(after), "before": headline(before) if before else None}


def _calls(calls: dict[str, float]) -> str:
    return ", ".join(f"{name.split('.', 1)[1]} {count:g}" for name, count in calls.items()) or "none"


def _statuses(report: dict[str, Any]) -> str:
    return "; ".join(f"{name}: " + ", ".join(f"{code}x{count}" for code, count in s["statuses"].items())
                     for name, s in report["scenarios"].items())


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table for a terminal or a Markdown code block."""
    scenarios = report["scenarios"]
    names = ("warm", "first", "cold_start")
    heads = ("warm login", "first login", "cold start")
    rows: list[tuple[str, ...]] = [("", *heads)]

    def row(label: str, fmt: str, get: Any) -> None:
        rows.append((label, *(fmt.format(get(scenarios[n])) for n in names)))

    row("logins measured", "{}", lambda s: s["logins"])
    row("broker processes", "{}", lambda s: s["processes"])
    row("AWS calls per login", "{:.2f}", lambda s: s["total_calls_per_login"])
    operations = sorted({op for n in names for op in scenarios[n]["calls_per_login"]})
    for op in operations:
        row(f"  {op}", "{:.2f}", lambda s, op=op: s["calls_per_login"].get(op, 0.0))
    row("CPU ms per login", "{:.2f}", lambda s: s["cpu_ms_per_login"])
    for pct in ("p50", "p95", "p99"):
        row(f"wall ms {pct}", "{:.1f}", lambda s, pct=pct: s["latency_ms"][pct])
    rows.append(("logins/s, one process", *(
        f"{scenarios[n]['logins_per_second_per_process']:.0f}" if n != "cold_start" else "-"
        for n in names)))
    rows.append(("logins/s, CPU-bound, one core", *(
        f"{scenarios[n]['cpu_bound_logins_per_second_per_core']:.0f}" if n != "cold_start" else "-"
        for n in names)))
    row("peak RSS MB", "{:.0f}", lambda s: s["peak_rss_mb"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                       for i, cell in enumerate(r)) for r in rows]

    floor, table = report["floor"], report["table_size"]
    cold = scenarios["cold_start"]
    lines += [
        "",
        "Floors and ratios",
        f"  python3-saml 1.16 strict validation alone, same response: "
        f"{floor['python3_saml_raw_cpu_ms']:.2f} ms CPU",
        f"  broker SAML validation (every check, same response):     "
        f"{floor['broker_validator_cpu_ms']:.2f} ms CPU",
        f"  warm login CPU / python3-saml alone:                     "
        f"{floor['warm_cpu_over_python3_saml']:.2f}x",
        f"  the two AWS calls alone (bare, same clients):            "
        f"{floor['aws_two_calls_cpu_ms']:.2f} ms CPU (beside the warm logins: "
        f"{floor['floor_blocks']} blocks alternating with theirs, {floor['floor_rounds']} rounds)",
        f"  the broker's own work (warm login - those calls):        "
        f"{floor['broker_own_cpu_ms']:.2f} ms CPU = "
        f"{floor['broker_own_over_python3_saml']:.2f}x python3-saml alone",
        f"  parse + signature check alone (xmlsec, same response):   "
        f"{floor['parse_and_signature_cpu_ms']:.2f} ms CPU here, "
        f"{floor['parse_and_signature_beside_warm_cpu_ms']:.2f} ms beside the warm logins",
        f"  warm login CPU / (the two calls + parse and signature):  "
        f"{floor['warm_cpu_over_floor']:.2f}x ({floor['warm_floor_cpu_ms']:.2f} ms)",
        f"  cold start as packaged, process start -> first login:    "
        f"{cold['latency_ms']['p50']:.0f} ms (imports done at {cold['import_ms']:.0f} ms, "
        f"wired at {cold['ready_ms']:.0f} ms)",
        f"  import boto3 + one {floor['import_boto3_one_client_service']} client, fresh process: "
        f"{floor['import_boto3_one_client_wall_ms']:.0f} ms, "
        f"peak RSS {floor['import_boto3_one_client_peak_rss_mb']:.0f} MB",
        f"  cold start / import boto3 + one client:                  "
        f"{floor['cold_start_over_import_boto3']:.2f}x",
        "",
        "Routing table size (same warm login, tables alternate in blocks)",
    ]
    for name in ("small", "large"):
        t = table[name]
        lines.append(f"  {t['teams']:>6} teams, {t['applications']:>6} applications: load "
                     f"{t['load_wall_ms']:7.0f} ms ({t['load_cpu_ms']:.0f} ms CPU, "
                     f"+{t['load_rss_mb']:.1f} MB), build {t['build_cpu_ms']:5.1f} ms CPU, "
                     f"login {t['cpu_ms_per_login']:.2f} ms CPU")
    lines.append(f"  login CPU large / small: {table['cpu_ratio_large_over_small']:.3f}x")
    check = table["validate"]
    lines.append(f"  broker routing validate, {table['large']['teams']} teams (fresh process, no "
                 f"account registry): {check['wall_s']:.1f} s ({check['cpu_s']:.1f} s CPU), "
                 f"peak RSS {check['peak_rss_mb']:.0f} MB")
    memory = report["memory"]
    lines += [
        "",
        "Memory of one container as people grow (spoke path, stubbed endpoints)",
        f"  after {memory['baseline_people']:>6} people: RSS {memory['rss_baseline_mb']:7.1f} MB, "
        f"botocore clients {memory['clients_baseline']}",
        f"  after {memory['people']:>6} people: RSS {memory['rss_after_mb']:7.1f} MB, "
        f"botocore clients {memory['clients_after']}",
        f"  ratio {memory['rss_ratio']:.3f}x, {memory['kb_per_person']:.1f} KB and "
        f"{memory['cpu_ms_per_new_person']:.2f} ms CPU per new person",
    ]
    latency = report["latency"]
    lines += ["", f"Warm login with an injected per-call latency D ({latency['logins']} logins "
                  f"per D, round robin; D = 0: wall p50 {latency['base_p50_ms']:.1f} ms)"]
    for d, v in latency["per_call_ms"].items():
        lines.append(f"  D = {d:>3} ms: wall p50 {v['p50_ms']:6.1f} ms, extra (median of paired "
                     f"differences) {v['extra_ms']:6.1f} ms = {v['extra_over_latency']:.2f} x D; "
                     f"waiting on the network {v['waited_over_latency']:.2f} x D")
    lines += ["", *format_comparison(report["comparison"])]
    lines += ["", "Targets"]
    for target in report["targets"]:
        mark = "met    " if target["met"] else "NOT MET"
        lines.append(f"  [{mark}] {target['target']}: {target['measured']}")
    lines.append(f"\n(run took {report['duration_s']:.0f} s; python {report['machine']['python']}, "
                 f"{report['machine']['cpus']} CPUs)")
    return "\n".join(lines)


def format_comparison(comparison: dict[str, Any]) -> list[str]:
    """The four headline figures, before (when measured) and after, with their targets."""
    after, before = comparison["after"], comparison["before"]
    sides = [("before", before), ("after", after)] if before else [("this run", after)]
    rows: list[tuple[str, ...]] = [
        ("", *(f"{name} {figures['commit']}".strip() for name, figures in sides), "target")]

    def row(label: str, target: str, show: Any) -> None:
        rows.append((label, *(show(figures) for _, figures in sides), target))

    row("warm CPU / (two AWS calls + parse & signature)", f"<= {WARM_CPU_TARGET}x",
        lambda f: f"{f['warm_cpu_over_floor']:.2f}x")
    row("  warm CPU ms per sign-in", "", lambda f: f"{f['warm_cpu_ms']:.2f}")
    row("  floor ms", "", lambda f: f"{f['warm_floor_cpu_ms']:.2f}")
    for d in after["latency_extra_over_d"]:
        row(f"warm wall extra at D = {d} ms, in D", "about 1x",
            lambda f, d=d: f"{f['latency_extra_over_d'][d]:.2f}x")
        row("  wall p50 ms (D = 0: p50 ms)", "",
            lambda f, d=d: f"{f['latency_p50_ms'][d]:.1f} ({f['latency_p50_ms']['0']:.1f})")
        row("  waiting on the network, in D", "1x",
            lambda f, d=d: f"{f['latency_waited_over_d'][d]:.2f}x")
    row("cold start as packaged / boto3 + one client", f"<= {COLD_START_TARGET}x",
        lambda f: f"{f['cold_start_over_import_boto3']:.2f}x")
    row("  median ms (floor ms)", "",
        lambda f: f"{f['cold_start_ms']:.0f} ({f['import_boto3_one_client_ms']:.0f})")
    row("  range ms (floor range ms)", "", lambda f: "{:.0f}-{:.0f} ({:.0f}-{:.0f})".format(
        *f["cold_start_range_ms"], *f["import_boto3_one_client_range_ms"]))
    row(f"RSS {after['people']:,} people / {after['baseline_people']} people", f"<= {RSS_TARGET}x",
        lambda f: f"{f['rss_ratio']:.3f}x")
    row("  MB", "", lambda f: f"{f['rss_after_mb']:.1f} / {f['rss_baseline_mb']:.1f}")
    row(f"routing table, {after['table_teams']:,} teams: Lambda load ms", "",
        lambda f: f"{f['table_load_ms']:.0f} ({f['table_load_cpu_ms']:.0f} CPU)")
    row("  memory it holds, MB", "", lambda f: f"+{f['table_load_mb']:.1f}")
    row("  broker routing validate, s (CPU s)", "",
        lambda f: f"{f['validate_wall_s']:.1f} ({f['validate_cpu_s']:.1f})")
    row("  validate peak RSS MB", "", lambda f: f"{f['validate_peak_rss_mb']:.0f}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    title = "Before / after (one run)" if before else "Headline figures (no --before tree given)"
    return [title] + ["  " + "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                                       for i, cell in enumerate(r)) for r in rows]
