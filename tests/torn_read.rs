//! A read never returns half of one 64-bit value and half of another.
//!
//! Where the target has no 64-bit atomics (32-bit PowerPC: the emulated CI), every cell is
//! two 32-bit halves and a reader checks a sequence count around them (`docs/design.md`
//! §15). A writer that crosses 2^32 changes both halves, so a reader without the check can
//! see `hi` of one value with `lo` of the other: here the values alternate between
//! `2^32 − 1` (`hi` 0, `lo` all ones) and `2^32` (`hi` 1, `lo` 0), and a torn read is `0` or
//! `2^33 − 1`, which the counter never held.
//!
//! The tests run on every target (with native 64-bit atomics they cannot fail, and say so);
//! the negative control — the same read without the sequence check must tear — runs where
//! the cells are split (`shardstat::__private::SPLIT_CELLS`: the powerpc CI run, and
//! `RUSTFLAGS="--cfg shardstat_split64"` on any machine).

use shardstat::{Gauge, UpDownCounter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

const BELOW: i64 = (1 << 32) - 1;
const ABOVE: i64 = 1 << 32;
/// How many times the writer crosses 2^32 and back in the positive tests.
const CROSSINGS: u64 = 200_000;

fn cells() -> &'static str {
    if shardstat::__private::SPLIT_CELLS {
        "split cells (two 32-bit halves under a sequence count)"
    } else {
        "native 64-bit atomics (a read cannot tear; the test checks the values anyway)"
    }
}

/// Runs `setup`, then `write_crossing` (one crossing up and back) `crossings` times on one
/// thread, while another thread (started once `setup` returned) calls `read` until the
/// writer is done (or, with `stop_at_first_bad`, until a bad value); returns how many reads
/// were made and the values seen that were neither `BELOW` nor `ABOVE`.
///
/// The writer starts crossing only once the reader has read once, so the two overlap even
/// where threads start slowly (under emulation the writer once finished before the reader's
/// first read).
fn race(
    crossings: u64,
    setup: impl FnOnce() + Send,
    write_crossing: impl Fn() + Send + Sync,
    read: impl Fn() -> i64 + Send + Sync,
    stop_at_first_bad: bool,
) -> (u64, Vec<i64>) {
    let (set_up, reading, done) = (
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicBool::new(false),
    );
    let wait_for = |flag: &AtomicBool| {
        while !flag.load(Ordering::Acquire) {
            thread::yield_now();
        }
    };
    thread::scope(|s| {
        s.spawn(|| {
            setup();
            set_up.store(true, Ordering::Release);
            wait_for(&reading);
            for _ in 0..crossings {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                write_crossing();
            }
            done.store(true, Ordering::Relaxed);
        });
        let reader = s.spawn(|| {
            wait_for(&set_up);
            let (mut reads, mut bad) = (0u64, Vec::new());
            loop {
                let value = read();
                reads += 1;
                reading.store(true, Ordering::Release);
                if value != BELOW && value != ABOVE {
                    bad.push(value);
                    if stop_at_first_bad {
                        done.store(true, Ordering::Relaxed);
                    }
                }
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
            (reads, bad)
        });
        reader.join().unwrap()
    })
}

/// [`race`] on an up-down counter whose writer's own cell holds the whole value (from
/// before the reader starts) and crosses 2^32 and back; `read` reads the counter.
fn race_counter(
    crossings: u64,
    read: impl Fn(&UpDownCounter) -> i64 + Send + Sync,
    stop_at_first_bad: bool,
) -> (UpDownCounter, u64, Vec<i64>) {
    let counter = UpDownCounter::new();
    let (reads, bad) = race(
        crossings,
        || counter.add(BELOW),
        || {
            counter.add(1);
            counter.add(-1);
        },
        || read(&counter),
        stop_at_first_bad,
    );
    (counter, reads, bad)
}

/// A counter's shard cell crossing 2^32: the writer's own cell, written without a lock
/// except on the crossing itself.
#[test]
fn a_counter_crossing_2_pow_32_is_never_read_torn() {
    let (counter, reads, bad) = race_counter(CROSSINGS, UpDownCounter::get, false);
    println!("{}: {reads} reads, none torn", cells());
    assert!(bad.is_empty(), "torn reads: {:?}", &bad[..bad.len().min(8)]);
    assert!(reads > 0);
    assert_eq!(counter.get(), BELOW);
}

/// A global word (a `Gauge`: every write is a store any thread makes) crossing 2^32.
#[test]
fn a_gauge_crossing_2_pow_32_is_never_read_torn() {
    let gauge = Gauge::new();
    gauge.set(BELOW as u64);
    let (reads, bad) = race(
        CROSSINGS,
        || {},
        || {
            gauge.set(ABOVE as u64);
            gauge.set(BELOW as u64);
        },
        || gauge.get() as i64,
        false,
    );
    println!("{}: {reads} reads, none torn", cells());
    assert!(bad.is_empty(), "torn reads: {:?}", &bad[..bad.len().min(8)]);
    assert!(reads > 0);
}

/// The negative control: the same counter read as two halves *without* the sequence check
/// does tear — so the test above can fail, and the check is what keeps it passing. Bounded
/// by a number of crossings, not by time; it stops at the first torn read.
#[cfg(shardstat_split_word)]
#[test]
fn without_the_sequence_check_a_read_tears() {
    const { assert!(shardstat::__private::SPLIT_CELLS) };
    const MAX_CROSSINGS: u64 = 50_000_000;
    let (_, reads, bad) = race_counter(
        MAX_CROSSINGS,
        shardstat::__private::torn_read::get_without_sequence_check,
        true,
    );
    println!("without the check: {reads} reads, torn: {bad:?}");
    assert!(
        !bad.is_empty(),
        "{reads} reads without the sequence check never tore in {MAX_CROSSINGS} crossings"
    );
    assert!(
        bad.iter().all(|&v| v == 0 || v == (1 << 33) - 1),
        "a torn read is hi of one value with lo of the other: {bad:?}"
    );
}
