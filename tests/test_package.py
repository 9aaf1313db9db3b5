"""The Lambda artifact carries bytecode for the runtime's Python, valid whatever the zip's timestamps.

Builds the broker package only (``WITH_DEPENDENCIES=0``: about a second; the
full build with the pinned wheels from PyPI takes ~30 s and runs the same
compile step over them). /var/task is read-only in Lambda, so a module without
bytecode is compiled again on every cold start.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "package-lambda.sh"
PY_VERSION = "3.13"  # template.yaml's runtime and the script's default
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, check_source off


def runtime_python() -> str | None:
    found = shutil.which(f"python{PY_VERSION}")
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return found
    pyenv = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{PY_VERSION}.*/bin/python{PY_VERSION}")))
    return pyenv[-1] if pyenv else None


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = runtime_python()
    if python is None:
        pytest.skip(f"no Python {PY_VERSION} interpreter here to compile the bytecode with")
    out = tmp_path_factory.mktemp("lambda")
    env = dict(os.environ, OUT=str(out), WITH_DEPENDENCIES="0", BYTECODE_PYTHON=python,
               BROKER=str(Path(sys.executable).with_name("broker")))
    subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, check=True, capture_output=True)
    return out


def magic_of(python: str) -> bytes:
    code = "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"
    return bytes.fromhex(subprocess.run([python, "-c", code], capture_output=True, text=True,
                                        check=True).stdout)


def test_every_runtime_module_has_unchecked_hash_bytecode_for_the_runtime_python(artifact: Path) -> None:
    python = runtime_python()
    assert python is not None
    magic = magic_of(python)
    sources = sorted(artifact.glob("broker/**/*.py"))
    assert len(sources) > 10 and (artifact / "broker" / "handler.py") in sources
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-{PY_VERSION.replace('.', '')}.pyc"
        assert compiled.exists(), f"no bytecode for {source.relative_to(artifact)}"
        header = compiled.read_bytes()[:8]
        assert header[:4] == magic, f"{compiled.name} is not {PY_VERSION} bytecode"
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH


def test_no_bytecode_of_another_python_and_no_operator_code(artifact: Path) -> None:
    tag = f"cpython-{PY_VERSION.replace('.', '')}"
    assert [p.name for p in artifact.rglob("*.pyc") if tag not in p.name] == []
    for absent in ("broker/emulator", "broker/local", "broker/ops", "broker/cli.py"):
        assert not (artifact / absent).exists()


def test_the_build_refuses_bytecode_from_another_python(tmp_path: Path) -> None:
    env = dict(os.environ, OUT=str(tmp_path / "out"), WITH_DEPENDENCIES="0",
               BYTECODE_PYTHON=shutil.which("python3") or "python3", PY_VERSION="3.99")
    completed = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert completed.returncode == 1
    assert "no Python 3.99 interpreter" in completed.stderr


def test_the_artifact_ships_the_compiled_table_not_yaml(artifact: Path) -> None:
    """The Lambda loads routing.json: the table judged at packaging, with the source's digest."""
    from broker.ops.hub_parameters import routing_digest

    assert not (artifact / "routing.yaml").exists()
    compiled = artifact / "routing.json"
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "from broker.routing import load_compiled_table;"
        "table = load_compiled_table(sys.argv[2]);"
        "print(json.dumps({'digest': table.digest, 'teams': sorted(table.teams),"
        " 'yaml': 'yaml' in sys.modules, 'jsonschema': 'jsonschema' in sys.modules,"
        " 'broker': sys.modules['broker'].__file__}))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(artifact), str(compiled)],
                            capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    assert loaded["broker"].startswith(str(artifact))
    assert loaded["digest"] == routing_digest((ROOT / "routing.yaml").read_bytes())
    assert loaded["teams"] and not loaded["yaml"] and not loaded["jsonschema"]
