//! Loom models of `Histogram`: a snapshot never shows a record in half, a reset counts a
//! concurrent record wholly after it or not at all, and an interval histogram (`take`)
//! holds each record exactly once. (Under loom a histogram has 2 buckets per
//! power of two, so its pages are 2 cells: values 5 and 9 fall in two different pages.)
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::Histogram;
use shardstat_loom_tests::{assert_one_of, models, Flag, Signal};

#[test]
fn a_snapshot_never_sees_half_a_record() {
    models::a_histogram_snapshot_never_sees_half_a_record(|h: &Histogram, v| h.record(v));
}

/// An interval histogram (`take`) racing records: each record is in the take or in what the
/// histogram holds after it, wholly, never in both.
#[test]
fn an_interval_histogram_holds_each_record_exactly_once() {
    models::an_interval_histogram_holds_each_record_exactly_once(Histogram::take);
}

/// A record that carries the sum into its high word (the sum crosses 2^64), racing a
/// snapshot: the snapshot sees the record's count and both words of its sum, or none of
/// them. Without the `Acquire` on the high word's load (the seqlock reader's fence, as for
/// the low word), the reader could take the new high word with the old low word and count
/// and still pass its re-check: a sum 2^64 too large.
#[test]
fn a_snapshot_never_sees_half_of_a_carry_into_the_sums_high_word() {
    loom::model(|| {
        let h = Arc::new(Histogram::new());
        h.record(u64::MAX); // the sum's low word is full: the next record carries
        let reader = {
            let h = h.clone();
            thread::spawn(move || {
                let snap = h.snapshot();
                (snap.count(), snap.sum())
            })
        };
        h.record(2);
        let max = u128::from(u64::MAX);
        assert_one_of(
            reader.join().unwrap(),
            &[(1, max), (2, max + 2)],
            "a snapshot saw half of a carry into the sum's high word",
        );
    });
}

/// A reset racing a record: afterwards the histogram holds that record whole or nothing.
#[test]
fn a_reset_counts_a_concurrent_record_wholly_or_not_at_all() {
    loom::model(|| {
        let h = Arc::new(Histogram::new());
        h.record(2); // before the reset: must never show after it
        let resetter = {
            let h = h.clone();
            thread::spawn(move || h.reset())
        };
        h.record(9);
        resetter.join().unwrap();
        let snap = h.snapshot();
        let buckets: Vec<(u64, u64)> = snap.buckets().map(|b| (b.low, b.count)).collect();
        assert_one_of(
            (snap.count(), snap.sum(), buckets),
            &[(0, 0, vec![]), (1, 9, vec![(8, 1)])],
            "after the reset",
        );
    });
}

/// A histogram's page run is reused: a thread that recorded into the dropped histogram's
/// page later records into the new histogram's page, which took the same cells, finding it
/// through nothing but the new page's location word (its header was assigned before the
/// drop, so the header's own location pairing orders nothing here). It must see the
/// clearing: only the `Release`/`Acquire` pair on the page's location orders it.
#[test]
fn a_reused_page_shows_only_the_new_histograms_records() {
    loom::model(|| {
        let old = Arc::new(Histogram::new());
        let new = Arc::new(Histogram::new());
        new.record(1); // the new header (and page 0) are assigned before the drop
        let dropped = Arc::new(Signal::new());
        let assigned = Arc::new(Flag::new());
        let other = {
            let (old, new, dropped, assigned) =
                (old.clone(), new.clone(), dropped.clone(), assigned.clone());
            thread::spawn(move || {
                new.record(1); // this thread's header copy of `new`, and its chunk caches
                old.record(5); // page 2 of `old`: this thread's copy of it now holds 1
                drop(old);
                dropped.raise();
                assigned.wait();
                new.record(5); // page 2 of `new`: the same cells, cleared by the main thread
            })
        };
        dropped.wait();
        drop(old); // the last handle: clears every copy of old's runs, frees them
        new.record(5); // takes page 2 of `new`: the freed run
        assigned.raise();
        other.join().unwrap();
        let fives: u64 = new
            .snapshot()
            .buckets()
            .filter(|b| b.low <= 5 && 5 <= b.high)
            .map(|b| b.count)
            .sum();
        assert_eq!(fives, 2, "a new histogram showed a dropped one's record");
    });
}

/// The reader's half of page reuse: a snapshot by a third thread, which learns of the new
/// histogram's page only through its location word (the header was assigned before the
/// drop), must read the cleared cells of every shard's copy — here the copy of a thread
/// that recorded into the dropped histogram and never into the new one.
#[test]
fn a_snapshot_of_a_reused_page_reads_the_cleared_cells() {
    loom::model(|| {
        let old = Arc::new(Histogram::new());
        let new = Arc::new(Histogram::new());
        new.record(1); // the new header (and page 0) are assigned before the drop
        let recorded = Arc::new(Signal::new());
        let assigned = Arc::new(Flag::new());
        let writer = {
            let (old, recorded) = (old.clone(), recorded.clone());
            thread::spawn(move || {
                old.record(5); // page 2 of `old`: this thread's copy holds 1
                recorded.raise();
            })
        };
        let reader = {
            let (new, assigned) = (new.clone(), assigned.clone());
            thread::spawn(move || {
                assigned.wait();
                let snap = new.snapshot();
                (snap.count(), snap.sum())
            })
        };
        recorded.wait();
        drop(old); // the last handle: clears the writer's copy too, frees the runs
        new.record(5); // page 2 of `new`: may take the freed cells
        assigned.raise();
        writer.join().unwrap();
        assert_one_of(
            reader.join().unwrap(),
            &[(1, 1), (2, 6)],
            "a snapshot read a dropped histogram's cell",
        );
    });
}
