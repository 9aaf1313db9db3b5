"""Orchestration of ``broker bench``: emulator, spokes, broker processes, floors, report.

Process layout (2 cores suffice):

- this process: provisions the emulator, writes the routing tables, measures
  the floor (raw python3-saml strict validation of the same kind of response)
  and spawns everything else;
- the emulator: ``python -m broker.emulator.server`` (its CPU is not the broker's);
- broker workers (:mod:`.worker`): ``--concurrency`` processes, each a Lambda
  container, running the real handler; worker 0 also runs first logins, the
  warm-CPU floor (the two AWS calls bare, parse and signature check alone) in
  blocks alternating with its warm logins, and the routing-table-size comparison;
- the validate child (:mod:`.validate`): each tree's ``broker routing validate``
  on the large table, as an operator's CI runs it;
- cold-start children (:mod:`.coldstart`): a fresh interpreter per run, for
  the broker as packaged (``scripts/package-lambda.sh``: the broker package
  with its bytecode) and for the ``import boto3`` + one SageMaker client floor;
- the memory child (:mod:`.memory`): one fresh container serving ``--people``
  distinct people, RSS after 10 and after all of them.

With ``--before TREE`` (a checkout of another commit, e.g. ``git worktree add
/tmp/bench-before <commit>``) the workers, validate, cold starts and memory child run
for that tree's broker too, in the same run against the same emulator, and the
report sets the two side by side. Every child is this tree's harness file run
with ``python -P`` and ``PYTHONPATH`` set to the tree (or artifact) measured,
so both sides are driven by the same code; the measured tree needs only the
runtime API the harness calls (the handler, wiring, routing, ``AwsClients``),
``broker.local.idp`` and ``broker.local.bench.landscape``'s constants.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker.local.bench import landscape
from broker.local.bench.landscape import (
    BENCH_ACS_URL,
    BENCH_ENTITY_ID,
    BENCH_TABLE,
    HUB_REGION,
    BenchTeam,
    EmulatorProcess,
)
from broker.local.bench.worker import parse_and_verify
from broker.ops.routing_source import compile_routing_file

SMALL_TABLE = 10
COMPARE_BLOCKS = 4  # small and large tables alternate, so drift hits both alike
WARM_BLOCKS = 4  # warm logins and their floors alternate in one process, for the same reason
WORKER_TIMEOUT_SECONDS = 600
HARNESS = Path(__file__).resolve().parent
THIS_TREE = HARNESS.parents[2]  # broker/local/bench -> the tree that holds broker/


@dataclass(frozen=True)
class BenchOptions:
    """What to run; the defaults finish in well under a minute on two cores."""

    logins: int = 400
    users: int = 10
    teams: int = 4
    table_size: int = 10_000
    accounts: int = 500
    concurrency: int = 1
    compare_logins: int = 200
    cold_starts: int = 3
    floor_repeats: int = 200
    people: int = 1000
    latencies_ms: tuple[int, ...] = (10, 20, 40)
    latency_logins: int = 30
    before: str | None = None

    def __post_init__(self) -> None:
        for name in ("logins", "users", "teams", "table_size", "accounts", "concurrency",
                     "compare_logins", "cold_starts", "floor_repeats", "people", "latency_logins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not self.latencies_ms or min(self.latencies_ms) < 1:
            raise ValueError("latencies_ms must be one or more values of at least 1")
        if self.before is not None and not (Path(self.before) / "broker" / "handler.py").is_file():
            raise ValueError(f"before: {self.before} holds no broker package")


@dataclass(frozen=True)
class Side:
    """One broker measured: ``tree`` holds its ``broker`` package; ``prefix`` keeps its people apart."""

    name: str
    tree: Path
    prefix: str


Progress = Callable[[str], None]


def run_bench(options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Run the whole benchmark and return the report (see :mod:`.report` for its shape)."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    sides = [Side("after", THIS_TREE, "")]
    if options.before:
        sides.insert(0, Side("before", Path(options.before).resolve(), "before-"))
    workers: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as tmp:
        work = Path(tmp)
        base_env = landscape.aws_env("http://unset.invalid")
        artifacts = {}
        for side in sides:
            say(f"packaging {side.name} ({side.tree}) with scripts/package-lambda.sh")
            artifacts[side.name] = package(side.tree, work / f"lambda-{side.name}")
        say("starting the emulator (its own process)")
        emulator = EmulatorProcess(base_env)
        try:
            env = landscape.aws_env(emulator.url)
            teams = landscape.bench_teams(options.teams)
            say(f"provisioning {len(teams)} teams in {len({t.account_id for t in teams})} spoke accounts")
            landscape.provision(teams, emulator.url)
            idps = _idps(teams)
            say(f"writing routing tables ({SMALL_TABLE} and {options.table_size} teams)")
            tables = _routing_files(work, teams, idps, options)
            routing = {side.name: tables[lambda_routing_form(side.tree)] for side in sides}

            say("measuring the floors: python3-saml strict validation, parse + signature check")
            floor = measure_floor(idps[teams[0].id], teams[0], options.floor_repeats)

            for side in sides:
                say(f"{side.name}: signing in through {options.concurrency} broker process(es)")
                workers[side.name] = _run_workers(
                    work, env, routing[side.name], idps, _pairs(side, teams, options), options, side)

            validation = {}
            for side in sides:
                say(f"{side.name}: broker routing validate on the {options.table_size}-team table")
                validation[side.name] = _validate(work, env, tables["yaml"]["large"], side)

            say(f"{options.cold_starts} cold starts as packaged per side, and as many "
                "`import boto3` + one SageMaker client")
            cold = _cold_starts(work, env, {side.name: routing[side.name]["small"] for side in sides},
                                idps, teams, options, sides, artifacts)
        finally:
            emulator.stop()
        memory = {}
        for side in sides:
            say(f"{side.name}: memory of {options.people} distinct people in one fresh container")
            memory[side.name] = _memory(work, base_env, options.people, side)
    from broker.local.bench.report import build_report, compare

    duration = time.perf_counter() - started
    reports = {side.name: build_report(
        options, floor, workers[side.name], {"broker": cold[side.name], "boto3": cold["boto3"]},
        machine(), duration, memory[side.name], validation[side.name])
        | {"tree": tree_revision(side.tree)}
        for side in sides}
    report = reports["after"]
    if "before" in reports:
        report["before"] = reports["before"]
    report["comparison"] = compare(report, reports.get("before"))
    return report


def tree_revision(tree: Path) -> dict[str, str]:
    """Where a side's code came from: its path and git commit (``+dirty`` with changes)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {"path": str(tree), "commit": commit}


def package(tree: Path, out: Path) -> Path:
    """The tree's broker package as the Lambda gets it: ``scripts/package-lambda.sh`` of that
    tree, bytecode compiled by this interpreter (the dependencies are this environment's,
    which pip compiled when it installed them)."""
    script = tree / "scripts" / "package-lambda.sh"
    if "WITH_DEPENDENCIES" not in script.read_text(encoding="utf-8"):
        return _package_as_before_bytecode(tree, out)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    # BROKER: the script compiles the tree's own routing.yaml into the artifact (the bench
    # gives the Lambda its own tables); a worktree has no .venv, so this environment's CLI.
    env = dict(os.environ, OUT=str(out), WITH_DEPENDENCIES="0", PY_VERSION=version,
               BYTECODE_PYTHON=sys.executable, PYTHON=sys.executable)
    cli = Path(sys.executable).with_name("broker")
    if cli.is_file():
        env["BROKER"] = str(cli)
    done = subprocess.run(["bash", str(tree / "scripts" / "package-lambda.sh")], env=env,
                          capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0 or not (out / "broker" / "handler.py").is_file():
        raise RuntimeError(f"packaging {tree} failed:\n{done.stderr[-4000:]}")
    return out


def _package_as_before_bytecode(tree: Path, out: Path) -> Path:
    """The broker package as a tree from before e02b16f packaged it: its script always
    downloaded the wheels (so it is not run here), copied ``broker/`` without the
    emulator, local stack, operator tools and CLI, and deleted every ``__pycache__``."""
    shutil.copytree(tree / "broker", out / "broker",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("emulator", "local", "ops"):
        shutil.rmtree(out / "broker" / part, ignore_errors=True)
    (out / "broker" / "cli.py").unlink(missing_ok=True)
    return out


def child(module: str, *args: str) -> list[str]:
    """The command of one of this tree's harness children, run as a file: ``-P`` keeps its
    folder off ``sys.path``, so ``PYTHONPATH`` alone says whose broker is imported."""
    return [sys.executable, "-P", str(HARNESS / f"{module}.py"), *args]


def _pairs(side: Side, teams: list[BenchTeam], options: BenchOptions) -> list[list[str]]:
    users = [f"{side.prefix}user{n}@example.com" for n in range(1, options.users + 1)]
    return [[user, team.id] for user in users for team in teams]


def machine() -> dict[str, Any]:
    """Where the numbers were taken."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}


def _idps(teams: list[BenchTeam]) -> dict[str, Any]:
    from broker.local.idp import SamlIdentityProvider

    return {team.id: SamlIdentityProvider.generate(team.issuer) for team in teams}


def _routing_files(work: Path, teams: list[BenchTeam], idps: dict[str, Any],
                   options: BenchOptions) -> dict[str, dict[str, str]]:
    """Both tables in both forms: ``{"yaml": {...}, "json": {...}}`` by table name."""
    certificates = {team_id: idp.cert_pem for team_id, idp in idps.items()}
    largest = max(options.table_size, SMALL_TABLE)
    pems = list(landscape.filler_certificates(max(1, largest - len(teams))))
    files: dict[str, dict[str, str]] = {"yaml": {}, "json": {}}
    for name, size in (("small", SMALL_TABLE), ("large", options.table_size)):
        path = work / f"routing-{name}.yaml"
        path.write_text(landscape.routing_yaml(teams, certificates, size, options.accounts, pems))
        # the Lambda's form: judged and compiled once, loaded as data (broker.routing)
        compiled = path.with_suffix(".json")
        compiled.write_text(compile_routing_file(path), encoding="utf-8")
        files["yaml"][name], files["json"][name] = str(path), str(compiled)
    return files


def lambda_routing_form(tree: Path) -> str:
    """Which form of the table ``tree``'s Lambda reads: the compiled JSON, or (a tree from
    before the compiled table, 2cb2bfe) routing.yaml itself."""
    routing = (tree / "broker" / "routing.py").read_text(encoding="utf-8")
    return "json" if "def load_compiled_table" in routing else "yaml"


def measure_floor(idp: Any, team: BenchTeam, repeats: int) -> dict[str, Any]:
    """CPU of raw python3-saml strict validation of one response, and of the broker's validator.

    The raw number is python3-saml 1.16 as shipped (no schema or XPath cache):
    the issue's floor. The broker's validator (our checks + python3-saml with
    the caches) is measured on the same response for the breakdown.
    """
    from onelogin.saml2.response import OneLogin_Saml2_Response

    from broker.config import IdpApplication, ServiceProvider
    from broker.saml import SamlValidator, speedups, toolkit

    sp = ServiceProvider(entity_id=BENCH_ENTITY_ID, acs_url=BENCH_ACS_URL)
    application = IdpApplication(f"studio-{team.id}", team.issuer, (idp.cert_pem,),
                                 frozenset({team.id}))
    response = idp.encode(idp.build_response(
        user_id="floor@example.com", team_id=team.id, audience=BENCH_ENTITY_ID,
        acs_url=BENCH_ACS_URL))
    settings = toolkit.settings_for(sp, application)
    request = toolkit.request_data(BENCH_ACS_URL)

    def raw() -> None:
        if not OneLogin_Saml2_Response(settings, response).is_valid(request, raise_exceptions=True):
            raise AssertionError("python3-saml refused the benchmark's response")

    was_installed = speedups.installed()
    speedups.uninstall()
    try:
        raw_ms = _cpu_ms_per_call(raw, repeats)
    finally:
        if was_installed:
            speedups.install()
    validator = SamlValidator(sp, {team.issuer: application})
    broker_ms = _cpu_ms_per_call(lambda: validator.validate(response), repeats)
    signature_ms = _cpu_ms_per_call(parse_and_verify(response, idp.cert_pem), repeats)
    return {"python3_saml_raw_cpu_ms": raw_ms, "broker_validator_cpu_ms": broker_ms,
            "parse_and_signature_cpu_ms": signature_ms, "repeats": repeats}


def _cpu_ms_per_call(call: Callable[[], Any], repeats: int) -> float:
    for _ in range(min(20, repeats)):  # warm-up: first-use costs are a cold start's, not this
        call()
    cpu = time.process_time()
    for _ in range(repeats):
        call()
    return (time.process_time() - cpu) * 1000 / repeats


def _cycle(pairs: list[list[str]], count: int, offset: int = 0) -> list[list[str]]:
    return [pairs[(offset + i) % len(pairs)] for i in range(count)]


def _run_workers(work: Path, env: dict[str, str], routing: dict[str, str], idps: dict[str, Any],
                 pairs: list[list[str]], options: BenchOptions, side: Side) -> list[dict[str, Any]]:
    n = options.concurrency
    work = work / side.name
    work.mkdir()
    go = str(work / "go")
    ready = [str(work / f"ready-{i}") for i in range(n)]
    per_worker = max(1, options.logins // n)
    block = max(1, options.compare_logins // COMPARE_BLOCKS)
    idp_specs = {team: {"issuer": idp.issuer, "key_pem": idp.key_pem, "cert_pem": idp.cert_pem}
                 for team, idp in idps.items()}
    jobs = []
    for i in range(n):
        warm = {"name": "warm", "routing": "small", "measure": True, "ready": ready[i], "wait": go,
                "pairs": _cycle(pairs, per_worker, offset=i)}
        if i == 0:
            phases = [{"name": "first", "routing": "small", "measure": True, "pairs": pairs}]
            # The warm logins in blocks, each followed by the floor (the two AWS calls bare,
            # parse and signature check alone) in the same process: the ratio is taken between
            # neighbours, whatever the machine does meanwhile.
            per_block = max(1, per_worker // WARM_BLOCKS)
            rounds = max(5, per_worker // (2 * WARM_BLOCKS))
            for block in range(WARM_BLOCKS):
                phases.append(warm | {"pairs": _cycle(pairs, per_block, offset=block * per_block)}
                              if block == 0 else {"name": "warm", "routing": "small",
                                                  "measure": True,
                                                  "pairs": _cycle(pairs, per_block,
                                                                  offset=block * per_block)})
                phases.append({"name": "aws-floor", "routing": "small", "pairs": pairs,
                               "aws_floor": rounds})
            # Round robin, login by login: drift and the neighbours' load hit every D alike.
            cycle = [0, *options.latencies_ms]
            phases.append({"name": "latency", "routing": "small", "latency_cycle_ms": cycle,
                           "pairs": _cycle(pairs, options.latency_logins * len(cycle))})
            phases.append({"name": "large-warmup", "routing": "large", "pairs": pairs})
            for round_ in range(COMPARE_BLOCKS):
                for table in ("small", "large"):
                    phases.append({"name": f"compare-{table}", "routing": table, "measure": True,
                                   "pairs": _cycle(pairs, block, offset=round_ * block)})
        else:
            # Profiles exist once worker 0 is ready for its warm phase; warm this container's caches.
            phases = [{"name": "warmup", "routing": "small", "pairs": pairs, "wait": ready[0]}, warm]
        jobs.append({"routing": routing, "table_name": BENCH_TABLE, "table_region": HUB_REGION,
                     "idps": idp_specs, "phases": phases})

    processes = []
    for i, job in enumerate(jobs):
        job_file, result_file = work / f"job-{i}.json", work / f"result-{i}.json"
        job_file.write_text(json.dumps(job))
        processes.append((subprocess.Popen(
            child("worker", str(job_file), str(result_file)), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, env=env | {"PYTHONPATH": str(side.tree)}),
            result_file))
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
        while not all(os.path.exists(path) for path in ready):
            if any(p.poll() not in (None, 0) for p, _ in processes) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        Path(go).write_text("go")
        results = []
        for process, result_file in processes:
            _, stderr = process.communicate(timeout=WORKER_TIMEOUT_SECONDS)
            if process.returncode != 0:
                raise RuntimeError(f"a broker worker failed:\n{stderr[-4000:]}")
            results.append(json.loads(Path(result_file).read_text()))
        return results
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _cold_starts(work: Path, env: dict[str, str], routing_files: dict[str, str], idps: dict[str, Any],
                 teams: list[BenchTeam], options: BenchOptions, sides: list[Side],
                 artifacts: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Per run: each side's packaged broker, then the floor, all interleaved against drift."""
    runs: dict[str, list[dict[str, Any]]] = {side.name: [] for side in sides} | {"boto3": []}
    for run in range(options.cold_starts):
        for side in sides if run % 2 == 0 else sides[::-1]:  # neither side always goes first
            user, team = _pairs(side, teams, options)[0]  # a person whose profile exists
            idp = idps[team]
            event = landscape.acs_event(idp.encode(idp.build_response(
                user_id=user, team_id=team, audience=BENCH_ENTITY_ID, acs_url=BENCH_ACS_URL)))
            job = {"routing_file": routing_files[side.name], "table_name": BENCH_TABLE,
                   "table_region": HUB_REGION, "event": event}
            runs[side.name].append(_spawn_cold(work, env, "broker", job, f"{side.name}-{run}",
                                               artifacts[side.name]))
        runs["boto3"].append(_spawn_cold(work, env, "boto3", job, str(run), artifacts["after"]))
    return runs


def _spawn_cold(work: Path, env: dict[str, str], mode: str, job: dict[str, Any], run: str,
                artifact: Path) -> dict[str, Any]:
    job_file, result_file = work / f"cold-{mode}-{run}.json", work / f"cold-{mode}-{run}-result.json"
    job_file.write_text(json.dumps(job))
    # /var/task is read-only: nothing may be compiled and kept between cold starts.
    child_env = env | {"PYTHONPATH": str(artifact), "PYTHONDONTWRITEBYTECODE": "1"}
    spawned = time.time()
    completed = subprocess.run(
        child("coldstart", mode, str(job_file), str(result_file)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env,
        timeout=WORKER_TIMEOUT_SECONDS, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"a cold-start child ({mode}) failed:\n{completed.stderr[-4000:]}")
    result = json.loads(result_file.read_text())
    result["spawned_at"] = spawned
    result["wall_ms"] = (result["answered_at"] - spawned) * 1000
    return result


def _validate(work: Path, env: dict[str, str], table: str, side: Side) -> dict[str, Any]:
    """``broker routing validate`` of ``side``'s tree on ``table``: wall from spawn, CPU, RSS."""
    result_file = work / f"validate-{side.name}-result.json"
    spawned = time.perf_counter()
    completed = subprocess.run(
        child("validate", table, str(result_file)), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=env | {"PYTHONPATH": str(side.tree)},
        timeout=WORKER_TIMEOUT_SECONDS, check=False)
    wall_s = time.perf_counter() - spawned
    if completed.returncode != 0:
        raise RuntimeError(f"the validate child failed:\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    if result["exit_code"] != 0:
        raise RuntimeError(f"broker routing validate refused the bench's table: {result['summary']}")
    return result | {"wall_s": wall_s}


def _memory(work: Path, env: dict[str, str], people: int, side: Side) -> dict[str, Any]:
    result_file = work / f"memory-{side.name}-result.json"
    completed = subprocess.run(
        child("memory", str(people), str(result_file)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=env | {"PYTHONPATH": str(side.tree)}, timeout=WORKER_TIMEOUT_SECONDS, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the memory child failed:\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def merge_calls(phases: list[dict[str, Any]]) -> Counter[str]:
    """All calls of several phases together."""
    total: Counter[str] = Counter()
    for phase in phases:
        total.update(phase["calls"])
    return total


def options_dict(options: BenchOptions) -> dict[str, Any]:
    """The options as plain data (for the JSON report)."""
    return asdict(options)


def median(values: list[float]) -> float:
    """The median, 0.0 for no values."""
    return statistics.median(values) if values else 0.0
