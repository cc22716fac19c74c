#!/usr/bin/env bash
# Every benchmark figure that docs/performance.md and README.md publish, in one sitting on one
# machine: builds everything first, then runs each benchmark alone, one after another, and
# writes what each printed to target/bench-all/ (machine.txt says which machine and commit).
# Nothing else may run meanwhile: a compile on the other core changes every ratio.
# About 20 minutes on 2 cores. Needs valgrind (instructions) and rsvg-convert (the chart's PNG).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-all
split=target/split-bench
rm -rf "$out" target/criterion "$split/criterion"
mkdir -p "$out"

echo "== building (before anything is timed)"
# The exact feature sets the runs below use, so that nothing compiles once timing starts.
cargo bench --no-run --bench add --bench read --bench lookup --bench snapshot
cargo bench --no-run --features metrics --bench recorder --bench histogram
cargo build --release --example contention --example instructions
cargo build --release --features metrics --example memory
cargo build --release -p migrate
RUSTFLAGS="--cfg shardstat_split64" CARGO_TARGET_DIR=$split cargo bench --no-run --bench add --bench read

{
    date -u +"%Y-%m-%d %H:%M UTC"
    grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
    echo "$(nproc) logical CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    uname -sr
    rustc --version
    git rev-parse --short HEAD
} > "$out/machine.txt"
cat "$out/machine.txt"

run() { # name, command…
    local name=$1; shift
    echo "== $name ($(date -u +%H:%M:%S))"
    "$@" > "$out/$name.txt" 2> "$out/$name.stderr" || { echo "$name failed: see $out/$name.*"; exit 1; }
}
run add cargo bench --bench add
run recorder cargo bench --features metrics --bench recorder
run histogram cargo bench --features metrics --bench histogram
run read-bench cargo bench --bench read
run read .ci/criterion-table.py read
run rate_check .ci/criterion-table.py rate_check
run histogram-snapshot .ci/criterion-table.py histogram-snapshot
run lookup-bench cargo bench --bench lookup
run lookup .ci/criterion-table.py lookup
run snapshot cargo bench --bench snapshot
run contention cargo run --release --example contention -- --out docs/contention.svg
rsvg-convert docs/contention.svg -o docs/contention.png
run split-add env RUSTFLAGS="--cfg shardstat_split64" CARGO_TARGET_DIR=$split cargo bench --bench add -- add
run split-read-bench env RUSTFLAGS="--cfg shardstat_split64" CARGO_TARGET_DIR=$split \
    cargo bench --bench read -- "^read/Counter::get/(1|64)$"
run split-read .ci/criterion-table.py --dir "$split/criterion" read/Counter::get
run memory cargo run --release --features metrics --example memory
run migrate-compare cargo run --release -p migrate -- --ram 128M --max-bandwidth 0 --compare
run instructions .ci/instructions.sh
run ratios .ci/bench-ratios.py "$out"
echo "== done ($(date -u +%H:%M:%S)): $out"
