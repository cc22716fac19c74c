//! Loom models of `Max` and `Min`: records, reads, and reset racing with records.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::{Max, Min};
use shardstat_loom_tests::{assert_one_of, models, Signal};

/// Two threads record; concurrent reads see one of the recorded values (or nothing) and
/// never decrease; after join the maximum is exact.
#[test]
fn max_record_record_get() {
    loom::model(|| {
        let m = Arc::new(Max::new());
        let a = {
            let m = m.clone();
            thread::spawn(move || {
                m.record(3);
                m.record(1);
            })
        };
        let b = {
            let m = m.clone();
            thread::spawn(move || m.local().record(7))
        };
        let first = m.get();
        let second = m.get();
        assert_one_of(first, &[0, 3, 7], "first read");
        assert_one_of(second, &[0, 3, 7], "second read");
        assert!(second >= first, "Max reads went backwards");
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(m.get(), 7);
    });
}

/// The same for `Min` (empty is `u64::MAX`).
#[test]
fn min_record_record_get() {
    loom::model(|| {
        let m = Arc::new(Min::new());
        let a = {
            let m = m.clone();
            thread::spawn(move || m.record(9))
        };
        let b = {
            let m = m.clone();
            thread::spawn(move || {
                m.record(4);
                m.record(6);
            })
        };
        assert_one_of(m.get(), &[u64::MAX, 9, 4], "concurrent read");
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(m.get(), 4);
    });
}

/// A reset racing with a record: no value recorded before the reset ever shows after it;
/// the racing record shows after it or not at all.
#[test]
fn max_reset_concurrent_with_record() {
    loom::model(|| {
        let m = Arc::new(Max::new());
        let before_done = Arc::new(Signal::new());
        let recorder = {
            let (m, before_done) = (m.clone(), before_done.clone());
            thread::spawn(move || {
                m.record(50); // happens-before the reset
                before_done.raise();
                m.record(2); // races with the reset
            })
        };
        before_done.wait();
        m.reset();
        assert_one_of(m.get(), &[0, 2], "read after reset");
        recorder.join().unwrap();
        assert_one_of(m.get(), &[0, 2], "after join");
    });
}

/// The same for `Min`, with the reset on another thread and a third thread reading.
#[test]
fn min_reset_concurrent_with_record_and_read() {
    loom::model(|| {
        let m = Arc::new(Min::new());
        m.record(1); // happens-before everything below
        let reset_done = Arc::new(Signal::new());
        let resetter = {
            let (m, reset_done) = (m.clone(), reset_done.clone());
            thread::spawn(move || {
                m.reset();
                reset_done.raise();
            })
        };
        let reader = {
            let (m, reset_done) = (m.clone(), reset_done.clone());
            thread::spawn(move || {
                reset_done.wait();
                m.get()
            })
        };
        m.record(8); // races with the reset
        assert_one_of(reader.join().unwrap(), &[u64::MAX, 8], "read after reset");
        resetter.join().unwrap();
        // 1 was recorded before the reset: it must never come back.
        assert_one_of(m.get(), &[u64::MAX, 8], "after join");
    });
}

/// A `Max` take racing records (the second starting a new epoch while the take reads):
/// each record shows in the take or after it, never in neither.
#[test]
fn a_max_take_holds_a_racing_record_or_leaves_it() {
    models::a_max_take_holds_a_racing_record_or_leaves_it(Max::record, Max::take);
}

/// `Max` takes racing a thread's exit and the next thread's first record on its shard.
#[test]
fn a_max_take_racing_a_thread_exit_loses_nothing() {
    models::a_max_take_racing_a_thread_exit_loses_nothing(Max::take);
}

/// A `Min` take racing a record, after a record that happened-before it: the earlier value
/// is in the first take; the racing one in a take or in the read after them.
#[test]
fn a_min_take_holds_what_came_before_and_a_racing_record_once_at_least() {
    loom::model(|| {
        let m = Arc::new(Min::new());
        m.record(9);
        let recorder = {
            let m = m.clone();
            thread::spawn(move || m.record(4))
        };
        let first = m.take();
        let second = m.take();
        recorder.join().unwrap();
        let rest = m.get();
        assert_one_of(first, &[9, 4], "first take");
        assert!(
            [first, second, rest].contains(&4),
            "a record lost from both sides of a take: took {first} and {second}, then read {rest}"
        );
        assert_one_of(second, &[4, u64::MAX], "second take");
    });
}
