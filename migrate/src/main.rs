//! A live migration, simulated with the real `shardstat::migration` API: the project's main
//! job.
//!
//! A synthetic guest RAM (some pages zero) is migrated by `--channels` multifd sender
//! threads that detect zero pages for real and copy normal pages into a destination RAM,
//! while a guest thread keeps dirtying pages, so several passes and dirty-bitmap syncs
//! happen. The migration thread queues packets under the rate limit, runs QEMU's 100 ms
//! update (bandwidth, pages/s, expected downtime), and stops the guest for the final copy
//! once the expected downtime fits the limit. It ends with a report shaped like QEMU's
//! `query-migrate` (its `ram` section), and checks that the destination RAM equals the
//! source and that the statistics add up.
//!
//! ```text
//! cargo run --release -p migrate                      # defaults, about 20 s
//! cargo run --release -p migrate -- --ram 64M --channels 4 --dirty-rate 5000
//! cargo run --release -p migrate -- --max-bandwidth 0 --json
//! cargo run --release -p migrate -- --compare         # shardstat vs QEMU's atomics
//! ```
//!
//! `--compare` runs the same migration twice, once with `MigrationStats` and once with one
//! shared `AtomicU64` per field (QEMU's `mig_stats`), and replays each run's counter
//! operations alone on the same threads to show what the counters themselves cost.
//!
//! The parts: `args` (the command line), `stats` (the statistics, two ways, behind one
//! trait), `guest` (the RAM and the thread that dirties it), `migration` (the senders, the
//! 100 ms update, the passes), `report` (QEMU's `query-migrate` shape, text or JSON, and the
//! checks that the statistics add up) and `compare` (the counter operations replayed alone).

use shardstat::migration::{MigrationSnapshot, MigrationStats, RateSample, RateTracker};
use shardstat::{Histogram, HistogramSnapshot};
#[cfg(not(target_has_atomic = "64"))]
use stat64::Stat64 as AtomicU64;
use std::io::{IsTerminal, Write};
#[cfg(target_has_atomic = "64")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// QEMU's `Stat64` where the host has no 64-bit atomics (`util/stats64.c` keeps each 64-bit
/// statistic with a lock): the `--compare` baseline and the simulated guest memory on such
/// hosts, with the methods of `AtomicU64` this program uses.
#[cfg(not(target_has_atomic = "64"))]
mod stat64 {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Stat64(Mutex<u64>);

    impl Stat64 {
        pub const fn new(value: u64) -> Self {
            Stat64(Mutex::new(value))
        }
        fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
            f(&mut self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner))
        }
        pub fn load(&self, _: Ordering) -> u64 {
            self.with(|v| *v)
        }
        pub fn store(&self, value: u64, _: Ordering) {
            self.with(|v| *v = value);
        }
        pub fn swap(&self, value: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, value))
        }
        pub fn fetch_add(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, v.wrapping_add(n)))
        }
        pub fn fetch_or(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, *v | n))
        }
    }
}
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

const PAGE_SIZE: u64 = 4096;
const WORDS_PER_PAGE: usize = (PAGE_SIZE / 8) as usize;
/// Pages per multifd packet (QEMU: 128 pages, 512 KiB).
const PACKET_PAGES: usize = 128;
/// Bytes of a packet header, and of one zero-page entry in it.
const PACKET_HEADER: u64 = 64;
const ZERO_PAGE_ENTRY: u64 = 8;
/// The marker the migration thread writes to the main stream per packet it queues.
const FILE_MARKER: u64 = 16;
const DOWNTIME_LIMIT_MS: f64 = 300.0;
const MAX_PASSES: u32 = 30;

mod args;
mod compare;
mod guest;
mod migration;
mod report;
mod stats;

use args::*;
use compare::*;
use guest::*;
/// For `tests/migration.rs`, which includes this file as a module.
#[allow(unused_imports)]
pub use migration::UpdateTimer;
use migration::*;
use report::*;
use stats::*;

/// Runs one quiet migration with `args` (the command line's flags) on fresh statistics, and
/// returns the final snapshot and what `consistency` found wrong. For
/// `tests/migration.rs`, which includes this file as a module.
#[allow(dead_code)]
pub(crate) fn run_and_check(args: &[&str]) -> (MigrationSnapshot, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let config = parse_args(&args).expect("valid flags");
    let stats = MigrationStats::new();
    let outcome = migrate(&config, &stats, true);
    let problems = consistency(&config, &outcome);
    (outcome.snapshot, problems)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(c) => c,
        Err(problem) => {
            eprintln!("migrate: {problem}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if !config.json {
        println!(
            "migrating {} MiB with {} channel(s), guest dirtying {} pages/s, {}",
            config.ram >> 20,
            config.channels,
            config.dirty_rate,
            if config.max_bandwidth == 0 {
                "unlimited bandwidth".to_string()
            } else {
                format!("max bandwidth {} MiB/s", config.max_bandwidth >> 20)
            }
        );
    }

    static STATS: MigrationStats = MigrationStats::new();
    let (ours, interval_problems) = match config.stats_interval {
        Some(every) => with_stats_lines(&STATS, every, || migrate(&config, &STATS, false)),
        None => (migrate(&config, &STATS, false), Vec::new()),
    };
    let mut problems = consistency(&config, &ours);
    problems.extend(interval_problems);

    if config.json && !config.compare {
        println!("{}", report_json(&config, &ours, MigrationStats::NAME));
    } else if !config.json {
        report_text(&config, &ours, MigrationStats::NAME);
    }

    if config.compare {
        if !config.json {
            println!("\nthe same migration with one shared AtomicU64 per field (QEMU's design):");
        }
        let atomics = AtomicStats::default();
        let theirs = migrate(&config, &atomics, config.json);
        problems.extend(consistency(&config, &theirs));
        // Replay the run's per-thread counter operations, repeated to at least 20 M in all so
        // the timing is not lost in thread start-up; the median of 5 each, alternating.
        let run_ops: u64 = ours.counter_ops.iter().sum();
        let repeat = (20_000_000 / run_ops.max(1)).max(1);
        let ops: Vec<u64> = ours.counter_ops.iter().map(|n| n * repeat).collect();
        let ops = &ops;
        let (mut ours_times, mut theirs_times) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            ours_times.push(replay(&STATS, ops));
            theirs_times.push(replay(&atomics, ops));
        }
        let (replay_ours, replay_theirs) = (median(ours_times), median(theirs_times));
        let total_ops: u64 = ops.iter().sum();
        let rate = |d: Duration| total_ops as f64 / d.as_secs_f64() / 1e6;
        if config.json {
            println!(
                "{{\"shardstat\": {}, \"atomics\": {}, \"counter-replay\": {{\"operations\": {total_ops}, \
                 \"shardstat-ms\": {:.3}, \"atomics-ms\": {:.3}}}}}",
                report_json(&config, &ours, MigrationStats::NAME),
                report_json(&config, &theirs, AtomicStats::NAME),
                replay_ours.as_secs_f64() * 1e3,
                replay_theirs.as_secs_f64() * 1e3,
            );
        } else {
            println!(
                "total time: {} ms (shardstat: {} ms)  downtime: {} ms (shardstat: {} ms)",
                theirs.total.as_millis(),
                ours.total.as_millis(),
                theirs.downtime.as_millis(),
                ours.downtime.as_millis()
            );
            println!(
                "\ncounter cost: the run's {run_ops} counter operations (one per page and per packet), \
                 replayed {repeat}x alone on {} thread(s) (each thread timed by itself, the median \
                 of 5 runs):",
                ops.len()
            );
            println!(
                "  shardstat MigrationStats      {:>9.3} ms  {:>8.1} M ops/s",
                replay_ours.as_secs_f64() * 1e3,
                rate(replay_ours)
            );
            println!(
                "  one AtomicU64 per field       {:>9.3} ms  {:>8.1} M ops/s",
                replay_theirs.as_secs_f64() * 1e3,
                rate(replay_theirs)
            );
            println!(
                "  shardstat is {:.1}x faster at counting; the whole migration took {:+.1}% as long",
                replay_theirs.as_secs_f64() / replay_ours.as_secs_f64(),
                (ours.total.as_secs_f64() / theirs.total.as_secs_f64() - 1.0) * 100.0
            );
            if config.max_bandwidth != 0 {
                println!(
                    "  (with a bandwidth limit the total time is set by the limit; \
                     try --max-bandwidth 0 to see counting on the critical path)"
                );
            }
        }
    }

    if !problems.is_empty() {
        for p in &problems {
            eprintln!("migrate: INCONSISTENT: {p}");
        }
        std::process::exit(1);
    }
}

/// Runs `run` (the migration) while a thread writes, every `every`, one JSON line on stdout
/// with the deltas of `stats` over the interval: the difference of two consecutive
/// snapshots (each consistent: no sender's step seen in half). The last line comes from a
/// snapshot taken after `run` returned, so the lines sum exactly to the final report's
/// values; returns the outcome and what did not add up.
fn with_stats_lines(
    stats: &MigrationStats,
    every: Duration,
    run: impl FnOnce() -> Outcome,
) -> (Outcome, Vec<String>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut previous = MigrationSnapshot::default();
            let mut sum = MigrationSnapshot::default();
            let started = Instant::now();
            for n in 1.. {
                let deadline = Instant::now() + every;
                while Instant::now() < deadline && !done.load(std::sync::atomic::Ordering::Acquire)
                {
                    std::thread::sleep(Duration::from_millis(1).min(every));
                }
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let now = stats.snapshot();
                let delta = now - previous;
                println!("{}", interval_json(n, started.elapsed(), &delta));
                sum = add_counters(sum, &delta);
                previous = now;
                if finished {
                    break;
                }
            }
            sum
        });
        let outcome = run();
        done.store(true, std::sync::atomic::Ordering::Release);
        let sum = writer.join().expect("the stats-interval thread panicked");
        let mut problems = Vec::new();
        for (name, lines, report) in interval_fields(&sum)
            .into_iter()
            .zip(interval_fields(&outcome.snapshot))
            .map(|((name, l), (_, r))| (name, l, r))
        {
            if lines != report {
                problems.push(format!(
                    "--stats-interval: the lines' {name} sum to {lines}, the report says {report}"
                ));
            }
        }
        (outcome, problems)
    })
}
