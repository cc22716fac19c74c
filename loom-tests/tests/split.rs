//! The 64-bit atomic of targets without 64-bit atomics: two 32-bit halves under a striped
//! sequence count (`src/sync/split.rs`, `docs/design.md` §15).
//!
//! Built only with `--cfg shardstat_split64` (`loom-tests/run.sh` runs this file a second
//! time with it), where `shardstat::__private::AtomicU64` is the split type and every
//! counter's cells are split too. The values straddle 2^32: `BELOW` is `hi` 0 with `lo` all
//! ones, `ABOVE` is `hi` 1 with `lo` 0, so a read that mixes their halves is `0` or
//! `2^33 − 1`.
#![cfg(all(loom, shardstat_split64))]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use shardstat::__private::AtomicU64;

const BELOW: u64 = (1 << 32) - 1;
const ABOVE: u64 = 1 << 32;

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(3, f);
}

fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(f);
}

/// Spawns a thread that reads with `read`, runs `write` on this thread, and returns what the
/// reader saw.
///
/// The writer is the *model's main thread* on purpose (`docs/design.md` §11): loom tracks
/// only the last access per atomic, so a spawned writer's own load of the high half hides
/// the reader's earlier load from the store that follows (tokio-rs/loom#392). Measured here:
/// a spawned writer gave one execution and never showed the torn read; a spawned reader
/// explores both orders.
fn race<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static, write: impl FnOnce()) -> T {
    let reader = thread::spawn(read);
    write();
    reader.join().unwrap()
}

/// The owner crosses 2^32 (both halves, under the stripe's count), then adds 1 without a
/// lock (the low half alone); a concurrent reader sees one of the three values, never
/// half of one and half of another — including the high half of the first value with the
/// low half of the third.
#[test]
fn a_read_never_sees_half_of_a_carry() {
    model(|| {
        let cell = Arc::new(AtomicU64::new(BELOW));
        let reader = Arc::clone(&cell);
        let seen = race(
            move || reader.load(Ordering::Relaxed),
            || {
                cell.store_owned(ABOVE, Ordering::Relaxed);
                cell.store_owned(ABOVE + 1, Ordering::Relaxed);
            },
        );
        assert!(
            [BELOW, ABOVE, ABOVE + 1].contains(&seen),
            "a torn read: {seen:#x}"
        );
        assert_eq!(cell.load(Ordering::Relaxed), ABOVE + 1);
    });
}

/// The same race without the sequence check: loom finds the torn read.
#[test]
#[should_panic(expected = "a torn read")]
fn without_the_sequence_check_a_read_tears() {
    model(|| {
        let cell = Arc::new(AtomicU64::new(BELOW));
        let reader = Arc::clone(&cell);
        let seen = race(
            move || reader.load_unchecked(),
            || cell.store_owned(ABOVE, Ordering::Relaxed),
        );
        assert!([BELOW, ABOVE].contains(&seen), "a torn read: {seen:#x}");
    });
}

/// Two read-modify-writes of one word (a `Gauge`, a global word) from two threads, both
/// crossing 2^32: the stripe's lock makes them atomic, so neither add is lost.
#[test]
fn concurrent_read_modify_writes_lose_nothing() {
    model(|| {
        let cell = Arc::new(AtomicU64::new(BELOW));
        let other = Arc::clone(&cell);
        race(
            move || {
                other.fetch_add(1, Ordering::Relaxed);
            },
            || {
                cell.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(cell.load(Ordering::Relaxed), BELOW + 2, "an add was lost");
    });
}

/// A Release store, with a carry (locked) and without (the low half alone), publishes what
/// was written before it to an Acquire load that sees it.
#[test]
fn a_release_store_publishes_to_an_acquire_load() {
    for (first, second) in [(BELOW, ABOVE), (ABOVE, ABOVE + 1)] {
        model(move || {
            let cell = Arc::new(AtomicU64::new(first));
            let data = Arc::new(AtomicUsize::new(0));
            let (reader, read_data) = (Arc::clone(&cell), Arc::clone(&data));
            let seen = race(
                move || {
                    let value = reader.load(Ordering::Acquire);
                    (value, read_data.load(Ordering::Relaxed))
                },
                || {
                    data.store(1, Ordering::Relaxed);
                    cell.store_owned(second, Ordering::Release);
                },
            );
            if seen.0 == second {
                assert_eq!(seen.1, 1, "published without its data");
            }
        });
    }
}

/// A counter whose writer's cell crosses 2^32 (0 to `u64::MAX`: −1) while another thread
/// reads it: the engine's cells are split too in this build, and `get` never sees a torn
/// cell (`2^32 − 1` or `−2^32`). Two preemptions: the whole engine runs on split words here
/// (location, version, globals), and three took ten minutes.
#[test]
fn a_counter_read_never_sees_a_torn_cell() {
    model_bounded(2, || {
        let counter = Arc::new(shardstat::UpDownCounter::new());
        let reader = Arc::clone(&counter);
        let seen = race(move || reader.get(), || counter.add(-1));
        assert!(seen == 0 || seen == -1, "a torn read: {seen:#x}");
        assert_eq!(counter.get(), -1);
    });
}
