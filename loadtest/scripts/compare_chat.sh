#!/usr/bin/env bash
# Chat load, two server binaries interleaved (before, after, before, after, ...), each run on a
# fresh SQLite folder: the figures of docs/performance.md's before/after tables.
#
#   loadtest/scripts/compare_chat.sh BEFORE_BINARY AFTER_BINARY LOADTEST_BINARY OUT_DIR [RUNS] [RATES]
#
# e.g. loadtest/scripts/compare_chat.sh /tmp/duoxie-before target/release/duoxie \
#        target/release/duoxie-loadtest /tmp/perf 3 "10 25"
# Prints one line per run (acked/s, send->ack p99, never recovered); the full reports are in
# OUT_DIR/<before|after>-r<rate>-<n>.{txt,json}.
set -euo pipefail
# Absolute paths: each server runs in a fresh folder of its own.
before=$(realpath "$1") after=$(realpath "$2") loadtest=$(realpath "$3") out=$4
runs=${5:-3} rates=${6:-"10 25"}
mkdir -p "$out"
port=18200

run() {
  local which=$1 binary=$2 rate=$3 n=$4 dir pid report
  dir=$(mktemp -d)
  (cd "$dir" && exec env DUOXIE_AUTH_DEV_CODES=true DUOXIE_AUTH_CODE_RESEND_MS=0 \
    DUOXIE_WS_RATE_PER_SEC=10000 DUOXIE_WS_RATE_BURST=10000 DUOXIE_LOG=warn \
    DUOXIE_AUTH_CODES_PER_IP_PER_HOUR=1000000 DUOXIE_AUTH_CODES_PER_PHONE_PER_DAY=1000000 \
    DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE=1000000 DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR=1000000 \
    DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR=1000000 \
    DUOXIE_LISTEN=127.0.0.1:$port "$binary" serve >"$dir/log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
  report="$out/$which-r$rate-$n"
  "$loadtest" --addr 127.0.0.1:$port chat --pairs 200 --rate "$rate" --seconds 15 \
    --json "$report.json" >"$report.txt" 2>&1 || echo "$which r=$rate run $n: the load generator failed (see $report.txt)"
  kill -INT "$pid" 2>/dev/null || echo "$which r=$rate run $n: the server had already stopped (see its log above)"
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  printf '%s r=%s run %s: acked/s %s, send->ack p99 %s ms, never recovered %s\n' "$which" "$rate" "$n" \
    "$(awk '/throughput acked per s/ {print $NF}' "$report.txt")" \
    "$(awk '/send -> ack/ {print $6}' "$report.txt")" \
    "$(awk '/never recovered/ {print $NF}' "$report.txt")"
}

for n in $(seq 1 "$runs"); do
  for rate in $rates; do
    run before "$before" "$rate" "$n"
    run after "$after" "$rate" "$n"
  done
done
