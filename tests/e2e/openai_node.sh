#!/usr/bin/env bash
# The issue's acceptance run on the built-in model: starts `switchyard serve`, drives it with the
# official openai npm package (openai_node/openai_client.test.mjs), puts a bounded load on it
# with `switchyard bench serve` (200 requests at concurrency 32, zero errors required), then
# SIGTERMs it and requires a clean exit.
#
#   tests/e2e/openai_node.sh BUILD_DIR
# Exit status 77 (skipped) when Node.js is not installed; scripts/setup.sh installs it.
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v node >/dev/null; then
  echo "node is not installed (scripts/setup.sh installs it): skipped"
  exit 77
fi
if [[ ! -d "$here/openai_node/node_modules/openai" ]]; then
  (cd "$here/openai_node" && npm ci --no-audit --no-fund)
fi

log="$(mktemp)"
server=""
cleanup() {
  if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server"; fi
  rm -f "$log"
}
trap cleanup EXIT

SWITCHYARD_PLUGIN_PATH= "$build/bin/switchyard" serve --port 0 >"$log" 2>&1 &
server=$!
port=""
for _ in $(seq 600); do
  port="$(sed -n 's|.*serving .* on http://127.0.0.1:\([0-9]*\) .*|\1|p' "$log")"
  [[ -n "$port" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "the server exited"; exit 1; }
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$log"; echo "the server did not start"; exit 1; }
echo "==> server on port $port"

echo "==> openai npm package"
SWITCHYARD_URL="http://127.0.0.1:$port/v1" node "$here/openai_node/openai_client.test.mjs"

echo "==> bench serve"
"$build/bin/switchyard" bench serve --url "http://127.0.0.1:$port" --requests 200 \
  --concurrency 32 --input-tokens 64 --output-tokens 32

echo "==> SIGTERM"
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
if ((status != 0)); then
  cat "$log"
  echo "the server exited with status $status after SIGTERM"
  exit 1
fi
echo "==> the server drained and exited 0"
