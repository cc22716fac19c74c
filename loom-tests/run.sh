#!/usr/bin/env bash
# The one way to run the loom suite: release mode with debug assertions, its own target
# directory (so it does not rebuild the normal one), and overridable loom settings.
#
#   loom-tests/run.sh                         # every model, LOOM_MAX_PREEMPTIONS=3
#   LOOM_MAX_PREEMPTIONS=2 loom-tests/run.sh  # a quicker, shallower search
#   loom-tests/run.sh set_                    # only models whose name contains "set_"
#
# Two builds: the crate as every target with 64-bit atomics has it, then, for
# `tests/split.rs`, with `--cfg shardstat_split64` (the two-halves word of targets without
# 64-bit atomics, docs/design.md §15) in its own target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
flags="${RUSTFLAGS:-} --cfg loom -C debug-assertions"
target="${CARGO_TARGET_DIR:-target/loom}"
threads="--test-threads=${LOOM_TEST_THREADS:-2}"
echo "loom: LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS"
RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target" \
    cargo test --release -p shardstat-loom-tests -- "$threads" "$@"
echo "loom: the split 64-bit word (--cfg shardstat_split64)"
RUSTFLAGS="$flags --cfg shardstat_split64" CARGO_TARGET_DIR="$target-split" \
    cargo test --release -p shardstat-loom-tests --test split -- "$threads" "$@"
