#!/usr/bin/env bash
# Render docs/diagrams/*.mmd (Mermaid, the source) to the PNGs the docs show.
# Uses the mermaid CLI from npm with Debian's chromium (`make browser`), no browser download.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${TMPDIR:-/tmp}/studio-broker-mermaid"
if [ ! -x "$tools/node_modules/.bin/mmdc" ]; then
  mkdir -p "$tools"
  (cd "$tools" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent @mermaid-js/mermaid-cli)
fi
config="$(mktemp)"
trap 'rm -f "$config"' EXIT
echo '{"executablePath":"/usr/bin/chromium","args":["--no-sandbox","--headless","--disable-gpu"]}' >"$config"
for source in docs/diagrams/*.mmd; do
  "$tools/node_modules/.bin/mmdc" --quiet -i "$source" -o "${source%.mmd}.png" -b white -w 1200 -p "$config"
  echo "rendered ${source%.mmd}.png"
done
