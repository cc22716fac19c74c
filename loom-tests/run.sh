#!/usr/bin/env bash
# The one way to run the loom suite: release mode with debug assertions, its own target
# directory (so it does not rebuild the normal one), and overridable loom settings.
#
#   loom-tests/run.sh                         # every model, LOOM_MAX_PREEMPTIONS=3
#   LOOM_MAX_PREEMPTIONS=2 loom-tests/run.sh  # a quicker, shallower search
#   loom-tests/run.sh set_                    # only models whose name contains "set_"
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom -C debug-assertions"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
echo "loom: LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS"
exec cargo test --release -p shardstat-loom-tests -- --test-threads="${LOOM_TEST_THREADS:-2}" "$@"
