#!/usr/bin/env bash
# The reward-store scenario suite (store/tests/reward_scenarios.rs) on a real ScyllaDB node, in
# one command, on a machine with Docker (the development machines have none: there the ScyllaDB
# tests report that they were skipped):
#
#   scripts/test-scylla.sh                 start a node, run the suite on it, remove the node
#   scripts/test-scylla.sh -- --nocapture  extra arguments go to the test binary
#
# The node is `scylladb/scylla` with one shard and developer mode (no I/O tuning, small memory),
# on a loopback port. Every test creates and drops its own keyspace (tablets disabled, as the
# store requires), and SPEND_TEST_SCYLLA_REQUIRED=1 makes a node that cannot be reached a
# failure, not a skip. The etcd-free suite needs no other server.
#
# Settings (environment, all optional):
#   SPEND_SCYLLA_IMAGE   the image            (scylladb/scylla:6.2.3, as docker-compose.yml)
#   SPEND_SCYLLA_PORT    the host port        (19042)
#   SPEND_SCYLLA_KEEP=1  leave the node running afterwards (it is reused by the next run)
#   SPEND_SCYLLA_TIMEOUT seconds to wait for CQL (180)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGE=${SPEND_SCYLLA_IMAGE:-scylladb/scylla:6.2.3}
PORT=${SPEND_SCYLLA_PORT:-19042}
TIMEOUT=${SPEND_SCYLLA_TIMEOUT:-180}
NAME=spend-test-scylla-$PORT

say() { printf 'test-scylla: %s\n' "$*"; }
die() {
  printf 'test-scylla: error: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "needs docker (no CQL server can be installed without it)"
docker info >/dev/null 2>&1 || die "docker is installed but its engine does not answer"

[ "${1:-}" = "--" ] && shift

started=0
cleanup() {
  if [ "$started" = 1 ] && [ "${SPEND_SCYLLA_KEEP:-}" != 1 ]; then
    say "removing $NAME"
    docker rm -f "$NAME" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -n "$(docker ps -q --filter "name=^/$NAME$")" ]; then
  say "reusing the running node $NAME"
else
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  say "starting $IMAGE as $NAME on 127.0.0.1:$PORT"
  docker run -d --name "$NAME" -p "127.0.0.1:$PORT:9042" "$IMAGE" \
    --smp 1 --memory 750M --overprovisioned 1 --developer-mode 1 >/dev/null
  started=1
fi

say "waiting for CQL (up to ${TIMEOUT}s)"
deadline=$((SECONDS + TIMEOUT))
until docker exec "$NAME" cqlsh -e 'SELECT release_version FROM system.local' >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    docker logs --tail 50 "$NAME" >&2 || true
    die "the node did not answer CQL within ${TIMEOUT}s"
  fi
  sleep 2
done
say "ScyllaDB $(docker exec "$NAME" cqlsh -e 'SELECT release_version FROM system.local' 2>/dev/null |
  sed -n '4p' | tr -d ' ') is up"

export SPEND_TEST_SCYLLA=127.0.0.1:$PORT
export SPEND_TEST_SCYLLA_REQUIRED=1
cargo test -p spend-store --locked --test reward_scenarios -- "$@"
