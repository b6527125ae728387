#!/bin/bash
# The `syncmld bench` runs behind docs/performance.md, against a fresh
# syncmld (release build, log level warn, data on disk) or SyncEvolution's
# server. Each run writes OUT/NAME.json and prints its summary.
#
#   benches/figures.sh syncmld  [RUN...]     runs: empty slow changes concurrent users
#   benches/figures.sh syncevo  [RUN...]     runs: empty slow changes concurrent
#
# Environment: BIN (default target/release/syncmld, honours CARGO_TARGET_DIR),
# OUT (default $TARGET/figures), PORT (default 18480), REPEAT (default 3:
# each measured run is repeated; the doc quotes the median).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$HERE/target}
BIN=${BIN:-$TARGET/release/syncmld}
OUT=${OUT:-$TARGET/figures}
PORT=${PORT:-18480}
REPEAT=${REPEAT:-3}
SHARED=${SYNCMLD_SHARED:-$HERE/../shared}
side=${1:?usage: figures.sh syncmld|syncevo [RUN...]}; shift
runs=${*:-empty slow changes concurrent users}
mkdir -p "$OUT"

server_pids=() url="" metrics=() stop_cmd=""
start_syncmld() {
    local dir="$OUT/syncmld-data"
    rm -rf "$dir"; mkdir -p "$dir"
    printf '[log]\nlevel = "warn"\n[server]\nmax_sessions = 100000\n' > "$OUT/syncmld.toml"
    "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$dir" --config "$OUT/syncmld.toml" \
        > "$OUT/syncmld.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do [ -S "$dir/admin.sock" ] && break; sleep 0.1; done
    server_pids=(--server-pid "$pid")
    url="http://127.0.0.1:$PORT/sync"
    metrics=(--metrics-url "http://127.0.0.1:$PORT/metrics")
    stop_cmd="kill $pid"
}
start_syncevo() {
    local dir="$OUT/syncevo" ids=()
    rm -rf "$dir"; mkdir -p "$dir/vcf"
    for i in $(seq 0 9); do ids+=(--client-device-id "bench-$i"); done
    bash "$SHARED/peers/syncevo-server.sh" start --vcf-dir "$dir/vcf" --port "$PORT" \
        --user alice --password secret --state "$dir/state" --dump-dir "$dir/dumps" \
        --loglevel 1 "${ids[@]}" > "$dir/start.out"
    local sup; sup=$(sed -n 's/^PID=//p' "$dir/start.out")
    url=$(sed -n 's/^URL=//p' "$dir/start.out")
    server_pids=()
    for p in $(sed 's/[a-z-]*=//g' "$dir/state/child-pids"); do server_pids+=(--server-pid "$p"); done
    metrics=()
    stop_cmd="bash $SHARED/peers/syncevo-server.sh stop $sup"
}
trap 'eval "$stop_cmd"' EXIT

bench() { # NAME ARGS...: a fresh server, then REPEAT runs on it
    local name=$1; shift
    eval "$stop_cmd"; stop_cmd=""
    if [ "$side" = syncmld ]; then start_syncmld; else start_syncevo; fi
    for r in $(seq "$REPEAT"); do
        echo "== $side $name (run $r): syncmld bench $*"
        "$BIN" bench --url "$url" "${server_pids[@]}" "${metrics[@]}" "${timeout[@]}" --json "$OUT/$side-$name-$r.json" "$@"
    done
}
users() { # PREFIX COUNT: a users option for syncmld, the one user for SyncEvolution
    if [ "$side" = syncmld ]; then
        echo "--users-prefix $1 --users $2 --prepare-admin-socket $OUT/syncmld-data/admin.sock"
    else
        echo "--user alice --password secret --device-prefix bench-"
    fi
}
# Sessions per run: SyncEvolution takes about a second per session, so its
# runs are shorter (same shape, fewer sessions).
# (and a message on its 10k book takes about a minute: a longer timeout).
if [ "$side" = syncmld ]; then n_empty=500 n_slow=3 n_changes=200 timeout=()
else n_empty=3 n_slow=2 n_changes=5 timeout=(--timeout-secs 600); fi
for run in $runs; do
    case $run in
    empty)      bench empty-10k --clients 1 --sessions $n_empty --contacts 10000 $(users e10k- 1) ;;
    slow)       bench slow-10k --clients 1 --sessions $n_slow --mode slow --contacts 10000 $(users s10k- 1) ;;
    changes)    bench changes-100 --clients 1 --sessions $n_changes --changes 10 --contacts 100 $(users c100- 1)
                bench changes-10k --clients 1 --sessions $n_changes --changes 10 --contacts 10000 $(users c10k- 1)
                # SyncEvolution: a 100k warm-up would take hours
                if [ "$side" = syncmld ]; then
                    bench changes-100k --clients 1 --sessions $n_changes --changes 10 --contacts 100000 $(users c100k- 1)
                fi ;;
    concurrent) # SyncEvolution: one session at a time, one device config per client
                bench concurrent-10 --clients 10 --sessions 3 --contacts 10 $(users k- 1)
                if [ "$side" = syncmld ]; then
                    bench concurrent-1000 --clients 1000 --sessions 5 --contacts 10 $(users k- 1000)
                fi ;;
    users)      REPEAT=1 bench users-10k --clients 10000 --sessions 1 --contacts 100 $(users m- 10000) ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
    esac
done
