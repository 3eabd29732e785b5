#!/usr/bin/env bash
# Property-based tests of the three published OpenAPI documents against `spend dev`, with
# Schemathesis (pinned in scripts/lib/tools-requirements.txt), every check included — "schema-valid
# request accepted" too: whatever a document allows, the server must take, and whatever the server
# refuses, the document must forbid.
#
#   scripts/schemathesis.sh [extra schemathesis run options...]
#
# Builds `spend`, starts `spend dev` on a fresh data directory (which loads the reference
# configuration on first start: the programs and currencies generated requests may name), then runs
# `schemathesis run --checks all` over /v1/openapi/{ingestor,informer,campaignex}.json with the
# fitting token (bank for the ingestor, admin for the others, a customer's for `/v1/me/...`). The few rules a schema cannot state
# are applied to generated requests by scripts/lib/schemathesis_hooks.py, which also puts the
# objects an S3 batch names into `spend dev`'s S3 first; scripts/lib/schemathesis.toml counts 412
# (a stale ETag) among the answers a valid request may get. Campaignex runs last: it replaces the
# configuration while it runs.
#
# Settings (environment, all optional):
#   SPEND_SCHEMATHESIS_EXAMPLES  examples per operation and phase   (40)
#   SPEND_SCHEMATHESIS_SEED      the generation seed                (1; "random" for a new one)
#   SPEND_BIN                    a built `spend` to run instead of building one
#   SPEND_TOOLS                  where the tools venv is            (~/.cache/spend-tools)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${SPEND_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/spend-tools}
ST=$TOOLS/venv/bin/schemathesis
EXAMPLES=${SPEND_SCHEMATHESIS_EXAMPLES:-40}
SEED=${SPEND_SCHEMATHESIS_SEED:-1}

[ -x "$ST" ] || { echo "schemathesis: not installed at $ST: run scripts/services.sh install" >&2; exit 1; }
cd "$ROOT"
if [ -n "${SPEND_BIN:-}" ]; then
  spend=$SPEND_BIN
else
  cargo build -p spend --locked --quiet
  spend=${CARGO_TARGET_DIR:-$ROOT/target}/debug/spend
fi

work=$(mktemp -d)
dev_pid=
cleanup() {
  if [ -n "$dev_pid" ]; then kill -INT "$dev_pid" 2>/dev/null && wait "$dev_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$TOOLS/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -u SPEND_DATA_DIR -u SPEND_PORT -u SPEND_JWT_SECRET RUST_LOG=warn \
  "$spend" dev --data-dir "$work/data" --port "$port" >"$work/dev.log" 2>&1 &
dev_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 1 300); do
  if curl -fsS "$url/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$dev_pid" 2>/dev/null; then cat "$work/dev.log" >&2; echo "spend dev exited" >&2; exit 1; fi
  sleep 0.2
done
curl -fsS "$url/readyz" >/dev/null || { cat "$work/dev.log" >&2; echo "spend dev never became ready" >&2; exit 1; }

seed_option=()
[ "$SEED" = random ] || seed_option=(--seed "$SEED")
export SCHEMATHESIS_HOOKS=$ROOT/scripts/lib/schemathesis_hooks.py
export SPEND_SCHEMATHESIS_URL=$url SPEND_SCHEMATHESIS_DATA_DIR=$work/data
SPEND_SCHEMATHESIS_ADMIN_TOKEN=$(cat "$work/data/admin-token")
export SPEND_SCHEMATHESIS_ADMIN_TOKEN
# A cardholder's token for `/v1/me/...` (scripts/lib/schemathesis.toml).
SPEND_SCHEMATHESIS_CUSTOMER_TOKEN=$("$spend" token --role customer --card 7f3c2a10-0000-4000-8000-000000000001 \
  --subject schemathesis-cardholder --data-dir "$work/data")
export SPEND_SCHEMATHESIS_CUSTOMER_TOKEN
failed=()
# Schemathesis keeps its example database in `.schemathesis/` of the working directory: the
# temporary one, so nothing is left in the tree.
cd "$work"
for doc in ingestor informer campaignex; do
  case $doc in
    ingestor) token=$(cat "$work/data/bank-token") ;;
    *) token=$(cat "$work/data/admin-token") ;;
  esac
  printf '\n==> schemathesis: %s\n' "$doc"
  if ! "$ST" --config-file "$ROOT/scripts/lib/schemathesis.toml" run "$url/v1/openapi/$doc.json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --max-examples "$EXAMPLES" \
    "${seed_option[@]}" \
    --workers 1 \
    --no-color \
    "$@"; then
    failed+=("$doc")
  fi
done

if ! kill -0 "$dev_pid" 2>/dev/null; then
  echo "spend dev died during the run:" >&2
  cat "$work/dev.log" >&2
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf '\nschemathesis found problems in: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nschemathesis: no problems in the three documents\n'
