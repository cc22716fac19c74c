//! Recording into a histogram from 1 and 2 threads (and 4: oversubscribed), same run:
//! shardstat's `Histogram::record` against `prometheus-client`'s `Histogram::observe` (a
//! `Mutex` around the buckets, the sum and the count, taken per observation), `metrics-util`'s
//! `AtomicBucket::push` (what `metrics-exporter-prometheus` records histograms into: an
//! append-only list of blocks of values, drained at a scrape), OpenTelemetry's Rust SDK
//! (`opentelemetry_sdk`'s `Histogram::record` with one attribute, through a manual reader, with
//! its 11 default-like bounds) and, for scale, shardstat's `Counter::add`. Values are latencies in ns, spread over 1 µs – 1 ms (10 powers of two).
//! Through the thread-timed harness (`benches/harness/mod.rs`: the median of 5 interleaved
//! repeats, with the min–max); the ratios the docs quote are printed from this run's medians.
//!
//! Then `histogram-snapshot`: `Histogram::snapshot` and four quantiles with 1–64 threads'
//! shards present, a single-threaded cost measured by criterion (`.ci/criterion-table.py
//! histogram-snapshot` prints its median and the samples' min–max); not in `--quick` mode.
//!
//! `cargo bench --features metrics --bench histogram` (about 20 seconds on 2 cores).

mod harness;

use criterion::{BenchmarkId, Criterion};
use harness::{Case, Config, Table};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::Duration;

/// The i-th value: a pseudo-random latency in ns between ~1 µs and ~1 ms.
#[inline(always)]
fn value(i: u64) -> u64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    1_000 + (x >> 44) % 1_000_000
}

/// `n` records of thread `t`'s values through `record`.
fn records(t: usize, n: u64, record: impl Fn(u64)) {
    let base = t as u64 * n;
    for i in base..base + n {
        record(black_box(value(i)));
    }
}

fn main() {
    let cfg = Config::from_args("histogram");
    println!("{}\n", cfg.describe());
    let mut tables = Vec::new();
    if cfg.wants("histogram-record") {
        let mut t = Table::new("histogram-record", "M records/s");
        for threads in [1usize, 2, 4] {
            let shard = shardstat::Histogram::new();
            // Prometheus' default latency buckets are 11; a latency histogram covering 1 µs –
            // 1 ms at 2× steps has 11 too.
            let prom = prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(1_000.0, 2.0, 11),
            );
            let bucket = metrics_util::storage::AtomicBucket::<f64>::new();
            let counter = shardstat::Counter::new();
            let otel_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
                .build();
            let otel = {
                use opentelemetry::metrics::MeterProvider as _;
                otel_provider
                    .meter("bench")
                    .u64_histogram("latency_ns")
                    .with_boundaries((0..11).map(|i| 1_000.0 * f64::from(1 << i)).collect())
                    .build()
            };
            let route = [opentelemetry::KeyValue::new("route", "/a")];
            let cases = [
                Case::new("shardstat Histogram::record", |t, n| {
                    records(t, n, |v| shard.record(v))
                }),
                Case::new("prometheus-client Histogram::observe", |t, n| {
                    records(t, n, |v| prom.observe(v as f64))
                })
                .shared(true),
                // An exporter's scrape drains the bucket; here every thread drains what it
                // pushed at the end of its loop's time (outside it would grow without bound).
                Case::new("metrics-util AtomicBucket::push", |t, n| {
                    records(t, n, |v| bucket.push(v as f64));
                    if t == 0 {
                        bucket.clear();
                    }
                })
                .shared(true),
                Case::new("OpenTelemetry Histogram::record", |t, n| {
                    records(t, n, |v| otel.record(v, &route))
                })
                .shared(true),
                Case::new("shardstat Counter::add", |t, n| {
                    records(t, n, |v| counter.add(v))
                }),
            ];
            t.measure(&cfg, threads, &cases);
        }
        t.print();
        for (what, name) in [
            (
                "prometheus-client's `observe`",
                "prometheus-client Histogram::observe",
            ),
            (
                "metrics-util's `AtomicBucket::push`",
                "metrics-util AtomicBucket::push",
            ),
            (
                "OpenTelemetry's `Histogram::record`",
                "OpenTelemetry Histogram::record",
            ),
            ("`Counter::add`", "shardstat Counter::add"),
        ] {
            t.ratio(
                &format!("`record` / {what}"),
                "shardstat Histogram::record",
                name,
                2,
            );
        }
        println!();
        tables.push(t);
    }
    if cfg.wants("histogram-snapshot") && !cfg.quick {
        let mut c = Criterion::default();
        histogram_snapshot(&mut c);
        c.final_summary();
    }
    harness::finish(&cfg, &tables);
}

/// `snapshot()` and four quantiles with `threads` threads' shards present (they recorded
/// 10,000 values each, then wait parked).
fn histogram_snapshot(c: &mut Criterion) {
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
