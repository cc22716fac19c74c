//! Loom models of `Counter`: sums, reads during adds, thread exit and shard reuse, shard
//! publication, and `set`/`reset` racing with adds and reads.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::Counter;
use shardstat_loom_tests::{assert_one_of, models, Signal};

/// Two threads add, the main thread reads after joining: the sum is exact.
#[test]
fn add_add_then_get_is_exact() {
    models::add_add_then_get_is_exact::<Counter>();
}

/// A read concurrent with adds returns a sum of a subset of them that respects each
/// thread's program order, and successive reads on one thread never decrease.
#[test]
fn get_concurrent_with_adds_is_a_prefix_sum_and_monotone() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let a = {
            let c = c.clone();
            thread::spawn(move || {
                c.add(1);
                c.add(2);
            })
        };
        let b = {
            let c = c.clone();
            thread::spawn(move || c.add(10))
        };
        // Prefixes of thread a: 0, 1, 3; of thread b: 0, 10.
        let allowed = [0, 1, 3, 10, 11, 13];
        let first = c.get();
        let second = c.get();
        assert_one_of(first, &allowed, "first read");
        assert_one_of(second, &allowed, "second read");
        assert!(
            second >= first,
            "reads went backwards: {first} then {second}"
        );
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(c.get(), 13);
    });
}

/// Adds that happened-before a read (here: through a signal, not a join) are all in it.
#[test]
fn adds_that_happened_before_a_read_are_all_counted() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let done = Arc::new(Signal::new());
        let writer = {
            let (c, done) = (c.clone(), done.clone());
            thread::spawn(move || {
                c.add(4);
                c.local().add(5);
                done.raise();
            })
        };
        done.wait();
        assert_eq!(c.get(), 9);
        writer.join().unwrap();
    });
}

/// A thread adds and exits; the next thread may be given its shard and carries on from its
/// shard; another thread adds concurrently. Nothing is lost.
#[test]
fn thread_exit_and_shard_reuse_lose_nothing() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        {
            let c = c.clone();
            thread::spawn(move || c.add(5)).join().unwrap();
        }
        let handles: Vec<_> = [7u64, 1]
            .into_iter()
            .map(|n| {
                let c = c.clone();
                thread::spawn(move || {
                    let local = c.local();
                    local.add(n);
                    // A fresh shard, or a reused one carrying on from the exited thread(s):
                    // the first one's 5, and/or the other new thread's if it exited first.
                    let other = 8 - n;
                    assert_one_of(
                        local.shard_value(),
                        &[n, n + 5, n + other, n + 5 + other],
                        "own shard",
                    );
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.get(), 13);
    });
}

/// A shard created (its bucket published) while another thread walks the shards: the
/// walker sees the new shard's add or not, never garbage; after join everything counts.
/// Two new threads fall into the same bucket and race to publish it.
#[test]
fn shards_published_while_a_reader_walks() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        c.add(100); // the main thread takes shard 0 (the table: room for two)
        let writers: Vec<_> = [1u64, 10]
            .into_iter()
            .map(|n| {
                let c = c.clone();
                thread::spawn(move || c.add(n)) // shard 1 fits; shard 2 grows the table
            })
            .collect();
        let reader = {
            let c = c.clone();
            thread::spawn(move || c.get())
        };
        assert_one_of(reader.join().unwrap(), &[100, 101, 110, 111], "walker");
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(c.get(), 111);
    });
}

/// `set` racing with adds: the final value is the set value plus the adds counted after
/// it — each add once or not at all, never torn.
#[test]
fn set_concurrent_with_adds_counts_each_add_once_or_not_at_all() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let writer = {
            let c = c.clone();
            thread::spawn(move || {
                c.add(1);
                c.add(2);
            })
        };
        c.set(100);
        writer.join().unwrap();
        // The setter cancelled a prefix of the writer's adds: none, add(1), or both.
        assert_one_of(c.get(), &[103, 102, 100], "after set and join");
    });
}

/// With no concurrent adds, `get` after `set(v)` is `v`; adds started after `set`
/// returned all count on top of `v`.
#[test]
fn set_then_get_is_exact_and_later_adds_count_on_top() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        {
            let c = c.clone();
            thread::spawn(move || c.add(7)).join().unwrap();
        }
        c.set(50);
        assert_eq!(c.get(), 50);
        let after = Arc::new(Signal::new());
        let writer = {
            let (c, after) = (c.clone(), after.clone());
            thread::spawn(move || {
                after.wait();
                c.add(3);
            })
        };
        after.raise();
        writer.join().unwrap();
        assert_eq!(c.get(), 53);
    });
}

/// A read concurrent with `set` sees it wholly or not at all (see the model). The negative
/// control `unretried_read_mixes_a_set_with_later_adds` runs the same model on a read
/// without the seqlock retry, and loom rejects it.
///
/// (Models avoid two threads that wait at once, such as a `Signal` waiter beside a reader
/// retrying around a set: loom's yield handling can then let the two waiters run each other
/// forever and report a livelock that real schedulers do not have.)
#[test]
fn get_concurrent_with_set_sees_it_wholly_or_not_at_all() {
    models::get_concurrent_with_set_sees_it_wholly_or_not_at_all::<Counter>();
}

/// Two `set`s racing with an add: one set wins wholly; the add counts once or not at all.
#[test]
fn racing_sets_and_an_add() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let setter = {
            let c = c.clone();
            thread::spawn(move || c.set(10))
        };
        let writer = {
            let c = c.clone();
            thread::spawn(move || c.add(1))
        };
        c.set(20);
        setter.join().unwrap();
        writer.join().unwrap();
        assert_one_of(c.get(), &[10, 11, 20, 21], "after both sets");
    });
}

/// A `LocalCounter` adding while another thread reads and resets: the reset cancels a
/// prefix of the local adds; reads never see a torn value.
#[test]
fn local_counter_used_while_another_thread_reads_and_resets() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let owner = {
            let c = c.clone();
            thread::spawn(move || {
                let local = c.local();
                local.add(1);
                local.add(2);
            })
        };
        let observed = c.get();
        assert_one_of(observed, &[0, 1, 3], "read before reset");
        c.reset();
        let after_reset = c.get();
        assert_one_of(after_reset, &[0, 1, 2, 3], "read after reset");
        owner.join().unwrap();
        assert_one_of(c.get(), &[0, 2, 3], "after join");
        assert!(c.get() >= after_reset);
    });
}

/// `reset` of adds that happened-before it is exact; the owner keeps adding (see the model).
#[test]
fn reset_after_adds_that_happened_before_is_exact() {
    models::reset_after_adds_that_happened_before_is_exact::<Counter>();
}

/// A read that overlaps a `set` never combines the set's new base with cell values older
/// than the ones the set counted: 99 (the new base, 100 − 1, beside a cell still at 0) is a
/// value the counter never had. Rejects `read_stable` without its acquire fence.
#[test]
fn a_read_never_mixes_a_new_base_with_older_cells() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
        let _ = c.get(); // the run is assigned before the threads race
        let writer = {
            let c = c.clone();
            thread::spawn(move || c.add(1))
        };
        let reader = {
            let c = c.clone();
            thread::spawn(move || c.get())
        };
        c.set(100);
        assert_one_of(
            reader.join().unwrap(),
            &[0, 1, 100, 101],
            "a read overlapping a set",
        );
        writer.join().unwrap();
        assert_one_of(c.get(), &[100, 101], "after the set and the add");
    });
}

/// `Counter::raise_to` racing an add and a reader: never backwards (issue 24; the negative
/// control in `controls.rs` raises by a read and a separate `set`).
#[test]
fn raise_to_racing_an_add_never_moves_the_counter_backwards() {
    shardstat_loom_tests::models::raising_never_moves_a_counter_backwards(
        shardstat::Counter::raise_to,
    );
}

/// `take` racing two threads' adds (their first adds create their copies): every add is
/// in exactly one take or in the read after.
#[test]
fn every_add_is_taken_exactly_once() {
    models::every_add_is_taken_exactly_once::<Counter>(Counter::take);
}

/// `take` racing a thread's exit and the reuse of its shard by the next thread.
#[test]
fn a_take_racing_a_thread_exit_loses_nothing() {
    models::a_take_racing_a_thread_exit_loses_nothing::<Counter>(Counter::take);
}

/// `take` racing `set` and adds: each add counted at most once, the set's value taken only
/// after the set.
#[test]
fn a_take_racing_a_set_counts_each_add_at_most_once() {
    models::a_take_racing_a_set_counts_each_add_at_most_once::<Counter>(Counter::take);
}
