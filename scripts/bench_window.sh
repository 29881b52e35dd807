#!/usr/bin/env bash
# `detect` over one hour of a 10-day lake against the same hour on a lake holding only that last
# day (issue 12: within 1.3x), with the whole suite and with each costly detection alone; several
# rounds, and optionally several binaries alternated in one run (an A/B of a change).
#
#   bash scripts/bench_window.sh                                  # the release build, 2 rounds
#   BENCH_BINS="new=/tmp/a old=/tmp/b@/tmp/old-checkout/queries" BENCH_ROUNDS=3 bash scripts/bench_window.sh
#
# Each entry of BENCH_BINS is NAME=BINARY, or NAME=BINARY@QUERIES for a binary that must run the
# detections of its own commit (default: this checkout's queries/).
#
# The data (10 days of BENCH_WINDOW_DAILY generated events, default 100000) and both lakes are
# kept under $BENCH_DIR between runs (scripts/bench.sh makes the same ones). Prints a table and
# appends it to $BENCH_DIR/results.md. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agenttrail-target}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/agenttrail-bench}"
DAILY="${BENCH_WINDOW_DAILY:-100000}"
ROUNDS="${BENCH_ROUNDS:-2}"
[ -x /usr/bin/time ] || { echo "bench_window.sh: /usr/bin/time is needed (Debian package 'time')" >&2; exit 2; }
if [ -z "${BENCH_BINS:-}" ]; then
  echo "bench_window.sh: building the release binary (once; ~30 min from clean)" >&2
  cargo build --release --locked --quiet
  BENCH_BINS="agenttrail=$CARGO_TARGET_DIR/release/agenttrail"
fi
read -r -a BINS <<<"$BENCH_BINS"
FIRST_BIN="${BINS[0]#*=}"; FIRST_BIN="${FIRST_BIN%%@*}"

DATA="$BENCH_DIR/window-$DAILY"
if [ ! -f "$DATA/.complete" ]; then
  rm -rf "$DATA" "$BENCH_DIR/.lakes-window-$DAILY"
  for k in $(seq 0 9); do
    echo "bench_window.sh: generating day $((k + 1))/10 ($DAILY events)" >&2
    "$FIRST_BIN" -q synth --events "$DAILY" --seed $((100 + k)) \
      --day "$(date -u -d "2026-11-20 + $k days" +%F)" --out "$DATA/day-$k"
  done
  touch "$DATA/.complete"
fi
L10="$BENCH_DIR/lake-window-10d"; L1="$BENCH_DIR/lake-window-1d"
if [ ! -f "$BENCH_DIR/.lakes-window-$DAILY" ]; then
  rm -rf "$L10" "$L1"
  "$FIRST_BIN" -q --no-progress ingest --source "$DATA" --lake "$L10" 2>/dev/null
  "$FIRST_BIN" -q --no-progress ingest --source "$DATA/day-9" --lake "$L1" 2>/dev/null
  touch "$BENCH_DIR/.lakes-window-$DAILY"
fi
FROM="2026-11-29T12:00:00Z"; TO="2026-11-29T13:00:00Z"

# run LABEL BIN LAKE ARGS...: one detect under /usr/bin/time; prints "wall rss_mib".
run() {
  local label="$1" bin="$2" lake="$3"; shift 3
  local t="$BENCH_DIR/time.window"
  /usr/bin/time -f "%e %M" -o "$t" "$bin" -q detect --lake "$lake" --since "$FROM" --until "$TO" \
    --queries "$AGENTTRAIL_BENCH_QUERIES" --format csv "$@" >"$BENCH_DIR/out.window.$label" 2>"$BENCH_DIR/err.window" || {
    echo "bench_window.sh: $label failed:" >&2; tail -20 "$BENCH_DIR/err.window" >&2; exit 2; }
  read -r wall kb <"$t"
  echo "$wall $((kb / 1024))"
}

OTHERS=(); for q in queries/*.sql; do id="$(basename "$q" .sql)"; [ "$id" = ai_first_seen_api ] || OTHERS+=(--only "$id"); done
{
  echo
  echo "### detect over one hour: 10-day lake vs the last day only ($DAILY events a day), $(date -u +%FT%TZ)"
  echo
  echo "| binary | round | suite 1-day s | suite 10-day s | 10-day ÷ 1-day | RSS 1-day / 10-day MiB | without ai_first_seen_api 1-day / 10-day s | ÷ |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} | tee -a "$BENCH_DIR/results.md"
for round in $(seq 1 "$ROUNDS"); do
  for entry in "${BINS[@]}"; do
    name="${entry%%=*}"; bin="${entry#*=}"; queries=queries
    if [[ "$bin" == *@* ]]; then queries="${bin#*@}"; bin="${bin%%@*}"; fi
    export AGENTTRAIL_BENCH_QUERIES="$queries"
    read -r w1 r1 < <(run "$name-1d" "$bin" "$L1")
    read -r w10 r10 < <(run "$name-10d" "$bin" "$L10")
    read -r o1 _ < <(run "$name-1d-others" "$bin" "$L1" "${OTHERS[@]}")
    read -r o10 _ < <(run "$name-10d-others" "$bin" "$L10" "${OTHERS[@]}")
    same="same findings"
    cmp -s "$BENCH_DIR/out.window.${BINS[0]%%=*}-10d" "$BENCH_DIR/out.window.$name-10d" || same="findings differ from ${BINS[0]%%=*}"
    echo "| $name | $round | $w1 | $w10 | $(echo "scale=2; $w10 / $w1" | bc -l)× | $r1 / $r10 | $o1 / $o10 | $(echo "scale=2; $o10 / $o1" | bc -l)× |" \
      | tee -a "$BENCH_DIR/results.md"
    echo "bench_window.sh: $name round $round: $same" >&2
  done
done
