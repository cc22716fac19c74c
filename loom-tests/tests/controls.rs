//! Negative controls: deliberately broken variants that models of the kinds in this suite
//! must reject. If one of these passes, the suite has lost its power to find the bug.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::loom_controls::{SharedShardCounter, UnretriedReadCounter, ZeroingResetCounter};
use shardstat_loom_tests::{assert_one_of, Signal};

/// Two writers sharing one shard with load + store lose an add: `add_add_then_get_is_exact`
/// must fail on it.
#[test]
#[should_panic(expected = "assertion `left == right` failed")]
fn shared_shard_loses_adds() {
    loom::model(|| {
        let c = Arc::new(SharedShardCounter::new());
        let handles: Vec<_> = [1u64, 10]
            .into_iter()
            .map(|n| {
                let c = c.clone();
                thread::spawn(move || c.add(n))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.get(), 11);
    });
}

/// A reset that zeroes shards in place races with the owner's load and store, and brings
/// back an add made before the reset: `reset_after_adds_that_happened_before_is_exact` must
/// fail on it.
#[test]
#[should_panic(expected = "after reset")]
fn zeroing_reset_brings_back_pre_reset_adds() {
    loom::model(|| {
        let c = Arc::new(ZeroingResetCounter::new());
        let first_done = Arc::new(Signal::new());
        let reset_done = Arc::new(Signal::new());
        let owner = {
            let (c, first_done, reset_done) = (c.clone(), first_done.clone(), reset_done.clone());
            thread::spawn(move || {
                c.add(1);
                first_done.raise();
                c.add(2);
                reset_done.wait();
                c.add(4);
            })
        };
        first_done.wait();
        c.reset();
        reset_done.raise();
        owner.join().unwrap();
        assert_one_of(c.get(), &[4, 6], "after reset");
    });
}

/// A read that does not retry around a `set` can combine the old base with an add made after
/// the set returned: `get_concurrent_with_set_sees_it_wholly_or_not_at_all` must fail on it.
#[test]
#[should_panic(expected = "read during set")]
fn unretried_read_mixes_a_set_with_later_adds() {
    loom::model(|| {
        let c = Arc::new(UnretriedReadCounter::new());
        c.add(1);
        let reader = {
            let c = c.clone();
            thread::spawn(move || c.get())
        };
        c.set(100);
        // Spawned after `set` returned, so its add starts after the set.
        let late_writer = {
            let c = c.clone();
            thread::spawn(move || c.add(10))
        };
        assert_one_of(reader.join().unwrap(), &[1, 100, 110], "read during set");
        late_writer.join().unwrap();
        assert_eq!(c.get(), 110);
    });
}

/// A two-field step without the sequence-count bracket: `snapshot_never_sees_half_a_step`
/// must fail on it.
#[test]
#[should_panic(expected = "half a step")]
fn unbracketed_step_is_seen_in_half() {
    use shardstat::loom_controls::UnbracketedPair;
    loom::model(|| {
        let g = Arc::new(UnbracketedPair::new());
        let writer = {
            let g = g.clone();
            thread::spawn(move || g.step())
        };
        let (a, b) = g.snapshot();
        assert_eq!(a, b, "half a step: ({a}, {b})");
        writer.join().unwrap();
    });
}
