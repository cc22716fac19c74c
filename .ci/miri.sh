#!/usr/bin/env bash
# Miri over the library's unit tests, with strict provenance. Installs Miri on a nightly
# toolchain if it is missing; if that is impossible, says so loudly (and exits 0, so that a
# machine without nightly still runs the rest of CI).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: not installed; installing it with rustup"
    rustup toolchain install nightly --profile minimal --component miri,rust-src >/dev/null 2>&1 \
        || rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1 \
        || true
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! MIRI DID NOT RUN: no nightly toolchain with Miri could be installed here. !!!"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    exit 0
fi
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}"
cargo +nightly miri --version
cargo +nightly miri test --lib "$@"
# The engine's allocator through the public API: a shard's first copy of a large chunk (an
# access past a block is an error here), and a small configuration of the engine's
# state-machine property test.
cargo +nightly miri test --test large_first_copy --test engine_model
