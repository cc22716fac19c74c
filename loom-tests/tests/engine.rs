//! Loom models of the engine: runs allocated while other threads write, a dropped run
//! reused, an arena growing while a reader walks it, thread exit and shard reuse with
//! several counters, and the order in which an extremum's cells are published.
//!
//! Under loom the engine's first chunk holds 4 cells and the second 8, so a group of 5
//! cells (`Pair`) lives in chunk 1: a thread that writes it grows its arena.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::{Counter, Max, UpDownCounter};
use shardstat_loom_tests::{assert_one_of, models, Pair};

/// A counter whose cells are assigned (the engine's mutex, the allocator) while another
/// thread adds to an existing counter: both exact, and reads in between see prefixes.
#[test]
fn a_counter_allocated_while_others_add() {
    loom::model(|| {
        let x = Arc::new(Counter::new());
        x.add(1);
        let adder = {
            let x = x.clone();
            thread::spawn(move || {
                x.add(2);
                x.add(3);
            })
        };
        let y = Counter::new();
        y.add(10);
        assert_eq!(y.get(), 10);
        assert_one_of(x.get(), &[1, 3, 6], "read while the other thread adds");
        adder.join().unwrap();
        assert_eq!((x.get(), y.get()), (6, 10));
    });
}

/// A dropped counter's cells reused by a new counter while another thread writes its
/// neighbour (see the model). The negative control `reuse_without_clearing_shows_old_counts`
/// runs the same model on a counter that forgets to clear, and loom rejects it.
#[test]
fn drop_and_reuse_of_a_run_while_others_add() {
    models::a_reused_run_reads_only_its_own_adds::<Counter>();
}

/// A reader that finds a new counter's reused cells through nothing but the counter reads
/// them cleared (see the model; rejects a relaxed location load in the reader).
#[test]
fn a_reader_of_a_reused_run_reads_zero() {
    models::a_reused_run_reads_zero_to_a_reader::<Counter>();
}

/// A shard whose adds happened-before a read is in the read, even while a third thread
/// grows the chunk's table (under loom a table starts with room for two shards): the reader
/// may load the old length and the grown array, whose entries another thread copied in.
/// Rejects a relaxed load or store of the table's array pointer.
#[test]
fn a_read_during_table_growth_sees_every_earlier_shard() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        c.add(100); // shard 0: the chunk's table, room for two
        let first = Arc::new(shardstat_loom_tests::Signal::new());
        let early = {
            let (c, first) = (c.clone(), first.clone());
            thread::spawn(move || {
                c.add(1); // shard 1: fits
                first.raise();
            })
        };
        let grower = {
            let c = c.clone();
            thread::spawn(move || c.add(10)) // shard 2: grows the table to four
        };
        first.wait();
        assert_one_of(c.get(), &[101, 111], "a read after the first add");
        early.join().unwrap();
        grower.join().unwrap();
        assert_eq!(c.get(), 111);
    });
}

/// A reader walks a counter while another thread's first write makes that thread's copy of
/// the chunk (under loom, a block of its own: fresh modelled atomics). The reader reaches the
/// copy only through the copy table's entry, whose `Release`/`Acquire` pair orders the copy's
/// creation before the reader's loads; loom reports a load of an atomic whose creation it is
/// not ordered after as a causality violation.
#[test]
fn a_copy_made_while_a_reader_walks_is_published_before_its_cells_are_read() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        c.add(100); // shard 0: the table, with room for shard 1
        let writer = {
            let c = c.clone();
            thread::spawn(move || c.add(1)) // shard 1: a new copy, published by its entry
        };
        let reader = {
            let c = c.clone();
            thread::spawn(move || c.get())
        };
        assert_one_of(
            reader.join().unwrap(),
            &[100, 101],
            "a read racing a new copy",
        );
        writer.join().unwrap();
    });
}

/// The same for an `UpDownCounter` (wrapping adds of `n as i64`).
#[test]
fn drop_and_reuse_of_an_up_down_counters_run() {
    models::a_reused_run_reads_only_its_own_adds::<UpDownCounter>();
}

/// A thread that has a copy of chunk 0 grows its arena (its first write to a run in
/// chunk 1) while a reader walks chunk 1's copies: the reader sees the new copy's write or
/// not, never garbage; a second thread creates its own copy at the same time.
#[test]
fn an_arena_grows_while_a_reader_walks_it() {
    loom::model(|| {
        let small = Arc::new(Counter::new());
        let g = Arc::new(Pair::new());
        g.a().add(100); // assigns the group's run (chunk 1); the main thread's copy
        let writers: Vec<_> = [1u64, 10]
            .into_iter()
            .map(|n| {
                let (small, g) = (small.clone(), g.clone());
                thread::spawn(move || {
                    small.add(n); // chunk 0 first
                    g.a().add(n); // then grows into chunk 1
                })
            })
            .collect();
        assert_one_of(g.a().get(), &[100, 101, 110, 111], "walker");
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!((small.get(), g.a().get()), (11, 111));
    });
}

/// A thread writes a counter in chunk 0 and a group in chunk 1, then exits; the next thread
/// given its shard carries on from both of its cells; a third thread writes both at the same
/// time. Nothing is lost.
#[test]
fn thread_exit_and_shard_reuse_with_several_counters() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let g = Arc::new(Pair::new());
        c.add(1000); // the main thread takes shard 0
        {
            let (c, g) = (c.clone(), g.clone());
            thread::spawn(move || {
                c.add(5);
                g.local().update(|l| {
                    l.a.add(5);
                    l.b.add(5);
                });
            })
            .join()
            .unwrap();
        }
        let handles: Vec<_> = [7u64, 1]
            .into_iter()
            .map(|n| {
                let (c, g) = (c.clone(), g.clone());
                thread::spawn(move || {
                    let (local, group) = (c.local(), g.local());
                    local.add(n);
                    group.a.add(n);
                    // A fresh shard, or the exited thread's carrying on from its 5 (and/or the
                    // other new thread's, if it exited first).
                    let other = 8 - n;
                    let allowed = [n, n + 5, n + other, n + 5 + other];
                    assert_one_of(local.shard_value(), &allowed, "own counter cell");
                    assert_one_of(group.a.shard_value(), &allowed, "own group cell");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.get(), 1013);
        assert_eq!((g.a().get(), g.b().get()), (13, 5));
    });
}

/// The first record after a reset publishes its value before its epoch: a reader that sees
/// the new epoch in a shard must see that record's value, never the shard's value from
/// before the reset. Rejects storing the epoch first, and a relaxed load of the epoch cell
/// in the reader. (The recorder is the main thread, which loom runs first: a reader that
/// runs first would load the epoch cell before the recorder's own load of it, and loom's
/// search, which tracks only the last access to each atomic, would never move the
/// recorder's store ahead of the reader's load.)
#[test]
fn a_reader_that_sees_a_new_epoch_sees_its_value() {
    loom::model(|| {
        let m = Arc::new(Max::new());
        m.record(50);
        m.reset();
        let reader = {
            let m = m.clone();
            thread::spawn(move || m.get())
        };
        m.record(2); // this shard's first record of the new epoch
        assert_one_of(
            reader.join().unwrap(),
            &[0, 2],
            "a read racing with the first record after a reset",
        );
        assert_eq!(m.get(), 2);
    });
}
