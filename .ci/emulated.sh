#!/usr/bin/env bash
# The test suite on targets this machine emulates (user-mode QEMU): 32-bit big-endian
# PowerPC, which has no 64-bit atomics (the cells are split: docs/design.md §15), and
# AArch64, which reorders memory where x86-64 does not (and where user-mode QEMU provides
# no rseq, so the per-CPU types run on their fallback).
#
# Installs what it needs when missing: the Rust targets (rustup), Debian's qemu-user and the
# cross gcc (the linker) with its C library. Runs the library's unit tests and the
# integration tests, in release mode (the stress tests are 20-50x slower emulated); doctests
# and examples are not cross-built (doctests need nightly's -Zdoctest-xcompile).
#
#   .ci/emulated.sh                 both targets
#   .ci/emulated.sh powerpc         one (powerpc | aarch64), extra args go to the test binaries
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TRIPLE=([powerpc]=powerpc-unknown-linux-gnu [aarch64]=aarch64-unknown-linux-gnu)
declare -A GCC=([powerpc]=powerpc-linux-gnu [aarch64]=aarch64-linux-gnu)
declare -A QEMU=([powerpc]=qemu-ppc [aarch64]=qemu-aarch64)
declare -A LIBC=([powerpc]=libc6-dev-powerpc-cross [aarch64]=libc6-dev-arm64-cross)

targets=(powerpc aarch64)
if [ $# -gt 0 ]; then targets=("$1"); shift; fi

need_apt=()
for t in "${targets[@]}"; do
    command -v "${QEMU[$t]}" >/dev/null || need_apt+=(qemu-user)
    command -v "${GCC[$t]}-gcc" >/dev/null || need_apt+=("gcc-${GCC[$t]}" "${LIBC[$t]}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "emulated: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need_apt[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "${need_apt[@]}" >/dev/null; }
fi

for t in "${targets[@]}"; do
    triple=${TRIPLE[$t]}
    rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
    env_name=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    export "CARGO_TARGET_${env_name}_LINKER=${GCC[$t]}-gcc"
    export "CARGO_TARGET_${env_name}_RUNNER=${QEMU[$t]} -L /usr/${GCC[$t]}"
    echo
    echo "--- $triple under ${QEMU[$t]}: cargo test --release --lib --tests"
    "${QEMU[$t]}" --version | head -n 1
    start=$(date +%s)
    if [ "$t" = powerpc ]; then
        # The split word's code is compiled only here: lint it as the host's code is.
        cargo clippy --quiet --target "$triple" --lib --tests -- -D warnings
    fi
    # A bound on the whole run: a test that hangs (a failed assertion inside a thread scope
    # whose other threads never stop, say) fails CI instead of stalling it.
    timeout --kill-after=10 900 \
        cargo test --quiet --release --target "$triple" --lib --tests -- "$@"
    echo "--- $triple: green in $(( $(date +%s) - start )) s"
done
