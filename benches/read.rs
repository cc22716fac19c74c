//! Read cost: `Counter::get` with 1, 2, 8, 64 and 256 threads' shards present (the threads
//! added, then wait parked), and beside it the writes that read every shard too,
//! `Counter::take` (a drain) and `Counter::set`, `Max::get` and `Max::take` (whose
//! `membarrier(2)` costs microseconds); `percpu::Counter::get` with the same threads alive (their adds
//! went to at most one shard per CPU), one `AtomicU64` load for scale, `ApproxCounter::approx` and a
//! far-from-threshold `ApproxCounter::compare` (which read no shard), and a snapshot of QEMU's
//! migration statistics (`MigrationStats::snapshot`, 12 counters, one of them approximate, and 4 gauges) against
//! the same 12 counters read one `Counter::get` at a time.
//!
//! With parked writers every shard line stays in the reader's cache after the first read, so
//! those numbers are the instruction cost. The `…/active-writer` cases keep one thread
//! scanning a 4 KiB page and then counting it in every counter and in the group while the
//! reader reads (QEMU's case: senders write while the migration thread reads), so reads
//! pull the written lines from the writer's core.
//!
//! `rate_check/32-senders/…`: `MigrationStats::rate_limit_exceeded` at four points of a
//! window, with 32 senders' shards present.
//!
//! `cargo bench --bench read`; `.ci/criterion-table.py read` prints the tables (criterion's
//! median of its samples, with their min–max).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use shardstat::migration::MigrationStats;
use shardstat::{ApproxCounter, Counter};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

/// Counters written by `threads` threads that then stay alive (parked on a barrier), so
/// each keeps its own shard.
struct Fixture {
    one: Counter,
    max: shardstat::Max,
    per_cpu: shardstat::percpu::Counter,
    approx: ApproxCounter<1024>,
    twelve: Vec<Counter>,
    group: MigrationStats,
    release: Barrier,
}

fn with_threads(threads: usize, f: impl FnOnce(&Fixture)) {
    let fixture = Fixture {
        one: Counter::new(),
        max: shardstat::Max::new(),
        per_cpu: shardstat::percpu::Counter::new(),
        approx: ApproxCounter::new(),
        twelve: (0..12).map(|_| Counter::new()).collect(),
        group: MigrationStats::new(),
        release: Barrier::new(threads + 1),
    };
    let ready = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                fixture.one.add(1);
                fixture.max.record(1);
                fixture.per_cpu.add(1);
                fixture.approx.add(1);
                fixture.twelve.iter().for_each(|c| c.add(1));
                let local = fixture.group.local();
                local.multifd_packet_sent(4096, 1, 0);
                local.add_file_bytes(16);
                local.precopy_bytes.add(4096);
                local.dirty_sync_count.inc();
                ready.wait();
                fixture.release.wait();
            });
        }
        ready.wait();
        f(&fixture);
        fixture.release.wait();
    });
}

/// Reads with each of `counts` threads' shards present (the threads parked), and one
/// `AtomicU64::load` for scale with the first.
fn read_cost(c: &mut Criterion, counts: &[usize]) {
    let mut group = c.benchmark_group("read");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    if counts.contains(&1) {
        let atomic = AtomicU64::new(1);
        group.bench_function("AtomicU64::load", |b| {
            b.iter(|| black_box(&atomic).load(Ordering::Relaxed))
        });
    }
    for &threads in counts {
        with_threads(threads, |f| {
            assert_eq!(f.one.get(), threads as u64);
            group.bench_with_input(BenchmarkId::new("Counter::get", threads), &f, |b, f| {
                b.iter(|| black_box(&f.one).get())
            });
            // A drain: `get` + the version lock + one store (issue 29's goal: ≤ 1.5× `get`).
            // After the first take the counter reads 0; each take still walks every shard.
            group.bench_with_input(BenchmarkId::new("Counter::take", threads), &f, |b, f| {
                b.iter(|| black_box(&f.one).take())
            });
            group.bench_with_input(BenchmarkId::new("Counter::set", threads), &f, |b, f| {
                b.iter(|| black_box(&f.one).set(0))
            });
            group.bench_with_input(BenchmarkId::new("Max::get", threads), &f, |b, f| {
                b.iter(|| black_box(&f.max).get())
            });
            // A `Max` drain: the epoch made odd, one `membarrier(2)` (a fence where that is
            // unavailable), the walk, the next even epoch.
            group.bench_with_input(BenchmarkId::new("Max::take", threads), &f, |b, f| {
                b.iter(|| black_box(&f.max).take())
            });
            assert_eq!(f.per_cpu.get(), threads as u64);
            group.bench_with_input(
                BenchmarkId::new("percpu::Counter::get", threads),
                &f,
                |b, f| b.iter(|| black_box(&f.per_cpu).get()),
            );
            group.bench_with_input(
                BenchmarkId::new("ApproxCounter::approx", threads),
                &f,
                |b, f| b.iter(|| black_box(&f.approx).approx()),
            );
            // A threshold far from the value: decided from the carried words alone.
            group.bench_with_input(
                BenchmarkId::new("ApproxCounter::compare (far)", threads),
                &f,
                |b, f| b.iter(|| black_box(&f.approx).compare(black_box(1 << 40))),
            );
            group.bench_with_input(
                BenchmarkId::new("MigrationStats::snapshot", threads),
                &f,
                |b, f| b.iter(|| black_box(&f.group).snapshot()),
            );
            group.bench_with_input(
                BenchmarkId::new("12 x Counter::get", threads),
                &f,
                |b, f| b.iter(|| f.twelve.iter().map(|c| black_box(c).get()).sum::<u64>()),
            );
        });
    }
    group.finish();
}

/// One thread scanning pages and counting them while the reader reads (after the 256-thread
/// fixture: the reads walk those shards too, `docs/performance.md`).
fn read_active_writer(c: &mut Criterion) {
    let mut group = c.benchmark_group("read/active-writer");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    let one = Counter::new();
    let worst = shardstat::Max::new();
    let twelve: Vec<Counter> = (0..12).map(|_| Counter::new()).collect();
    let stats = MigrationStats::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let local = stats.local();
            let page = vec![0u64; 512];
            while !stop.load(Ordering::Relaxed) {
                // A sender's work between its counts: scanning a 4 KiB page for zeros.
                black_box(black_box(&page).iter().all(|&w| w == 0));
                one.inc();
                worst.record(black_box(7));
                twelve.iter().for_each(|c| c.inc());
                local.multifd_packet_sent(4096, 1, 0);
                local.precopy_bytes.add(4096);
                local.dirty_sync_count.inc();
            }
        });
        group.bench_function("Counter::get", |b| b.iter(|| black_box(&one).get()));
        // The writer runs, so the take's `membarrier(2)` interrupts its CPU.
        group.bench_function("Max::take", |b| b.iter(|| black_box(&worst).take()));
        group.bench_function("MigrationStats::snapshot", |b| {
            b.iter(|| black_box(&stats).snapshot())
        });
        group.bench_function("12 x Counter::get", |b| {
            b.iter(|| twelve.iter().map(|c| black_box(c).get()).sum::<u64>())
        });
        stop.store(true, Ordering::Relaxed);
    });
    group.finish();
}

/// `MigrationStats::rate_limit_exceeded` with 32 senders' shards (issue 25): at the start of
/// a window (the start is the exact total, above the carried one: one exact read of 32
/// cells), in the middle (decided from the carried words), near the limit (exact again) and
/// well past it (carried words). The senders are parked; the bytes of the window are the
/// reader's own.
fn rate_check_cost(c: &mut Criterion) {
    const LIMIT: u64 = 10 << 20; // bytes per window (100 MiB/s)
    let mut group = c.benchmark_group("rate_check/32-senders");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    with_threads(32, |f| {
        let stats = &f.group;
        stats.rate_limit_set(LIMIT);
        stats.rate_limit_reset();
        let mut case = |name: &str, sent_in_window: u64, exceeded: bool| {
            let now = stats.transferred_bytes() - stats.snapshot().rate_limit_start;
            stats.add_file_bytes(sent_in_window - now);
            assert_eq!(stats.rate_limit_exceeded(), exceeded, "{name}");
            group.bench_function(name, |b| b.iter(|| black_box(stats).rate_limit_exceeded()));
        };
        case("window start (0 B sent)", 0, false);
        case("window middle (5 MiB sent)", 5 << 20, false);
        case("near the limit (limit - 1 KiB sent)", LIMIT - 1024, false);
        case(
            "past the limit (limit + 4 MiB sent)",
            LIMIT + (4 << 20),
            true,
        );
    });
    group.finish();
}

// The rate check first: its bound counts every shard that ever had a copy of the chunk, and
// `read_cost` starts up to 256 threads.
/// Few shards first, then the rate check (32 senders), then many: a read walks every shard
/// that ever had a copy of the counter's chunk (up to the peak of threads alive at once), so a
/// fixture measured after a larger one would walk the larger one's shards.
fn read_few_shards(c: &mut Criterion) {
    read_cost(c, &[1, 2, 8]);
}

fn read_many_shards(c: &mut Criterion) {
    read_cost(c, &[64, 256]);
    read_active_writer(c);
}

criterion_group!(benches, read_few_shards, rate_check_cost, read_many_shards);
criterion_main!(benches);
