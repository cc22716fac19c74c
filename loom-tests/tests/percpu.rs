//! Loom models of the per-CPU counters (`shardstat::percpu`): everything the per-CPU mode
//! adds besides the restartable sequence itself, which loom cannot run.
//!
//! Under loom the section is emulated (`src/sync/model.rs`, `rseq`): it runs as a unit with
//! respect to other sections on its index, as the kernel guarantees, and model threads get
//! indices 0, 1, 0, … in the order they first write — so the first and third writers share
//! a shard, as two threads taking turns on one CPU. What the models check is the per-CPU
//! code around it: the writer's shard lookup through the copy table (a copy created by one
//! thread and used by another), reads walking CPU shards while they are created, `set`,
//! `reset` and `take` racing adds, the reuse of a dropped counter's cells, and the extremum's
//! record protocol of one-store sections racing each other and a reset.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::percpu::{Counter, Max, Min};
use shardstat_loom_tests::{assert_one_of, models, Signal};

#[test]
fn add_add_then_get_is_exact() {
    models::add_add_then_get_is_exact::<Counter>();
}

#[test]
fn get_concurrent_with_set_sees_it_wholly_or_not_at_all() {
    models::get_concurrent_with_set_sees_it_wholly_or_not_at_all::<Counter>();
}

#[test]
fn reset_after_adds_that_happened_before_is_exact() {
    models::reset_after_adds_that_happened_before_is_exact::<Counter>();
}

/// `take` racing adds from two threads — the first and a main-thread add share a CPU
/// shard in the emulation — each add in exactly one take or the read after.
#[test]
fn every_add_is_taken_exactly_once() {
    models::every_add_is_taken_exactly_once::<Counter>(Counter::take);
}

#[test]
fn a_take_racing_a_set_counts_each_add_at_most_once() {
    models::a_take_racing_a_set_counts_each_add_at_most_once::<Counter>(Counter::take);
}

#[test]
fn a_reused_run_reads_only_its_own_adds() {
    models::a_reused_run_reads_only_its_own_adds::<Counter>();
}

#[test]
fn a_reused_run_reads_zero_to_a_reader() {
    models::a_reused_run_reads_zero_to_a_reader::<Counter>();
}

/// Three writers on two shards: the first and the third share one, and whichever of them
/// comes second uses the copy the other created, found through the copy table alone (its
/// zeroed cells must be visible to it). The negative control `UnrestartableCounter`
/// (`tests/controls.rs`) runs this model without the section and loses an add.
#[test]
fn a_shard_created_by_one_thread_is_used_by_another() {
    models::three_writers_two_sharing_a_shard_are_exact::<Counter>();
}

/// Two threads sharing a shard add while a third sets: each add counts on top of the set
/// value or not at all.
#[test]
fn set_racing_adds_on_a_shared_shard_counts_each_add_once_or_not_at_all() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        c.add(1); // the main thread takes index 0
        let other = {
            let c = c.clone();
            thread::spawn(move || c.set(1000)) // a reader/setter: never takes an index
        };
        let sharer = {
            let c = c.clone();
            thread::spawn(move || c.add(2)) // index 1
        };
        c.add(4); // index 0 again
        other.join().unwrap();
        sharer.join().unwrap();
        // The set cancelled a subset of the adds that preceded it, in each thread's order.
        assert_one_of(
            c.get(),
            &[1000, 1002, 1004, 1006, 1007],
            "after the set and the joins",
        );
    });
}

/// Two records on one shard (the first and third writers) and one on another race: the
/// record protocol keeps the largest whatever the interleaving of its one-store sections.
#[test]
fn records_sharing_a_shard_keep_the_largest() {
    loom::model(|| {
        let max = Arc::new(Max::new());
        let writers: Vec<_> = [5u64, 3]
            .into_iter()
            .map(|v| {
                let max = max.clone();
                thread::spawn(move || max.record(v))
            })
            .collect();
        max.record(7);
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(max.get(), 7);
    });
}

/// A `Min` is the same protocol on complemented values: two records sharing the main
/// thread's shard after a reset keep the smallest.
#[test]
fn min_records_after_a_reset_keep_the_smallest() {
    loom::model(|| {
        let min = Arc::new(Min::new());
        min.record(1);
        min.reset(); // every later record must start a new epoch in its shard
        let writer = {
            let min = min.clone();
            thread::spawn(move || min.record(6)) // index 1
        };
        min.record(4); // index 0: the old epoch's 1 must not survive
        writer.join().unwrap();
        assert_eq!(min.get(), 4);
    });
}

/// A record that happened-before a reset never shows after it; one concurrent with the
/// reset (on the same shard, so it may find the retired epoch and start the new one) shows
/// wholly or not at all.
#[test]
fn a_record_before_a_reset_never_survives_it() {
    loom::model(|| {
        let max = Arc::new(Max::new());
        max.record(9); // the main thread: index 0, epoch 0
        let recorded = Arc::new(Signal::new());
        let early = {
            let (max, recorded) = (max.clone(), recorded.clone());
            thread::spawn(move || {
                max.record(8); // index 1
                recorded.raise();
            })
        };
        let racing = {
            let max = max.clone();
            thread::spawn(move || max.record(4)) // index 0, shared with the main thread
        };
        recorded.wait();
        max.reset();
        assert_one_of(max.get(), &[0, 4], "right after the reset");
        early.join().unwrap();
        racing.join().unwrap();
        assert_one_of(max.get(), &[0, 4], "after the joins");
    });
}
