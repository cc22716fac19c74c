//! Loom models of stat groups: consistent `update` steps against snapshots and group
//! resets.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat_loom_tests::{assert_one_of, Pair, PairSnapshot};

/// A snapshot never shows half an `update` step: `a == b` in every snapshot, while another
/// thread runs two steps.
#[test]
fn snapshot_never_sees_half_a_step() {
    loom::model(|| {
        let g = Arc::new(Pair::new());
        let writer = {
            let g = g.clone();
            thread::spawn(move || {
                let local = g.local();
                for step in 1..=2 {
                    local.update(|l| {
                        l.a.inc();
                        l.last.record(step);
                        l.b.inc();
                    });
                }
            })
        };
        let snap = g.snapshot();
        assert_eq!(snap.a, snap.b, "half a step: {snap:?}");
        assert_eq!(snap.last, snap.a, "the max moves with the step: {snap:?}");
        writer.join().unwrap();
        assert_eq!(
            g.snapshot(),
            PairSnapshot {
                a: 2,
                b: 2,
                last: 2
            }
        );
    });
}

/// A snapshot that reads the sequence word a step *closed* sees all of that step: the
/// closing store is `Release` and the first load `Acquire`. (The writer is the main thread,
/// which loom runs first, so that the snapshot can read the closed step's sequence word —
/// the model above, with the snapshot on the main thread, never lets it.)
#[test]
fn a_snapshot_after_a_closed_step_sees_all_of_it() {
    loom::model(|| {
        let g = Arc::new(Pair::new());
        let _ = g.snapshot(); // the run is assigned before the threads race
        let reader = {
            let g = g.clone();
            thread::spawn(move || g.snapshot())
        };
        g.local().update(|l| {
            l.a.inc();
            l.b.inc();
        });
        let seen = reader.join().unwrap();
        assert_eq!(seen.a, seen.b, "half a step: {seen:?}");
    });
}

/// A group reset racing with a step cancels the step's counter adds wholly or counts them
/// wholly after the reset. The step's `Max` record is retired or kept on its own: the record
/// may have read the epoch before the reset bumped it although the reset read the shard
/// before the step (the documented limit; no value recorded before the reset returns).
#[test]
fn group_reset_concurrent_with_a_step() {
    loom::model(|| {
        let g = Arc::new(Pair::new());
        g.local().update(|l| {
            l.a.inc();
            l.b.inc();
            l.last.record(1);
        });
        let writer = {
            let g = g.clone();
            thread::spawn(move || {
                g.local().update(|l| {
                    l.a.inc();
                    l.last.record(2);
                    l.b.inc();
                })
            })
        };
        g.reset();
        let after = g.snapshot();
        assert_eq!(after.a, after.b, "a reset split a step: {after:?}");
        assert_one_of(after.a, &[0, 1], "read after reset");
        assert_one_of(
            after.last,
            &[0, 2],
            "max after reset (1 was recorded before)",
        );
        writer.join().unwrap();
        let end = g.snapshot();
        assert_eq!(end.a, end.b);
        assert_one_of((end.a, end.last), &[(0, 0), (1, 2), (1, 0)], "after join");
    });
}

/// A snapshot concurrent with a group reset sees it wholly or not at all.
#[test]
fn snapshot_sees_a_group_reset_wholly_or_not_at_all() {
    loom::model(|| {
        let g = Arc::new(Pair::new());
        g.a().add(3);
        g.b().add(5);
        g.last().record(7);
        let reader = {
            let g = g.clone();
            thread::spawn(move || g.snapshot())
        };
        g.reset();
        let seen = reader.join().unwrap();
        assert_one_of(
            seen,
            &[
                PairSnapshot {
                    a: 3,
                    b: 5,
                    last: 7,
                },
                PairSnapshot::default(),
            ],
            "snapshot during reset",
        );
    });
}

/// A group take racing a step: the step's counter adds are in the take wholly or after it
/// wholly, never split and never in both; with the step made before, the take holds it.
#[test]
fn a_group_take_holds_each_step_wholly_and_once() {
    loom::model(|| {
        let g = Arc::new(Pair::new());
        g.local().update(|l| {
            l.a.inc();
            l.b.inc();
        });
        let writer = {
            let g = g.clone();
            thread::spawn(move || {
                g.local().update(|l| {
                    l.a.inc();
                    l.b.inc();
                })
            })
        };
        let taken = g.take();
        assert_eq!(taken.a, taken.b, "a take split a step: {taken:?}");
        writer.join().unwrap();
        let rest = g.snapshot();
        assert_eq!(rest.a, rest.b, "a take split a step: {rest:?}");
        assert_eq!(
            taken.a + rest.a,
            2,
            "a step lost or counted twice: took {taken:?}, then {rest:?}"
        );
    });
}
