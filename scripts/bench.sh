#!/usr/bin/env bash
# Benchmark agenttrail against the gunzip floor (zcat) and DuckDB, on the same files, in one run.
#
#   bash scripts/bench.sh                 # 1M and 5M events (BENCH_SIZES="1000000 5000000")
#   BENCH_SIZES=200000 bash scripts/bench.sh
#   BENCH_SIZES=1000000 BENCH_INGEST_ROUNDS=5 BENCH_WINDOW_DAILY=0 bash scripts/bench.sh
#
# For each size: generate a CloudTrail day with `agenttrail synth` (kept under $BENCH_DIR between
# runs), then time with /usr/bin/time (wall, user+sys CPU, peak RSS):
#   floor       zcat of every object to /dev/null
#   ingest      agenttrail ingest into a fresh lake (release build)
#   duck_fast   DuckDB at its fastest: read_json with its inferred schema, unnest(Records) into
#               columns, COPY TO zstd Parquet (scripts/bench_duckdb.py ingest-fast)
#   duckdb      DuckDB flattening the columns agenttrail keeps with ->> from JSON[], sorted
#               (the slow variant; its flat Parquet is what DuckDB's detections query)
#   detect      agenttrail detect: the whole suite (queries/*.sql) over the lake
#   duck_suite  DuckDB: the suite's questions over its Parquet (bench_duckdb.py suite)
#   q_deletions agenttrail detect --only ai_deletions
#   duck_del    DuckDB: ai_deletions over its Parquet (managed MCP, tagged sessions, chains)
#   q_count     agenttrail query "SELECT count(*) FROM events" (peak RSS)
# and check that both tools read the same number of records and find the same AI deletions.
# Then (BENCH_WINDOW_DAILY events a day, default 100000; 0 skips it): `detect` over the last hour
# of a 10-day lake against the same on a lake of that last day only (scripts/bench_window.sh).
# Figures are printed and appended to $BENCH_DIR/results.md. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agenttrail-target}"
SIZES="${BENCH_SIZES:-1000000 5000000}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/agenttrail-bench}"
DUCKDB_VERSION="2.0.1"
VENV="${AGENTTRAIL_BENCH_VENV:-$HOME/.cache/agenttrail-bench-venv}"
mkdir -p "$BENCH_DIR"

if ! "$VENV/bin/python" -c "import duckdb; assert duckdb.__version__ == '$DUCKDB_VERSION'" 2>/dev/null; then
  echo "bench.sh: installing duckdb==$DUCKDB_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi
[ -x /usr/bin/time ] || { echo "bench.sh: /usr/bin/time is needed (Debian package 'time')" >&2; exit 2; }
command -v bc >/dev/null || { echo "bench.sh: bc is needed (Debian package 'bc')" >&2; exit 2; }

echo "bench.sh: building the release binary (once; ~30 min from clean)" >&2
cargo build --release --locked --quiet
BIN="$CARGO_TARGET_DIR/release/agenttrail"
PY="$VENV/bin/python"

CORES="$(nproc)"
RESULTS="$BENCH_DIR/results.md"
{
  echo
  echo "## Run of $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $CORES cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); agenttrail $(git -C "$ROOT" rev-parse --short HEAD); duckdb $DUCKDB_VERSION"
} >>"$RESULTS"

# measure NAME CMD...: run CMD under /usr/bin/time; sets WALL, CPU (user+sys, s), RSS (MiB).
measure() {
  local name="$1"; shift
  local t="$BENCH_DIR/time.$name"
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" >"$BENCH_DIR/out.$name" 2>"$BENCH_DIR/err.$name" || {
    echo "bench.sh: $name failed:" >&2; tail -20 "$BENCH_DIR/err.$name" >&2; exit 2; }
  read -r WALL U S M <"$t"
  CPU="$(echo "$U + $S" | bc -l)"
  RSS="$(echo "$M / 1024" | bc)"
  printf '  %-12s wall %8.2f s   cpu %8.2f s   peak RSS %6d MiB\n' "$name" "$WALL" "$CPU" "$RSS" >&2
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }

for N in $SIZES; do
  DATA="$BENCH_DIR/data-$N"
  if [ ! -f "$DATA/.complete" ]; then
    # One generated day per million events (synth holds a day in memory: ~10 GiB per million),
    # on consecutive days with their own seeds.
    rm -rf "$DATA"
    PARTS=$(( (N + 999999) / 1000000 ))
    for k in $(seq 0 $((PARTS - 1))); do
      echo "bench.sh: generating day $((k + 1))/$PARTS of $N events into $DATA" >&2
      "$BIN" -q synth --events $((N / PARTS)) --seed $((42 + k)) \
        --day "$(date -u -d "2026-11-20 + $k days" +%F)" --out "$DATA/part-$k"
    done
    touch "$DATA/.complete"
  fi
  LIST="$BENCH_DIR/files-$N"
  find "$DATA" -name '*.json.gz' | sort >"$LIST"
  OBJECTS="$(wc -l <"$LIST")"
  GZ_BYTES="$(xargs cat <"$LIST" | wc -c)"
  RAW_BYTES="$(xargs zcat <"$LIST" | wc -c)"
  RECORDS=0
  for l in "$DATA"/part-*/labels.csv; do RECORDS=$((RECORDS + $(wc -l <"$l") - 1)); done
  echo "bench.sh: $N events: $OBJECTS objects, $RECORDS records, $((GZ_BYTES >> 20)) MiB gzip, $((RAW_BYTES >> 20)) MiB JSON ($((RAW_BYTES / RECORDS)) B/record)" >&2

  measure floor sh -c "xargs zcat <'$LIST' >/dev/null"
  F_WALL=$WALL F_CPU=$CPU

  LAKE="$BENCH_DIR/lake-$N"; rm -rf "$LAKE"
  measure ingest "$BIN" --no-progress ingest --source "$DATA" --lake "$LAKE"
  I_WALL=$WALL I_CPU=$CPU I_RSS=$RSS
  I_LINE="$(grep -o 'objects: .*' "$BENCH_DIR/err.ingest" | tail -1)"
  echo "    $I_LINE" >&2
  A_SEEN="$(echo "$I_LINE" | sed -E 's/.*records: ([0-9]+) ingested, ([0-9]+) rejected, ([0-9]+) duplicate.*/\1 + \2 + \3/' | bc)"

  FAST="$BENCH_DIR/duck-fast-$N.parquet"; rm -f "$FAST"
  measure duck_fast "$PY" scripts/bench_duckdb.py ingest-fast "$DATA" "$FAST"
  DF_WALL=$WALL DF_CPU=$CPU DF_RSS=$RSS
  DF_ROWS="$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["rows"])' <"$BENCH_DIR/out.duck_fast")"
  rm -f "$FAST"
  # More rounds of the pair, alternating (BENCH_INGEST_ROUNDS, default 1): this machine's noise
  # moves one pair's ratio by ±15%; the median of several says more.
  RATIOS=("$(ratio "$DF_WALL" "$I_WALL")")
  for _ in $(seq 2 "${BENCH_INGEST_ROUNDS:-1}"); do
    rm -rf "$LAKE.round"
    measure ingest_round "$BIN" --no-progress ingest --source "$DATA" --lake "$LAKE.round"
    IW=$WALL
    measure duck_fast_round "$PY" scripts/bench_duckdb.py ingest-fast "$DATA" "$FAST"
    rm -f "$FAST"
    RATIOS+=("$(ratio "$WALL" "$IW")")
  done
  rm -rf "$LAKE.round"
  MEDIAN="$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')"

  DUCK="$BENCH_DIR/duck-$N.parquet"; rm -f "$DUCK"
  measure duckdb "$PY" scripts/bench_duckdb.py ingest "$DATA" "$DUCK"
  D_WALL=$WALL D_CPU=$CPU D_RSS=$RSS
  D_ROWS="$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["rows"])' <"$BENCH_DIR/out.duckdb")"

  measure detect "$BIN" -q detect --lake "$LAKE" --format csv
  S_WALL=$WALL S_CPU=$CPU S_RSS=$RSS
  measure duck_suite "$PY" scripts/bench_duckdb.py suite "$DUCK"
  DS_WALL=$WALL DS_CPU=$CPU DS_RSS=$RSS
  measure q_count "$BIN" -q query --lake "$LAKE" --format csv "SELECT count(*) FROM events"
  C_WALL=$WALL C_RSS=$RSS
  measure q_deletions "$BIN" -q detect --lake "$LAKE" --only ai_deletions --format csv
  Q_WALL=$WALL Q_CPU=$CPU
  # Untimed: the same findings split by mechanism, to compare with DuckDB's three mechanisms.
  "$BIN" query --lake "$LAKE" --format csv "SELECT count(*) AS n, count(*) FILTER (WHERE e.ai_mechanisms LIKE '%managed-mcp%' OR e.ai_mechanisms LIKE '%session-tag%' OR e.ai_mechanisms LIKE '%chained%') AS by_mcp_tags_chains FROM ($(sed '/^--/d' queries/ai_deletions.sql)) d JOIN events e ON d.event_id = e.event_id" >"$BENCH_DIR/out.deletions"
  A_DEL="$(tail -1 "$BENCH_DIR/out.deletions" | cut -d, -f2)"
  A_DEL_ALL="$(tail -1 "$BENCH_DIR/out.deletions" | cut -d, -f1)"
  measure duck_del "$PY" scripts/bench_duckdb.py detect "$DUCK"
  DD_WALL=$WALL DD_CPU=$CPU
  D_DEL="$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["ai_deletions"])' <"$BENCH_DIR/out.duck_del")"

  SAME_ROWS="yes"; [ "$A_SEEN" = "$D_ROWS" ] && [ "$D_ROWS" = "$RECORDS" ] && [ "$DF_ROWS" = "$RECORDS" ] || SAME_ROWS="NO"
  SAME_DEL="yes"; [ "$A_DEL" = "$D_DEL" ] || SAME_DEL="NO"

  EPS() { echo "scale=0; $RECORDS / $1" | bc -l; }
  GZ_MBS="$(echo "scale=1; $GZ_BYTES / 1048576 / $I_WALL" | bc -l)"
  RAW_MBS="$(echo "scale=1; $RAW_BYTES / 1048576 / $I_WALL" | bc -l)"
  # Events per second per core actually used (CPU seconds), agenttrail vs the single-threaded floor.
  PER_CORE="$(echo "scale=2; ($RECORDS / $I_CPU) / ($RECORDS / $F_CPU)" | bc -l)"
  {
    echo
    echo "### $RECORDS events ($OBJECTS objects, $((GZ_BYTES >> 20)) MiB gzip, $((RAW_BYTES >> 20)) MiB JSON)"
    echo
    echo "| step | wall s | CPU s | peak RSS MiB | events/s |"
    echo "|---|---:|---:|---:|---:|"
    echo "| floor: zcat to /dev/null | $F_WALL | $F_CPU | – | $(EPS "$F_WALL") |"
    echo "| agenttrail ingest | $I_WALL | $I_CPU | $I_RSS | $(EPS "$I_WALL") |"
    echo "| DuckDB at its fastest: read_json (inferred) → Parquet | $DF_WALL | $DF_CPU | $DF_RSS | $(EPS "$DF_WALL") |"
    echo "| DuckDB read_json, columns flattened with ->>, sorted → Parquet | $D_WALL | $D_CPU | $D_RSS | $(EPS "$D_WALL") |"
    echo "| agenttrail detect (all $(ls queries/*.sql | wc -l) detections) | $S_WALL | $S_CPU | $S_RSS | |"
    echo "| DuckDB the same questions (9 queries, 3 mechanisms) | $DS_WALL | $DS_CPU | $DS_RSS | |"
    echo "| agenttrail query count(*) FROM events | $C_WALL | | $C_RSS | |"
    echo "| agenttrail detect ai_deletions | $Q_WALL | $Q_CPU | | |"
    echo "| DuckDB ai_deletions | $DD_WALL | $DD_CPU | | |"
    echo
    echo "- ingest: $GZ_MBS MiB/s gzip, $RAW_MBS MiB/s JSON; agenttrail ÷ DuckDB at its fastest events/s = $(ratio "$DF_WALL" "$I_WALL")× (÷ the flattening variant $(ratio "$D_WALL" "$I_WALL")×); agenttrail ÷ floor events/s = $(ratio "$F_WALL" "$I_WALL")× wall; CPU per event agenttrail ÷ zcat = $(ratio "$I_CPU" "$F_CPU")×"
    echo "- ingest ÷ DuckDB at its fastest, each round (alternating): ${RATIOS[*]}; median $MEDIAN×"
    echo "- detection: whole suite agenttrail ÷ DuckDB speed = $(ratio "$DS_WALL" "$S_WALL")×; ai_deletions agenttrail ÷ DuckDB speed = $(ratio "$DD_WALL" "$Q_WALL")×"
    echo "- DuckDB suite findings: $(cat "$BENCH_DIR/out.duck_suite")"
    echo "- same records: $SAME_ROWS (agenttrail $A_SEEN = ingested + rejected + duplicate, DuckDB $D_ROWS, generated $RECORDS)"
    echo "- same AI deletions by MCP, tags and chains: $SAME_DEL (agenttrail $A_DEL, DuckDB $D_DEL; agenttrail with every mechanism: $A_DEL_ALL)"
  } | tee -a "$RESULTS"
done
WDAILY="${BENCH_WINDOW_DAILY:-100000}"
if [ "$WDAILY" != 0 ]; then
  # The window comparison, with this run's binary (scripts/bench_window.sh; one round).
  BENCH_BINS="agenttrail=$BIN" BENCH_ROUNDS=1 BENCH_DIR="$BENCH_DIR" BENCH_WINDOW_DAILY="$WDAILY" \
    bash scripts/bench_window.sh
fi
echo "bench.sh: results appended to $RESULTS" >&2
