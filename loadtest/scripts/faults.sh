#!/usr/bin/env bash
# The chat load test across faults (issue #9): two release nodes on one database and a private
# Redis, 100 pairs chatting for 20 s across the two nodes, and during the run either
#
#   redis   Redis killed (SIGKILL) at t≈6 s and started again at t≈11 s: cross-node events
#           published meanwhile are lost, and the clients must recover them by chat.sync
#           (gaps, then session.resync once each node's bus is back);
#   kill9   node 2 killed with SIGKILL at t≈8 s and started again at t≈10 s: its clients
#           reconnect to node 1, resume from their cursors and retry unacknowledged sends.
#
# t counts from the moment the load test starts sending (after its logins and set-up). A
# scenario passes when the load test does: every acknowledged message reached its recipient,
# live or by sync, none twice on one socket. Everything the script starts is stopped on exit.
#
# Usage, from a release build of the workspace (`cargo build --release --workspace`):
#
#   loadtest/scripts/faults.sh [redis|kill9|all]     (default: all)
#
# Results (the load test's JSON, its output and the node and Redis logs) go to
# $FAULTS_OUT (default target/faults/<date-time>). The nodes use SQLite in a fresh temporary
# data folder shared by both, or PostgreSQL when DATABASE_URL is set (it is passed through; use
# a fresh database, or also export the DUOXIE_PRIVACY_RECEIPT_KEY and DUOXIE_PRIVACY_PHONE_KEY
# it was set up with, since a node refuses keys its database has not seen).
# DUOXIE_BIN and LOADTEST_BIN override the binaries (e.g. debug builds), FAULTS_PAIRS and
# FAULTS_RATE the load (100 pairs, 10 messages per second per user).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DUOXIE_BIN=${DUOXIE_BIN:-$ROOT/target/release/duoxie}
LOADTEST_BIN=${LOADTEST_BIN:-$ROOT/target/release/duoxie-loadtest}
FAULTS_OUT=${FAULTS_OUT:-$ROOT/target/faults/$(date +%Y%m%d-%H%M%S)}
NODE1=127.0.0.1:18301
NODE2=127.0.0.1:18302
REDIS_FIRST_PORT=16390
# The load; FAULTS_PAIRS and FAULTS_RATE lower it for a slower machine or a debug build (the
# fault times are fixed, so the sending time is not).
PAIRS=${FAULTS_PAIRS:-100}
RATE=${FAULTS_RATE:-10}
SEND_SECONDS=20
# Login, set-up and the run itself (sending, drain, final sync) fit well within this.
LOADTEST_TIMEOUT=300

OUT=
REDIS_PORT=
REDIS_PID=
NODE1_PID=
NODE2_PID=
LOADTEST_PID=
LOADTEST_STATUS=0
SEND_STARTED_NS=0
DATA_DIR=

log() {
    printf '[faults %s] %s\n' "$(date +%T)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

port_in_use() {
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local port=$1
    while port_in_use "$port"; do
        port=$((port + 1))
        [[ $port -lt $(($1 + 100)) ]] || die "no free port from $1 on"
    done
    echo "$port"
}

# Stops one process we started: politely first (a node drains its sockets), then for good.
stop() {
    local pid=$1
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    stop "$LOADTEST_PID"
    LOADTEST_PID=
    stop "$NODE2_PID"
    NODE2_PID=
    stop "$NODE1_PID"
    NODE1_PID=
    stop "$REDIS_PID"
    REDIS_PID=
    if [[ -n $DATA_DIR ]]; then
        rm -rf "$DATA_DIR"
        DATA_DIR=
    fi
}

trap stop_all EXIT
trap 'exit 130' INT TERM

start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        >>"$OUT/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 50); do
        if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited; see $OUT/redis.log"
        sleep 0.1
    done
    die "redis-server did not answer on port $REDIS_PORT"
}

# Starts node 1 or 2 in the background, with the same settings every time.
start_node() {
    local n=$1 addr=$2
    DUOXIE_LISTEN=$addr \
        DUOXIE_DATA_DIR=$DATA_DIR \
        REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
        DUOXIE_AUTH_DEV_CODES=true \
        DUOXIE_WS_RATE_PER_SEC=1000 \
        DUOXIE_WS_RATE_BURST=2000 \
        DUOXIE_AUTH_CODES_PER_IP_PER_HOUR=1000000 \
        DUOXIE_AUTH_CODES_PER_PHONE_PER_DAY=1000000 \
        DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE=1000000 \
        DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR=1000000 \
        DUOXIE_LOG=warn \
        "$DUOXIE_BIN" serve >>"$OUT/node$n.log" 2>&1 &
    if [[ $n == 1 ]]; then NODE1_PID=$!; else NODE2_PID=$!; fi
}

wait_ready() {
    local n=$1 addr=$2 pid
    if [[ $n == 1 ]]; then pid=$NODE1_PID; else pid=$NODE2_PID; fi
    for _ in $(seq 600); do
        if curl -fsS -o /dev/null --max-time 2 "http://$addr/readyz" 2>/dev/null; then
            log "node $n ready on $addr"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$OUT/node$n.log" >&2 || true
            die "node $n exited before it was ready; see $OUT/node$n.log"
        fi
        sleep 0.1
    done
    die "node $n not ready on $addr after 60 s"
}

# A fresh deployment: Redis, then the nodes one after the other (the first one creates the
# database, its migrations and the keys the second one reads).
start_cluster() {
    REDIS_PORT=$(free_port "$REDIS_FIRST_PORT")
    DATA_DIR=$(mktemp -d -t duoxie-faults.XXXXXX)
    log "redis on port $REDIS_PORT, data in $DATA_DIR${DATABASE_URL:+ (database: DATABASE_URL)}"
    start_redis
    start_node 1 "$NODE1"
    wait_ready 1 "$NODE1"
    start_node 2 "$NODE2"
    wait_ready 2 "$NODE2"
}

now_ns() {
    date +%s%N
}

# Sleeps until `t` seconds after the load test began sending.
at() {
    local t=$1 wait_ms
    wait_ms=$(((SEND_STARTED_NS + t * 1000000000 - $(now_ns)) / 1000000))
    if [[ $wait_ms -gt 0 ]]; then
        sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
    fi
}

start_loadtest() {
    local scenario=$1
    "$LOADTEST_BIN" --addr "$NODE1" chat --pairs "$PAIRS" --rate "$RATE" \
        --seconds "$SEND_SECONDS" --peer-addr "$NODE2" --json "$OUT/$scenario.json" \
        >"$OUT/$scenario.out" 2>"$OUT/$scenario.err" &
    LOADTEST_PID=$!
    # Its set-up (logins, conversations, sockets) ends with this progress line; sending
    # starts right after.
    for _ in $(seq $((LOADTEST_TIMEOUT * 10))); do
        if grep -q 'pairs set up' "$OUT/$scenario.err" 2>/dev/null; then
            SEND_STARTED_NS=$(now_ns)
            log "$scenario: load test sending (t=0)"
            return 0
        fi
        if ! kill -0 "$LOADTEST_PID" 2>/dev/null; then
            cat "$OUT/$scenario.err" >&2 || true
            die "$scenario: the load test exited during its set-up"
        fi
        sleep 0.1
    done
    die "$scenario: the load test did not finish its set-up in $LOADTEST_TIMEOUT s"
}

# Waits for the load test and prints its table; its exit status goes to LOADTEST_STATUS
# (returning it would make callers test it, and `set -e` is off inside a tested function).
finish_loadtest() {
    local scenario=$1
    LOADTEST_STATUS=0
    wait "$LOADTEST_PID" || LOADTEST_STATUS=$?
    LOADTEST_PID=
    echo
    echo "=== $scenario: duoxie-loadtest exited with $LOADTEST_STATUS ==="
    cat "$OUT/$scenario.out"
}

scenario_redis() {
    start_loadtest redis
    at 6
    log "redis: SIGKILL redis-server (t=6)"
    kill -KILL "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
    at 11
    log "redis: starting redis-server again (t=11)"
    start_redis
    finish_loadtest redis
}

scenario_kill9() {
    start_loadtest kill9
    at 8
    log "kill9: SIGKILL node 2 (t=8)"
    kill -KILL "$NODE2_PID"
    wait "$NODE2_PID" 2>/dev/null || true
    NODE2_PID=
    at 10
    log "kill9: starting node 2 again (t=10)"
    start_node 2 "$NODE2"
    wait_ready 2 "$NODE2"
    finish_loadtest kill9
}

main() {
    local which=${1:-all} scenarios failed=()
    case $which in
        redis | kill9) scenarios=("$which") ;;
        all) scenarios=(redis kill9) ;;
        *) die "usage: $0 [redis|kill9|all]" ;;
    esac
    for tool in redis-server redis-cli curl; do
        command -v "$tool" >/dev/null || die "$tool is needed"
    done
    for bin in "$DUOXIE_BIN" "$LOADTEST_BIN"; do
        [[ -x $bin ]] || die "$bin not found: run cargo build --release --workspace"
    done
    for addr in "$NODE1" "$NODE2"; do
        ! port_in_use "${addr##*:}" || die "port ${addr##*:} is in use"
    done
    OUT=$FAULTS_OUT
    mkdir -p "$OUT"
    for scenario in "${scenarios[@]}"; do
        start_cluster
        "scenario_$scenario"
        [[ $LOADTEST_STATUS -eq 0 ]] || failed+=("$scenario")
        stop_all
    done
    log "results in $OUT"
    if [[ ${#failed[@]} -gt 0 ]]; then
        log "FAILED: ${failed[*]}"
        exit 1
    fi
    log "passed: ${scenarios[*]}"
}

main "$@"
