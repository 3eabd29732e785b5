#!/usr/bin/env bash
# The main job on a fresh machine, no servers: build `spend`, then run the normative examples
# through `spend eval` (the same validation and reward engine the pipeline uses), then simulate the
# reference programs on 100,000 generated transactions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# etcd-client's build runs protoc (Debian protobuf-compiler + libprotobuf-dev's well-known types).
if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/descriptor.proto ]; then
  bash scripts/services.sh install-build-deps
fi

cargo build --release --locked -p spend
spend=target/release/spend
examples=../shared/spec/examples

echo "==> spend eval: examples/transactions.csv with the reference config and the example campaigns"
"$spend" eval --config "$examples/reference-config.json" --config "$examples/example-campaigns.json" \
  <"$examples/transactions.csv" | tee /tmp/spend-demo-result.csv | column -s, -t | cut -c1-160
if diff -q /tmp/spend-demo-result.csv "$examples/expected.csv" >/dev/null; then
  echo "==> identical to examples/expected.csv"
else
  echo "==> differs from examples/expected.csv" >&2
  exit 1
fi

echo
echo "==> campaign simulation: 100,000 generated transactions through the reference programs"
"$spend" gen --rows 100000 --seed 7 \
  | "$spend" eval --config "$examples/reference-config.json" \
  | awk -F, 'NR > 1 { n[$2 == "rewarded" ? $2 " " $4 : $2]++ }
      END { for (s in n) printf "  %-20s %8d rows\n", s, n[s] }' | sort
