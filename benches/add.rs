//! Add throughput of every way to count, side by side, at 1, 2, … cores threads and at 2×
//! and 4× oversubscription. Throughput is adds per second over all threads.
//!
//! `cargo bench --bench add` (about 4 minutes); `cargo bench --bench add -- 2-threads` for
//! one thread count, `cargo bench --bench add -- add-15-counters` for the benchmark of one
//! thread adding to 15 different counters in turn, `cargo bench --bench add -- add-approx` for
//! the approximate counter's add and limited add, `cargo bench --bench add -- add-percpu` for
//! per-CPU against per-thread shards at 2 and 64 threads. The implementations are in
//! `benches/impls/mod.rs`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

mod impls;

fn add_throughput(c: &mut Criterion) {
    for threads in impls::thread_counts() {
        let mut group = c.benchmark_group(format!("add/{threads}-threads"));
        group
            .throughput(Throughput::Elements(threads as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for imp in impls::all() {
            group.bench_function(imp.name(), |b| {
                b.iter_custom(|iters| impls::timed_run(&*imp, threads, iters))
            });
        }
        group.finish();
    }
}

/// One thread adding to 15 different counters in turn (QEMU's migration fields): how many
/// cache lines each add touches matters here, not only the lookup.
fn many_counters(c: &mut Criterion) {
    for threads in impls::thread_counts() {
        let mut group = c.benchmark_group(format!("add-15-counters/{threads}-threads"));
        group
            .throughput(Throughput::Elements(threads as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for imp in impls::many() {
            group.bench_function(imp.name(), |b| {
                b.iter_custom(|iters| impls::timed_run(&*imp, threads, iters))
            });
        }
        group.finish();
    }
}

/// `ApproxCounter::add` and `limited_add` (far from the limit) against `Counter::add` and a
/// shared `AtomicU64::fetch_update` with a limit, in one run.
fn limited(c: &mut Criterion) {
    for threads in impls::thread_counts() {
        let mut group = c.benchmark_group(format!("add-approx/{threads}-threads"));
        group
            .throughput(Throughput::Elements(threads as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for imp in impls::limits() {
            group.bench_function(imp.name(), |b| {
                b.iter_custom(|iters| impls::timed_run(&*imp, threads, iters))
            });
        }
        group.finish();
    }
}

/// Per-CPU against per-thread shards, at 1 thread (the add's own cost, uncontended), at one
/// thread per core, and at 64 threads on this machine's CPUs (oversubscribed: threads are
/// preempted in the middle of their adds).
fn per_cpu(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    for threads in [1, cores, 64] {
        let mut group = c.benchmark_group(format!("add-percpu/{threads}-threads"));
        group
            .throughput(Throughput::Elements(threads as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for imp in impls::per_cpu() {
            group.bench_function(imp.name(), |b| {
                b.iter_custom(|iters| impls::timed_run(&*imp, threads, iters))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, add_throughput, many_counters, limited, per_cpu);
criterion_main!(benches);
