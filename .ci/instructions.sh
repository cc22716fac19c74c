#!/usr/bin/env bash
# Instructions per add for each implementation, counted by callgrind (exact and repeatable,
# unlike time on a shared 2-core machine). Prints a table; used by docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions: valgrind is not installed"; exit 1; }
cargo build --quiet --release --example instructions
bin=target/release/examples/instructions
printf '%-32s %s\n' "implementation" "instructions per add"
{ "$bin" || true; } 2>&1 | sed -n 's/^  //p' | while IFS= read -r name; do
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
          --toggle-collect=measured_loop "$bin" "$name" 2>&1)
    total=$(printf '%s\n' "$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    awk -v n="$name" -v t="$total" 'BEGIN { printf "%-32s %.2f\n", n, t / 1000000 }'
done
