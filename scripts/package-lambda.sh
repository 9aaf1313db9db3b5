#!/usr/bin/env bash
# Build the broker Lambda's code artifact in build/lambda (template.yaml's CodeUri)
# with Linux wheels, from any machine, without Docker: pip picks manylinux
# wheels for the Lambda runtime's Python (xmlsec and lxml ship manylinux_2_26+
# wheels that share one libxml2; nothing is compiled). Then: sam deploy --guided.
#
#   scripts/package-lambda.sh                 # python3.13, x86_64 (template.yaml's defaults)
#   PY_VERSION=3.12 scripts/package-lambda.sh
#   ARCH=aarch64 scripts/package-lambda.sh    # set Architectures: [arm64] in template.yaml too
#   WITH_DEPENDENCIES=0 OUT=/tmp/x scripts/package-lambda.sh  # the broker package only (tests)
#
# The artifact carries bytecode compiled by an interpreter of the runtime's
# Python (PY_VERSION; BYTECODE_PYTHON, default python$PY_VERSION on PATH or pyenv's): /var/task
# is read-only, so without it every cold start compiles every module again
# (about 2x the cold start). Bytecode is version-specific, so the build refuses an
# interpreter of another version. unchecked-hash .pyc files are used as they are,
# whatever the timestamps in the zip.
set -euo pipefail

cd "$(dirname "$0")/.."
PY_VERSION="${PY_VERSION:-3.13}"
ARCH="${ARCH:-x86_64}"
OUT="${OUT:-build/lambda}"
PYTHON="${PYTHON:-python3}"
WITH_DEPENDENCIES="${WITH_DEPENDENCIES:-1}"
BROKER="${BROKER:-.venv/bin/broker}"  # make venv; it compiles routing.yaml
if [ -z "${BYTECODE_PYTHON:-}" ]; then
    BYTECODE_PYTHON="python$PY_VERSION"
    # pyenv installs versions beside each other; its shim finds only the active ones.
    if ! "$BYTECODE_PYTHON" -V >/dev/null 2>&1 && command -v pyenv >/dev/null; then
        found="$(ls -d "$(pyenv root)/versions/$PY_VERSION".*/bin/"python$PY_VERSION" 2>/dev/null \
                 | sort -V | tail -n 1)"
        BYTECODE_PYTHON="${found:-$BYTECODE_PYTHON}"
    fi
fi

if ! [ -x "$BROKER" ]; then
    echo "no broker command at $BROKER to compile routing.yaml (make venv, or set BROKER)" >&2
    exit 1
fi

if ! "$BYTECODE_PYTHON" -c 'import sys; assert "%d.%d" % sys.version_info[:2] == sys.argv[1]' \
        "$PY_VERSION" 2>/dev/null; then
    echo "no Python $PY_VERSION interpreter for the bytecode (BYTECODE_PYTHON=$BYTECODE_PYTHON);" \
         "install one (pyenv install $PY_VERSION) or set BYTECODE_PYTHON" >&2
    exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"

if [ "$WITH_DEPENDENCIES" != 0 ]; then
    # The runtime dependencies, exactly as pinned in pyproject.toml.
    "$PYTHON" - > "$OUT/.requirements.txt" <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
PY
    "$PYTHON" -m pip install \
        --quiet \
        --target "$OUT" \
        --implementation cp \
        --python-version "$PY_VERSION" \
        --platform "manylinux_2_28_${ARCH}" \
        --platform "manylinux2014_${ARCH}" \
        --only-binary=:all: \
        --requirement "$OUT/.requirements.txt"
    rm "$OUT/.requirements.txt"
fi

# The runtime package only: the emulator, local stack, operator tools and CLI
# never run in the Lambda (smaller artifact, smaller attack surface).
mkdir -p "$OUT/broker"
cp -R broker/. "$OUT/broker/"
rm -rf "$OUT/broker/emulator" "$OUT/broker/local" "$OUT/broker/ops" "$OUT/broker/cli.py"
# pip compiled for the Python that ran it; drop that and compile for the runtime's.
find "$OUT" -name "__pycache__" -type d -prune -exec rm -rf {} +
# The judged, compiled routing table: the Lambda loads this JSON, never YAML (broker.routing).
"$BROKER" routing compile routing.yaml --output "$OUT/routing.json"
"$BYTECODE_PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash \
    -s "$OUT" -p /var/task "$OUT" >/dev/null

# Fail here, not at the first sign-in, if a wheel for another platform slipped in.
if find "$OUT" -name "*.so" | xargs -r file | grep -v "ELF 64-bit" | grep -q .; then
    echo "non-Linux native library in $OUT" >&2
    exit 1
fi
echo "Lambda artifact ready in $OUT ($(du -sh "$OUT" | cut -f1)); next: sam deploy --guided"
