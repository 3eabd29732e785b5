#!/usr/bin/env bash
# The project's one test command, on a fresh machine or a used one:
#   installs and starts the test servers (scripts/services.sh), then runs
#   cargo fmt --check, cargo clippy -D warnings and cargo test over the whole workspace, then the
#   OpenAPI documents (scripts/schemathesis.sh), the deploy files (scripts/validate-deploy.sh) and
#   cargo deny (deny.toml).
# fmt, clippy and test all run even when one fails; the exit status is non-zero if any failed.
# Servers that this run started are stopped at the end; ones already running are left alone.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p spend-domain).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
services=scripts/services.sh

fmt_options=()
if [ "${CI:-}" = "true" ]; then
  export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
  fmt_options=(-- --color never)
  # Line tables keep backtraces readable at a fraction of full debug info's build and link time.
  export CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

timings=()
failed=()
# run_phase NAME CMD...: run CMD, note its time and outcome; returns CMD's status.
run_phase() {
  local name=$1 start=$SECONDS rc=0
  shift
  printf '\n==> %s: %s\n' "$name" "$*"
  "$@" || rc=$?
  timings+=("$(printf '  %-8s %5ss  %s' "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  [ $rc -eq 0 ] || failed+=("$name")
  return $rc
}
print_timings() {
  printf '\n==> timings\n'
  printf '%s\n' "${timings[@]}"
  printf '  %-8s %5ss\n' total "$SECONDS"
}

started=$(mktemp)
test_log=$(mktemp)
stop_started() {
  local names
  names=$(tr '\n' ' ' <"$started")
  # shellcheck disable=SC2086 # one word per service name
  if [ -n "$names" ]; then bash "$services" stop $names || true; else echo "(this run started none)"; fi
  : >"$started"
}
on_exit() {
  local rc=$?
  if [ -s "$started" ]; then stop_started; fi
  rm -f "$started" "$test_log"
  exit $rc
}
trap on_exit EXIT

run_phase install bash "$services" install || exit 1
run_phase start env SPEND_STARTED_FILE="$started" bash "$services" start || exit 1
eval "$(bash "$services" env)"
bash "$services" env | sed 's/^/  /'

run_phase fmt cargo fmt --all --check "${fmt_options[@]}" || true
run_phase clippy cargo clippy --workspace --all-targets --locked -- -D warnings || true
# --no-fail-fast: every test binary runs and reports, so one failure does not hide the rest.
# The output is kept to count the results at the end.
log_to() {
  local log=$1
  shift
  "$@" 2>&1 | tee "$log"
}
run_phase test log_to "$test_log" cargo test --workspace --locked --no-fail-fast "$@" || true
# The published OpenAPI documents against `spend dev`, both ways (scripts/schemathesis.sh).
run_phase openapi bash scripts/schemathesis.sh || true
run_phase deploy bash scripts/validate-deploy.sh || true
# Bans (e.g. `rsa`, RUSTSEC-2023-0071), licenses and sources; advisories need GitHub (deny.toml).
run_phase deny cargo deny --locked check bans licenses sources || true

printf '\n==> stop\n'
stop_started
print_timings

# One closing line over every `test result:` line cargo printed (unit, integration and doc tests).
summary=$(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
      if ($(i + 1) ~ /^passed/) p += $i
      if ($(i + 1) ~ /^failed/) f += $i
      if ($(i + 1) ~ /^ignored/) s += $i
    }
    n++
  }
  END { if (n) printf "%d passed, %d failed, %d skipped", p, f, s }' "$test_log")
if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
fi
if [ -n "$summary" ]; then
  printf '\ntests: %s\n' "$summary"
else
  printf '\ntests: none ran (cargo test printed no result)\n'
fi
[ ${#failed[@]} -eq 0 ]
