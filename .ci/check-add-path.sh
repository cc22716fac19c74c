#!/usr/bin/env bash
# Semantic 5, checked on the machine code: the add/record paths contain no locked
# (read-modify-write) instruction. Compiles examples/add_path_asm.rs to assembly and reads
# each probe function's body. The shared-atomic probe is the negative control: the check
# must find its `lock xadd`, or the check itself is broken.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -m)" != x86_64 ]; then
    echo "check-add-path: x86-64 only; skipped on $(uname -m)"
    exit 0
fi
cargo rustc --quiet --release --example add_path_asm -- --emit asm -C codegen-units=1
asm=$(ls -t target/release/examples/add_path_asm-*.s | head -n 1)
locked='(^|[[:space:]])(lock|xchg[bwlq]?|cmpxchg[0-9a-z]*|xadd[bwlq]?)([[:space:]]|$)'
# A probe's body runs from its label to `.cfi_endproc`; identical probes may be merged
# into an alias (`probe_b = probe_a`), which is followed.
body() {
    local f=$1 alias
    alias=$(awk -v f="$1" '$1 == f && $2 == "=" {print $3; exit}' "$asm")
    [ -n "$alias" ] && f=$alias
    awk -v f="$f" '$0 == f":" {on=1} on {print} on && /\.cfi_endproc/ {exit}' "$asm"
}
status=0
for f in probe_counter_add probe_approx_add probe_approx_limited_add \
         probe_local_counter_add probe_up_down_add probe_percpu_add probe_percpu_max_record probe_histogram_record \
         probe_max_record probe_local_max_record probe_min_record \
         probe_group_field_add probe_group_update; do
    code=$(body "$f")
    if [ -z "$code" ]; then
        echo "check-add-path: $f not found in $asm"; status=1; continue
    fi
    n=$(printf '%s\n' "$code" | grep -cE '^[[:space:]]+[a-z]' || true)
    if printf '%s\n' "$code" | grep -qE "$locked"; then
        echo "FAIL $f: a locked instruction on the add path:"
        printf '%s\n' "$code" | grep -E "$locked"
        status=1
    else
        echo "ok   $f: $n instructions, none locked"
    fi
done
if body probe_atomic_fetch_add | grep -qE "$locked"; then
    echo "ok   probe_atomic_fetch_add: the negative control has its locked instruction"
else
    echo "FAIL the negative control probe_atomic_fetch_add shows no locked instruction: the check is broken"
    status=1
fi
exit $status
