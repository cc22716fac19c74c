//! `LazyCounter` on real threads: every add counted once across the switch from the word to
//! the cells, while a drainer takes and a reader checks that reads never go backwards between
//! takes. The loom models (`loom-tests/tests/lazy.rs`) prove it for every interleaving of a
//! small case; this checks it at scale.

use shardstat::LazyCounter;
use std::sync::atomic::{AtomicBool, Ordering};

const THREADS: u64 = 8;
const ADDS: u64 = 100_000;

/// 8 threads add `1 + (t + i) % 5` (the first adds collide and shard the counter) while the
/// main thread takes; Σ takes + the last = the exact total. A second counter with no take
/// is read by a reader that checks monotone reads across the switch.
#[test]
fn lazy_counters_count_every_add_once_across_the_switch() {
    let drained = LazyCounter::new();
    let read = LazyCounter::new();
    let done = AtomicBool::new(false);
    let mut taken = 0u64;
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = 0;
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) {
                let now = read.get();
                assert!(now >= last, "a read went backwards: {last}, then {now}");
                last = now;
                reads += 1;
            }
            reads
        });
        std::thread::scope(|w| {
            for t in 0..THREADS {
                let (drained, read) = (&drained, &read);
                w.spawn(move || {
                    for i in 0..ADDS {
                        drained.add(1 + (t + i) % 5);
                        read.inc();
                    }
                });
            }
            for _ in 0..200 {
                taken += drained.take();
                std::thread::yield_now();
            }
        });
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    taken += drained.take();
    let expected: u64 = (0..THREADS)
        .flat_map(|t| (0..ADDS).map(move |i| 1 + (t + i) % 5))
        .sum();
    assert_eq!(taken, expected);
    assert_eq!(drained.get(), 0);
    assert_eq!(read.get(), THREADS * ADDS);
    // The switch happened (so the sums above crossed it): 8 threads making 800,000
    // compare-and-swaps each on one word collide within their first ones wherever two run at
    // once.
    if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
        assert!(drained.is_sharded() && read.is_sharded());
    }
}

/// One thread alone never collides: the counter stays one word whatever it does, and
/// `set`, `raise_to`, `take` and reads do not shard it.
#[test]
fn a_counter_one_thread_adds_to_stays_cold() {
    let c = LazyCounter::new();
    for i in 0..10_000 {
        c.add(i % 3);
    }
    c.raise_to(1_000_000);
    c.add(1);
    assert_eq!(c.get(), 1_000_001);
    c.set(7);
    assert_eq!(c.take(), 7);
    assert!(!c.is_sharded(), "{c:?}");
    assert_eq!(format!("{c:?}"), "LazyCounter { value: 0, sharded: false }");
}
