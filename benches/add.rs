//! Add throughput: one shared `AtomicU64` against shardstat, at 1 and 2 threads.
//! (The full comparison suite grows in `benches/`; see docs/performance.md.)

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardstat::Counter;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Times `threads` threads each running `add` `iters` times, from a common start.
fn run_threads(threads: usize, iters: u64, add: &(dyn Fn(u64) + Sync)) -> Duration {
    let start_line = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start_line.wait();
                    add(iters);
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for w in workers {
            w.join().unwrap();
        }
        start.elapsed()
    })
}

fn add_throughput(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("add/{threads}-threads"));
        group.throughput(Throughput::Elements(threads as u64));
        let atomic = AtomicU64::new(0);
        group.bench_function("AtomicU64::fetch_add", |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &|n| {
                    for _ in 0..n {
                        atomic.fetch_add(black_box(1), Ordering::Relaxed);
                    }
                })
            })
        });
        let counter = Counter::new();
        group.bench_function("Counter::add", |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &|n| {
                    for _ in 0..n {
                        counter.add(black_box(1));
                    }
                })
            })
        });
        group.bench_function("LocalCounter::add", |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &|n| {
                    let local = counter.local();
                    for _ in 0..n {
                        local.add(black_box(1));
                    }
                })
            })
        });
        group.finish();
    }
}

criterion_group!(benches, add_throughput);
criterion_main!(benches);
