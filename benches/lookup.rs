//! The slow path: the first add on a new thread (it takes a shard index, and caches where its
//! arena's chunk is; for a new counter, the counter also takes its cells), against an add on
//! a thread that has all of that already.
//!
//! `cargo bench --bench lookup`.

use criterion::{criterion_group, criterion_main, Criterion};
use shardstat::Counter;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Spawns `iters` threads one after another; each times only its own first add.
fn time_first_adds(iters: u64, counter_for: impl Fn() -> Counter + Sync) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let counter = counter_for();
        total += std::thread::scope(|s| {
            s.spawn(|| {
                let start = Instant::now();
                black_box(&counter).add(1);
                start.elapsed()
            })
            .join()
            .unwrap()
        });
    }
    total
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let shared = Counter::new();
    shared.add(1); // shard 0's chunk exists; new threads reuse freed shards and their chunks
    group.bench_function("first add on a new thread (existing counter)", |b| {
        b.iter_custom(|iters| {
            time_first_adds(iters, || {
                let c = Counter::new();
                // Let the counter take its cells, and the new thread's shard its chunk, so
                // that only the shard hand-over and the cache fill are timed.
                std::thread::scope(|s| {
                    s.spawn(|| c.add(0));
                });
                c
            })
        })
    });
    group.bench_function(
        "first add on a new thread (new counter: its cells assigned)",
        |b| b.iter_custom(|iters| time_first_adds(iters, Counter::new)),
    );
    let counter = Counter::new();
    counter.add(1);
    group.bench_function("add on a thread that has its shard", |b| {
        b.iter(|| black_box(&counter).add(black_box(1)))
    });
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
