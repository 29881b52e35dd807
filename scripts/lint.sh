#!/usr/bin/env bash
# Formatting and clippy, as CI runs them (`.ci/run` calls this after `scripts/test.sh`).
#
# Why not inside scripts/test.sh: `cargo clippy` checks every dependency in check mode, a second
# pass over the whole dependency tree that `cargo build` and `cargo test` cannot share; on a fresh
# 2-core machine that pass would double the cold path of the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
