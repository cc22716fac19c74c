//! The `metrics` facade's two paths through three recorders, same run: shardstat's
//! `ShardstatRecorder`, `metrics-exporter-prometheus`'s recorder (default features off), and
//! `metrics-util`'s `Registry` with its atomic storage (what exporters build on), and beside
//! them OpenTelemetry's Rust SDK (`opentelemetry_sdk` with a manual reader, the standard
//! peer), at 1, 2, 4 and 8 threads:
//!
//! - **macro**: `metrics::counter!("requests", "route" => "/a").increment(1)` on every call,
//!   the idiomatic path (shardstat: the thread's cache; the others: a registry lookup and an
//!   `Arc` clone per call); OpenTelemetry's `Counter::add(1, &[KeyValue::new("route", "/a")])`
//!   with the same attribute (its per-call attribute lookup);
//! - **handle**: the `metrics::Counter` fetched once per thread, then `increment(1)`;
//!   OpenTelemetry's bound instrument (`Counter::bind`, experimental in 0.33), then `add(1)`.
//!
//! Every thread uses its recorder through `metrics::with_local_recorder`, so the three run in
//! one process. Throughput is increments per second over all threads, through the
//! thread-timed harness (`benches/harness/mod.rs`: the median of 5 interleaved repeats, with
//! the min–max); the ratios the docs quote are printed from this run's medians.
//!
//! `cargo bench --features metrics --bench recorder` (about 15 seconds on 2 cores).

mod harness;

use harness::{Case, Config, Table};
use metrics::{Key, Metadata, Recorder};
use std::hint::black_box;
use std::sync::Arc;

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

/// `n` increments on the calling thread with `recorder` installed locally: through the macro
/// on every call, or through a handle fetched once.
fn increments<R: Recorder + Sync>(recorder: &R, n: u64, cached: bool) {
    metrics::with_local_recorder(recorder, || {
        if cached {
            let handle = metrics::counter!("requests", "route" => "/a");
            for _ in 0..n {
                handle.increment(black_box(1));
            }
        } else {
            for _ in 0..n {
                metrics::counter!("requests", "route" => "/a").increment(black_box(1));
            }
        }
    })
}

/// `n` adds on the calling thread to OpenTelemetry's counter: with the attribute on every
/// call, or through an instrument bound to it once.
fn otel_adds(counter: &opentelemetry::metrics::Counter<u64>, n: u64, bound: bool) {
    let attributes = [opentelemetry::KeyValue::new("route", "/a")];
    if bound {
        let bound = counter.bind(&attributes);
        for _ in 0..n {
            bound.add(black_box(1));
        }
    } else {
        for _ in 0..n {
            counter.add(black_box(1), &attributes);
        }
    }
}

fn main() {
    let cfg = Config::from_args("recorder");
    println!("{}\n", cfg.describe());
    let shardstat = shardstat::metrics::ShardstatRecorder::new();
    // A manual reader: without a reader the SDK's instruments record nothing.
    let otel_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
        .build();
    let otel = {
        use opentelemetry::metrics::MeterProvider as _;
        otel_provider.meter("bench").u64_counter("requests").build()
    };
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let atomic = AtomicRegistry(metrics_util::registry::Registry::atomic());
    let mut tables = Vec::new();
    for path in ["macro", "handle"] {
        let group = format!("recorder-{path}");
        if !cfg.wants(&group) {
            continue;
        }
        let cached = path == "handle";
        let mut t = Table::new(&group, "M increments/s");
        for threads in [1usize, 2, 4, 8] {
            let cases = [
                // Through the macro, every recorder writes the registry shard's lock word and
                // the cell's reference count; through a handle, the peers write one shared
                // atomic and shardstat its own shard.
                Case::new("shardstat ShardstatRecorder", |_, n| {
                    increments(&shardstat, n, cached)
                })
                .shared(!cached),
                Case::new("metrics-exporter-prometheus", |_, n| {
                    increments(&prometheus, n, cached)
                })
                .shared(true),
                Case::new("metrics-util Registry (atomic)", |_, n| {
                    increments(&atomic, n, cached)
                })
                .shared(true),
                Case::new(
                    if cached {
                        "OpenTelemetry BoundCounter::add"
                    } else {
                        "OpenTelemetry Counter::add"
                    },
                    |_, n| otel_adds(&otel, n, cached),
                )
                .shared(true),
            ];
            t.measure(&cfg, threads, &cases);
        }
        t.print();
        let otel_case = if cached {
            "OpenTelemetry BoundCounter::add"
        } else {
            "OpenTelemetry Counter::add"
        };
        for threads in [1, 2] {
            t.ratio(
                "shardstat / metrics-exporter-prometheus",
                "shardstat ShardstatRecorder",
                "metrics-exporter-prometheus",
                threads,
            );
            t.ratio(
                "shardstat / OpenTelemetry",
                "shardstat ShardstatRecorder",
                otel_case,
                threads,
            );
        }
        let shardstat_at = |threads| t.median("shardstat ShardstatRecorder", threads);
        println!(
            "- shardstat at 2 threads / at 1 thread: **{:.2}×** (issue 30's goal for the macro \
             path: ≥ 1.6×)",
            shardstat_at(2) / shardstat_at(1)
        );
        println!();
        tables.push(t);
    }
    harness::finish(&cfg, &tables);
}
