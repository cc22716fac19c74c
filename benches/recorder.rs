//! The `metrics` facade's two paths through three recorders, same run: shardstat's
//! `ShardstatRecorder`, `metrics-exporter-prometheus`'s recorder (default features off), and
//! `metrics-util`'s `Registry` with its atomic storage (what exporters build on), at 1, 2
//! and 4 threads:
//!
//! - **macro**: `metrics::counter!("requests", "route" => "/a").increment(1)` on every call,
//!   the idiomatic path (a registry lookup and an `Arc` clone per call);
//! - **handle**: the `metrics::Counter` fetched once per thread, then `increment(1)`.
//!
//! Every thread uses its recorder through `metrics::with_local_recorder`, so the three run in
//! one process. Throughput is increments per second over all threads.
//!
//! `cargo bench --features metrics --bench recorder`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use metrics::{Key, Metadata, Recorder};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// `metrics-util`'s registry with atomic storage, as a recorder (the minimal exporter).
struct AtomicRegistry(metrics_util::registry::Registry<Key, metrics_util::registry::AtomicStorage>);

impl Recorder for AtomicRegistry {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        self.0
            .get_or_create_counter(key, |c| metrics::Counter::from_arc(Arc::clone(c)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        self.0
            .get_or_create_gauge(key, |g| metrics::Gauge::from_arc(Arc::clone(g)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        self.0
            .get_or_create_histogram(key, |h| metrics::Histogram::from_arc(Arc::clone(h)))
    }
}

/// Runs `per_thread` increments on each of `threads` threads with `recorder` installed
/// locally, from a common start line; returns the time until the last thread finished.
fn timed<R: Recorder + Sync>(
    recorder: &R,
    threads: usize,
    per_thread: u64,
    cached: bool,
) -> Duration {
    let start_line = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    metrics::with_local_recorder(recorder, || {
                        let handle = metrics::counter!("requests", "route" => "/a");
                        start_line.wait();
                        if cached {
                            for _ in 0..per_thread {
                                handle.increment(black_box(1));
                            }
                        } else {
                            for _ in 0..per_thread {
                                metrics::counter!("requests", "route" => "/a")
                                    .increment(black_box(1));
                            }
                        }
                    })
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

fn recorders(c: &mut Criterion) {
    let shardstat = shardstat::metrics::ShardstatRecorder::new();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let atomic = AtomicRegistry(metrics_util::registry::Registry::atomic());
    for path in ["macro", "handle"] {
        for threads in [1usize, 2, 4] {
            let mut group = c.benchmark_group(format!("recorder-{path}/{threads}-threads"));
            group
                .throughput(Throughput::Elements(threads as u64))
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1))
                .sample_size(20);
            let cached = path == "handle";
            group.bench_function("shardstat ShardstatRecorder", |b| {
                b.iter_custom(|iters| timed(&shardstat, threads, iters, cached))
            });
            group.bench_function("metrics-exporter-prometheus", |b| {
                b.iter_custom(|iters| timed(&prometheus, threads, iters, cached))
            });
            group.bench_function("metrics-util Registry (atomic)", |b| {
                b.iter_custom(|iters| timed(&atomic, threads, iters, cached))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, recorders);
criterion_main!(benches);
