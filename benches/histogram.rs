//! Recording into a histogram from 1 and 2 threads (and 4: oversubscribed), same run:
//! shardstat's `Histogram::record` against `prometheus-client`'s `Histogram::observe` (one
//! atomic per bucket plus a sum and a count, shared), `metrics-util`'s `AtomicBucket::push`
//! (what `metrics-exporter-prometheus` records histograms into) and, for scale, shardstat's
//! `Counter::add`; and `Histogram::snapshot` with the quantiles, at 1–64 threads' shards.
//! Values are latencies in ns, spread over 1 µs – 1 ms (10 powers of two).
//!
//! `cargo bench --features metrics --bench histogram`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The i-th value: a pseudo-random latency in ns between ~1 µs and ~1 ms.
#[inline(always)]
fn value(i: u64) -> u64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    1_000 + (x >> 44) % 1_000_000
}

/// `per_thread` records on each of `threads` threads, from a common start line; the time
/// until the last finished.
fn timed(threads: usize, per_thread: u64, record: &(dyn Fn(u64) + Sync)) -> Duration {
    let start_line = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let start_line = &start_line;
                s.spawn(move || {
                    start_line.wait();
                    let base = t as u64 * per_thread;
                    for i in base..base + per_thread {
                        record(black_box(value(i)));
                    }
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        workers.into_iter().for_each(|w| w.join().unwrap());
        start.elapsed()
    })
}

fn record(c: &mut Criterion) {
    for threads in [1usize, 2, 4] {
        let mut group = c.benchmark_group(format!("histogram-record/{threads}-threads"));
        group
            .throughput(Throughput::Elements(threads as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        let shard = shardstat::Histogram::new();
        group.bench_function("shardstat Histogram::record", |b| {
            b.iter_custom(|iters| timed(threads, iters, &|v| shard.record(v)))
        });
        // Prometheus' default latency buckets are 11; a latency histogram covering 1 µs –
        // 1 ms at 2× steps has 11 too.
        let prom = prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1_000.0, 2.0, 11),
        );
        group.bench_function("prometheus-client Histogram::observe", |b| {
            b.iter_custom(|iters| timed(threads, iters, &|v| prom.observe(v as f64)))
        });
        let bucket = metrics_util::storage::AtomicBucket::<f64>::new();
        group.bench_function("metrics-util AtomicBucket::push", |b| {
            b.iter_custom(|iters| {
                let took = timed(threads, iters, &|v| bucket.push(v as f64));
                bucket.clear(); // as an exporter's scrape drains it; keeps memory bounded
                took
            })
        });
        let counter = shardstat::Counter::new();
        group.bench_function("shardstat Counter::add", |b| {
            b.iter_custom(|iters| timed(threads, iters, &|v| counter.add(v)))
        });
        group.finish();
    }
}

/// `snapshot()` and four quantiles with `threads` threads' shards present (they recorded
/// 10,000 values each, then wait parked).
fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram-snapshot");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for threads in [1usize, 2, 8, 64] {
        let h = shardstat::Histogram::new();
        let (ready, release) = (Barrier::new(threads + 1), Barrier::new(threads + 1));
        std::thread::scope(|s| {
            for t in 0..threads as u64 {
                let (h, ready, release) = (&h, &ready, &release);
                s.spawn(move || {
                    (0..10_000).for_each(|i| h.record(value(t * 10_000 + i)));
                    ready.wait();
                    release.wait();
                });
            }
            ready.wait();
            group.bench_with_input(
                BenchmarkId::new("snapshot + p50/p90/p99/p999", threads),
                &h,
                |b, h| {
                    b.iter(|| {
                        let snap = black_box(h).snapshot();
                        (snap.p50(), snap.p90(), snap.p99(), snap.p999())
                    })
                },
            );
            release.wait();
        });
    }
    group.finish();
}

criterion_group!(benches, record, snapshot);
criterion_main!(benches);
