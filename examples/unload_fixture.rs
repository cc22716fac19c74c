//! A shared library that counts with shardstat, for `tests/unload.rs`: a plugin that a host
//! loads with `dlopen`, calls, and unloads with `dlclose`. Built as a `cdylib`
//! (`cargo build --example unload_fixture`); it has no `main`.

use shardstat::{percpu, Counter};

static PER_CPU: percpu::Counter = percpu::Counter::new();
static LARGEST: percpu::Max = percpu::Max::new();
static PER_THREAD: Counter = Counter::new();

/// Adds `n` to a per-CPU counter (a restartable sequence where rseq runs), records it in a
/// per-CPU `Max`, and adds it to a per-thread counter if `per_thread` is non-zero.
#[no_mangle]
pub extern "C" fn shardstat_fixture_add(n: u64, per_thread: u32) {
    PER_CPU.add(n);
    LARGEST.record(n);
    if per_thread != 0 {
        PER_THREAD.add(n);
    }
}

/// The per-CPU counter's value.
#[no_mangle]
pub extern "C" fn shardstat_fixture_get() -> u64 {
    PER_CPU.get()
}
