#!/usr/bin/env bash
# The whole detection suite and `SELECT count(*) FROM events` over the whole lake (issue 12:
# suite at least as fast as DuckDB, peak RSS < 1 GiB at 5M events), several rounds, several
# binaries alternated with DuckDB in one run (an A/B of a change against the same peer).
#
#   BENCH_SIZES=5000000 bash scripts/bench_suite.sh                  # the release build
#   BENCH_BINS="new=/tmp/a old=/tmp/b@/tmp/old-checkout/queries" BENCH_ROUNDS=3 bash scripts/bench_suite.sh
#
# Each entry of BENCH_BINS is NAME=BINARY, or NAME=BINARY@QUERIES for a binary that must run the
# detections of its own commit (default: this checkout's queries/). It reads the lakes and
# DuckDB's Parquet that scripts/bench.sh leaves under $BENCH_DIR ($BENCH_DIR/lake-N and
# duck-N.parquet; DuckDB is skipped where its Parquet is absent). Prints a table and appends it to
# $BENCH_DIR/results.md. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agenttrail-target}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/agenttrail-bench}"
SIZES="${BENCH_SIZES:-1000000 5000000}"
ROUNDS="${BENCH_ROUNDS:-2}"
PY="${AGENTTRAIL_BENCH_VENV:-$HOME/.cache/agenttrail-bench-venv}/bin/python"
[ -x /usr/bin/time ] || { echo "bench_suite.sh: /usr/bin/time is needed (Debian package 'time')" >&2; exit 2; }
if [ -z "${BENCH_BINS:-}" ]; then
  echo "bench_suite.sh: building the release binary (once; ~30 min from clean)" >&2
  cargo build --release --locked --quiet
  BENCH_BINS="agenttrail=$CARGO_TARGET_DIR/release/agenttrail"
fi
read -r -a BINS <<<"$BENCH_BINS"

# timed LABEL CMD...: CMD under /usr/bin/time, stdout to out.suite.LABEL; prints "wall rss_mib".
timed() {
  local label="$1"; shift
  local t="$BENCH_DIR/time.suite"
  sync
  /usr/bin/time -f "%e %M" -o "$t" "$@" >"$BENCH_DIR/out.suite.$label" 2>"$BENCH_DIR/err.suite" || {
    echo "bench_suite.sh: $label failed:" >&2; tail -20 "$BENCH_DIR/err.suite" >&2; exit 2; }
  read -r wall kb <"$t"
  echo "$wall $((kb / 1024))"
}

for N in $SIZES; do
  LAKE="$BENCH_DIR/lake-$N"; DUCK="$BENCH_DIR/duck-$N.parquet"
  [ -d "$LAKE/events/_delta_log" ] || { echo "bench_suite.sh: no $LAKE; run scripts/bench.sh with BENCH_SIZES=$N first" >&2; exit 2; }
  {
    echo
    echo "### whole-lake suite and count(*), $N events, $(date -u +%FT%TZ), agenttrail $(git rev-parse --short HEAD)"
    echo
    echo "| round | binary | suite s | suite RSS MiB | count(*) s | count(*) RSS MiB | DuckDB suite s (same round) | DuckDB RSS MiB | binary ÷ DuckDB speed |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  } | tee -a "$BENCH_DIR/results.md"
  for round in $(seq 1 "$ROUNDS"); do
    ds="–"; dr="–"
    if [ -f "$DUCK" ]; then read -r ds dr < <(timed "duck-$N" "$PY" scripts/bench_duckdb.py suite "$DUCK"); fi
    for entry in "${BINS[@]}"; do
      name="${entry%%=*}"; bin="${entry#*=}"; queries=queries
      if [[ "$bin" == *@* ]]; then queries="${bin#*@}"; bin="${bin%%@*}"; fi
      read -r sw sr < <(timed "$name-$N" "$bin" -q detect --lake "$LAKE" --queries "$queries" --format csv)
      read -r cw cr < <(timed "$name-$N-count" "$bin" -q query --lake "$LAKE" --format csv "SELECT count(*) FROM events")
      ratio="–"; [ "$ds" = "–" ] || ratio="$(echo "scale=2; $ds / $sw" | bc -l)×"
      echo "| $round | $name | $sw | $sr | $cw | $cr | $ds | $dr | $ratio |" | tee -a "$BENCH_DIR/results.md"
      first="${BINS[0]%%=*}"
      cmp -s "$BENCH_DIR/out.suite.$first-$N" "$BENCH_DIR/out.suite.$name-$N" \
        || echo "bench_suite.sh: $name's findings differ from $first's" >&2
      cmp -s "$BENCH_DIR/out.suite.$first-$N-count" "$BENCH_DIR/out.suite.$name-$N-count" \
        || echo "bench_suite.sh: $name's count(*) differs from $first's" >&2
    done
  done
done
echo "bench_suite.sh: results appended to $BENCH_DIR/results.md" >&2
