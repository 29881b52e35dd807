#!/usr/bin/env bash
# What the Delta Lake layout costs and gives, measured in one run (release build):
#   open_10 / open_1000   `query "SELECT count(*) FROM events"` on a lake of 10 commits and of
#                         1,000 commits (delta-rs checkpoints every 100): the cost of opening the
#                         tables as the history grows
#   detect_small          the detection suite over a lake made by 100 small commits
#   detect_optimized      the same lake after `lake optimize` and `lake vacuum --retention-hours 0`
#   optimize              `lake optimize` itself
# Each figure is printed with its ratio to the baseline of the same run.
#
#   bash scripts/bench_lake.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agenttrail-target}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/agenttrail-bench-lake}"
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
[ -x /usr/bin/time ] || { echo "bench_lake.sh: /usr/bin/time is needed (Debian package 'time')" >&2; exit 2; }
echo "bench_lake.sh: building the release binary" >&2
cargo build --release --locked --quiet
BIN="$CARGO_TARGET_DIR/release/agenttrail"

# measure NAME CMD...: best wall time of 3 runs (s) into WALL, peak RSS (MiB) into RSS.
measure() {
  local name="$1"; shift
  local best="" rss=0
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$BENCH_DIR/time.$name" "$@" >/dev/null 2>"$BENCH_DIR/err.$name" \
      || { cat "$BENCH_DIR/err.$name" >&2; exit 2; }
    read -r w m <"$BENCH_DIR/time.$name"
    if [ -z "$best" ] || [ "$(echo "$w < $best" | bc)" = 1 ]; then best="$w"; rss=$((m / 1024)); fi
  done
  WALL="$best"; RSS="$rss"
  printf '  %-18s %8.2f s %7d MiB\n' "$name" "$WALL" "$RSS"
}
ratio() { echo "scale=2; $1 / $2" | bc; }

echo "bench_lake.sh: generating data" >&2
# The same 20,000 events committed every 2,000 rows (10 commits a table) and every 20 rows
# (about 1,000 commits of `events` and of the ledger).
"$BIN" -q synth --out "$BENCH_DIR/day" --events 20000 --seed 7 >/dev/null
"$BIN" -q ingest --source "$BENCH_DIR/day" --lake "$BENCH_DIR/lake10" --commit-rows 2000 --fetch-concurrency 1
"$BIN" -q ingest --source "$BENCH_DIR/day" --lake "$BENCH_DIR/lake1000" --commit-rows 20 --fetch-concurrency 1
"$BIN" lake info --lake "$BENCH_DIR/lake1000" | head -2
ls "$BENCH_DIR/lake1000/events/_delta_log" | grep -c checkpoint | sed 's/^/  checkpoints of events: /'

echo "Opening the tables (count(*) over events):"
measure open_10 "$BIN" -q query --lake "$BENCH_DIR/lake10" "SELECT count(*) FROM events"
O10="$WALL"
measure open_1000 "$BIN" -q query --lake "$BENCH_DIR/lake1000" "SELECT count(*) FROM events"
echo "  1,000 commits / 10 commits: $(ratio "$WALL" "$O10")x"

echo "Detections over a lake of 100 small commits, before and after optimize + vacuum:"
# 200,000 events committed every 2,000 rows: 100 commits, a few small files per date each.
"$BIN" -q synth --out "$BENCH_DIR/hundred" --events 200000 --seed 8 >/dev/null
"$BIN" -q ingest --source "$BENCH_DIR/hundred" --lake "$BENCH_DIR/small" --commit-rows 2000 --fetch-concurrency 1
cp -r "$BENCH_DIR/small" "$BENCH_DIR/small-copy"
measure detect_small "$BIN" -q detect --lake "$BENCH_DIR/small"
DS="$WALL"
/usr/bin/time -f "%e" -o "$BENCH_DIR/time.optimize" "$BIN" -q lake optimize --lake "$BENCH_DIR/small-copy" >/dev/null
printf '  %-18s %8.2f s\n' optimize "$(cat "$BENCH_DIR/time.optimize")"
"$BIN" -q lake vacuum --lake "$BENCH_DIR/small-copy" --retention-hours 0 >/dev/null
measure detect_optimized "$BIN" -q detect --lake "$BENCH_DIR/small-copy"
echo "  after / before optimize: $(ratio "$WALL" "$DS")x"
cmp <("$BIN" -q detect --lake "$BENCH_DIR/small" --format json) \
    <("$BIN" -q detect --lake "$BENCH_DIR/small-copy" --format json) \
  && echo "  same findings before and after"
