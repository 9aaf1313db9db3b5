#!/usr/bin/env bash
# Build the broker Lambda's code artifact in build/lambda (template.yaml's CodeUri)
# with Linux wheels, from any machine, without Docker: pip picks manylinux
# wheels for the Lambda runtime's Python (xmlsec and lxml ship manylinux_2_26+
# wheels that share one libxml2; nothing is compiled). Then: sam deploy --guided.
#
#   scripts/package-lambda.sh                 # python3.13, x86_64 (template.yaml's defaults)
#   PY_VERSION=3.12 scripts/package-lambda.sh
#   ARCH=aarch64 scripts/package-lambda.sh    # set Architectures: [arm64] in template.yaml too
set -euo pipefail

cd "$(dirname "$0")/.."
PY_VERSION="${PY_VERSION:-3.13}"
ARCH="${ARCH:-x86_64}"
OUT="${OUT:-build/lambda}"
PYTHON="${PYTHON:-python3}"

rm -rf "$OUT"
mkdir -p "$OUT"

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

# The runtime package only: the emulator, local stack, operator tools and CLI
# never run in the Lambda (smaller artifact, smaller attack surface).
mkdir -p "$OUT/broker"
cp -R broker/. "$OUT/broker/"
rm -rf "$OUT/broker/emulator" "$OUT/broker/local" "$OUT/broker/ops" "$OUT/broker/cli.py"
find "$OUT" -name "__pycache__" -type d -prune -exec rm -rf {} +
cp routing.yaml "$OUT/routing.yaml"

# Fail here, not at the first sign-in, if a wheel for another platform slipped in.
if find "$OUT" -name "*.so" | xargs -r file | grep -v "ELF 64-bit" | grep -q .; then
    echo "non-Linux native library in $OUT" >&2
    exit 1
fi
echo "Lambda artifact ready in $OUT ($(du -sh "$OUT" | cut -f1)); next: sam deploy --guided"
