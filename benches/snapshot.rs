//! Snapshot and reset latency while writers step (issue 25): the distribution, not a mean.
//!
//! `W` writer threads run a stat group's `update` steps (two counter adds each) — back to
//! back, or with some work between steps as a real sender has — while the bench thread takes
//! snapshots one after another for a few seconds, and, in half the cases, another thread
//! resets the group every 100 ms. It prints how many snapshots completed and their latency
//! p50 / p99 / max, and the resets' count and worst latency. With more writers than CPUs a
//! writer is often preempted inside a step, and readers wait for it (`docs/design.md` §8,
//! "Liveness"); that wait is what this measures.
//!
//! Not a criterion bench: criterion reports a mean per iteration, and the question here is
//! the tail (one snapshot in 15.8 s, none in 20 s, before issue 25). Latencies are timed by
//! the thread that takes them, each on its own.
//!
//! ```text
//! cargo bench --bench snapshot                      # 64 writers, each case 5 s
//! cargo bench --bench snapshot -- --writers 16 --secs 2
//! ```

use shardstat::{stats, Counter};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

stats! {
    /// Two counters that every step adds to together.
    #[snapshot = PairSnapshot]
    #[local = PairLocal]
    struct Pair {
        a: Counter,
        b: Counter,
    }
}

/// One case's outcome.
struct Outcome {
    snapshots: Vec<Duration>,
    resets: Vec<Duration>,
    steps: u64,
}

/// `writers` threads stepping (`work` spins between steps) for `secs` seconds while this
/// thread snapshots; with `reset`, a thread resetting every 100 ms.
fn run(writers: usize, secs: f64, work: u32, reset: bool) -> Outcome {
    let pair = Pair::new();
    let stop = AtomicBool::new(false);
    let steps = Mutex::new(0u64);
    let resets = Mutex::new(Vec::new());
    let mut snapshots = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..writers {
            s.spawn(|| {
                let local = pair.local();
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    local.update(|l| {
                        l.a.inc();
                        l.b.inc();
                    });
                    for i in 0..work {
                        black_box(i);
                    }
                    n += 1;
                }
                *steps.lock().unwrap() += n;
            });
        }
        if reset {
            s.spawn(|| {
                let mut took = Vec::new();
                while !stop.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let t = Instant::now();
                    pair.reset();
                    took.push(t.elapsed());
                }
                *resets.lock().unwrap() = took;
            });
        }
        let end = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < end {
            let t = Instant::now();
            let snap = pair.snapshot();
            snapshots.push(t.elapsed());
            assert_eq!(snap.a, snap.b, "a snapshot saw half a step");
        }
        stop.store(true, Relaxed);
    });
    Outcome {
        snapshots,
        resets: resets.into_inner().unwrap(),
        steps: steps.into_inner().unwrap(),
    }
}

/// The `p`-th percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i]
}

fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

fn main() {
    let mut writers = 64;
    let mut secs = 5.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--writers" => writers = args.next().and_then(|v| v.parse().ok()).unwrap_or(writers),
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            _ => {} // cargo bench passes `--bench`
        }
    }
    println!(
        "{writers} writers, {} CPUs, {secs} s per case",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<38} {:>9} {:>10} {:>10} {:>10} {:>7} {:>10} {:>12}",
        "case", "snapshots", "p50", "p99", "max", "resets", "reset max", "steps/s"
    );
    for (work, steps) in [(0, "back-to-back steps"), (100, "100 spins between steps")] {
        for reset in [false, true] {
            let mut o = run(writers, secs, work, reset);
            o.snapshots.sort();
            o.resets.sort();
            let name = format!("{steps}{}", if reset { ", reset/100 ms" } else { "" });
            println!(
                "{:<38} {:>9} {:>10} {:>10} {:>10} {:>7} {:>10} {:>12.3e}",
                name,
                o.snapshots.len(),
                show(percentile(&o.snapshots, 50.0)),
                show(percentile(&o.snapshots, 99.0)),
                show(o.snapshots.last().copied().unwrap_or_default()),
                o.resets.len(),
                show(o.resets.last().copied().unwrap_or_default()),
                o.steps as f64 / secs,
            );
        }
    }
}
