#!/usr/bin/env bash
# The main job on a fresh machine, no servers: build `spend`, start `spend dev` (every service in one
# process, embedded broker and stores under ./.spend), upload the normative example transactions,
# show a card's rewards, and leave it running for you to explore (Ctrl-C drains and stops it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

port=${SPEND_PORT:-8080}
data=${SPEND_DATA_DIR:-./.spend}
examples=../shared/spec/examples
url=http://127.0.0.1:$port

# etcd-client's build runs protoc (Debian protobuf-compiler + libprotobuf-dev's well-known types).
if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/descriptor.proto ]; then
  bash scripts/services.sh install-build-deps
fi
cargo build --release --locked -p spend
spend=target/release/spend

echo "==> spend dev --data-dir $data --port $port"
RUST_LOG=${RUST_LOG:-warn} "$spend" dev --data-dir "$data" --port "$port" &
dev=$!
trap 'kill -INT $dev 2>/dev/null; wait $dev' EXIT
for _ in $(seq 1 300); do
  curl -fs "$url/readyz" >/dev/null 2>&1 && break
  kill -0 $dev 2>/dev/null || { echo "spend dev exited" >&2; exit 1; }
  sleep 0.2
done
admin=$(cat "$data/admin-token")

echo
echo "==> spend upload $examples/transactions.csv"
"$spend" upload --url "$url" --token "$(cat "$data/bank-token")" "$examples/transactions.csv"

echo
card=00000000-0000-4000-8000-0000000000a3
# The answer means every row is durably in Kafka; the rewarder rewards them a moment later. A
# card's rows are rewarded in file order, so once its last row has an outcome, all of them have.
last=$(awk -F, -v card="$card" '$8 == card { id = $1 } END { print id }' "$examples/transactions.csv")
echo "==> waiting until the card's last transaction ($last) is rewarded"
for _ in $(seq 1 300); do
  curl -fs -o /dev/null -H "Authorization: Bearer $admin" "$url/v1/transactions/$last" && break
  kill -0 $dev 2>/dev/null || { echo "spend dev exited" >&2; exit 1; }
  sleep 0.1
done
echo
echo "==> GET /v1/cards/$card/rewards?limit=3"
curl -fs -H "Authorization: Bearer $admin" "$url/v1/cards/$card/rewards?limit=3" | python3 -m json.tool
echo
echo "==> GET /v1/cards/$card/summary"
curl -fs -H "Authorization: Bearer $admin" "$url/v1/cards/$card/summary" | python3 -m json.tool

echo
echo "spend dev keeps running on $url (API docs: $url/docs; tokens in $data/). Ctrl-C stops it."
wait $dev
