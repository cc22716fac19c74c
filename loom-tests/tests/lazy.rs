//! Loom models of `LazyCounter`: adds on the word by compare-and-swap until one fails, then
//! in the threads' cells — every add counted once across the switch, under reads, sets,
//! takes, raises and thread exits.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::LazyCounter;
use shardstat_loom_tests::{assert_one_of, models};

/// Two threads adding at once (one of them may switch the counter): the read after the
/// joins is exact, and a read during them is one a sequential order gives.
#[test]
fn lazy_adds_across_the_switch_are_exact() {
    models::add_add_then_get_is_exact::<LazyCounter>();
}

/// `take` racing two threads' adds, cold and after the switch: every add in exactly one
/// take or in the read after.
#[test]
fn every_lazy_add_is_taken_exactly_once() {
    models::every_add_is_taken_exactly_once::<LazyCounter>(LazyCounter::take);
}

/// `take` racing a thread's exit and the next thread's adds.
#[test]
fn a_lazy_take_racing_a_thread_exit_loses_nothing() {
    models::a_take_racing_a_thread_exit_loses_nothing::<LazyCounter>(LazyCounter::take);
}

/// `take` racing `set` and adds: each add counted at most once.
#[test]
fn a_lazy_take_racing_a_set_counts_each_add_at_most_once() {
    models::a_take_racing_a_set_counts_each_add_at_most_once::<LazyCounter>(LazyCounter::take);
}

/// A read racing a `set` and adds sees the set wholly or not at all.
#[test]
fn a_lazy_read_sees_a_set_wholly_or_not_at_all() {
    models::get_concurrent_with_set_sees_it_wholly_or_not_at_all::<LazyCounter>();
}

/// `raise_to(2)` racing a cold `add(5)`: 5 (the add first: the raise changes nothing) or 7
/// (the raise first), never 2 (a raise by a load and a store of the word would overwrite
/// the add).
#[test]
fn a_lazy_raise_racing_a_cold_add_keeps_it() {
    loom::model(|| {
        let c = Arc::new(LazyCounter::new());
        let adder = {
            let c = c.clone();
            thread::spawn(move || c.add(5))
        };
        c.raise_to(2);
        adder.join().unwrap();
        assert_one_of(c.get(), &[5, 7], "after a raise racing an add");
    });
}

/// Reads never shard the counter; a thread's adds with no collision keep it one word.
#[test]
fn reads_and_lone_adds_keep_a_lazy_counter_cold() {
    loom::model(|| {
        let c = Arc::new(LazyCounter::new());
        let reader = {
            let c = c.clone();
            thread::spawn(move || c.get())
        };
        c.add(1);
        c.add(2);
        let seen = reader.join().unwrap();
        assert_one_of(seen, &[0, 1, 3], "a read during the adds");
        assert_eq!((c.get(), c.is_sharded()), (3, false));
    });
}

/// A counter written by another thread is dropped (its cells cleared), and a lazy counter
/// goes sharded here — taking, possibly, the dropped one's cells — while a reader that
/// learns of it only through the counter reads it: 0, never the dropped counter's 5. Only
/// the `Release` of the run's assignment and the `Acquire` of the lazy read's location load
/// order the clearing before the reader's loads of the cells (as
/// `a_reused_run_reads_zero_to_a_reader` proves for `Counter`).
#[test]
fn a_lazy_counter_sharded_on_a_reused_run_reads_zero() {
    models::a_reused_run_reads_zero::<shardstat::Counter, LazyCounter>(
        LazyCounter::new,
        shardstat::__private::lazy::make_sharded,
    );
}
