//! `--compare`: the run's counter operations replayed alone, each thread timed by itself.

use super::*;

/// Replays `ops[i]` per-page counter operations on thread `i`, with nothing else, and
/// returns the interval from the first thread's start to the last thread's end, as each
/// thread timed itself (the timing rule of the benchmarks' harness, `docs/performance.md`:
/// a clock on the main thread, started after a barrier, can start after most workers are
/// done). The start line spins, yielding, so that no thread starts late through a wake-up.
pub(super) fn replay<S: Stats>(stats: &S, ops: &[u64]) -> Duration {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let arrived = AtomicUsize::new(0);
    let stamps: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = ops
            .iter()
            .map(|&n| {
                let arrived = &arrived;
                s.spawn(move || {
                    let counter = stats.sender();
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < ops.len() {
                        std::thread::yield_now();
                    }
                    let start = Instant::now();
                    for i in 0..n {
                        counter.page(i % 4 == 3, Phase::Precopy);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let first = stamps
        .iter()
        .map(|s| s.0)
        .min()
        .unwrap_or_else(Instant::now);
    let last = stamps.iter().map(|s| s.1).max().unwrap_or(first);
    last - first
}

/// The median of `times`.
pub(super) fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
