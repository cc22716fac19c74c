//! Thread-local destructors that count (issue 22, bug 2).
//!
//! A thread's shard is returned by a thread-local guard that is registered at the thread's
//! first counter write. Thread-local destructors run in the reverse order of registration, so
//! a thread-local touched *before* that write (a flush-on-exit buffer, a connection object)
//! is destroyed *after* the guard has returned the shard. If its `Drop` counts, the thread
//! takes a shard again during its own teardown — which must be returned too, or every such
//! thread leaks one (and every read walks the grown tables).
//!
//! One test function in its own binary: no other test takes shards while it measures.

use shardstat::{engine_stats, percpu, Counter, Max};
use std::cell::Cell;
use std::thread;

static FLUSHED: Counter = Counter::new();
static FLUSHED_PER_CPU: percpu::Counter = percpu::Counter::new();
static LARGEST: Max = Max::new();
static WORK: Counter = Counter::new();

/// Adds what the thread left unflushed when the thread exits.
struct FlushOnExit(Cell<u64>);

impl Drop for FlushOnExit {
    fn drop(&mut self) {
        let n = self.0.get();
        FLUSHED.add(n);
        FLUSHED_PER_CPU.add(n);
        LARGEST.record(n);
    }
}

thread_local! {
    static FIRST: FlushOnExit = const { FlushOnExit(Cell::new(0)) };
    static SECOND: FlushOnExit = const { FlushOnExit(Cell::new(0)) };
}

const THREADS: u64 = 2_000;

#[test]
fn destructors_that_count_after_the_shard_guard_leave_shards_and_memory_flat() {
    let run = |round: u64| {
        thread::spawn(move || {
            // Touched before the thread's first counter write: destroyed after its guard.
            FIRST.with(|f| f.0.set(1));
            SECOND.with(|f| f.0.set(round));
            WORK.inc();
        })
        .join()
        .unwrap();
    };
    // Warm up: the first rounds take the engine's first blocks and table arrays.
    for round in 0..4 {
        run(round);
    }
    let before = engine_stats();
    for round in 4..THREADS {
        run(round);
    }
    let after = engine_stats();
    println!("before: {before:?}\nafter {THREADS} threads: {after:?}");
    assert_eq!(WORK.get(), THREADS);
    let sum: u64 = (0..THREADS).map(|round| 1 + round).sum();
    assert_eq!(FLUSHED.get(), sum, "every destructor's add counted");
    assert_eq!(FLUSHED_PER_CPU.get(), sum);
    assert_eq!(LARGEST.get(), THREADS - 1);
    assert_eq!(
        after.live_shards, before.live_shards,
        "a shard taken during teardown is returned"
    );
    assert_eq!(after.heap_bytes, before.heap_bytes, "memory stays flat");
}
