//! Negative controls: deliberately broken variants that the suite's models must reject.
//! Each runs **the same model function** as the real type's test (`shardstat_loom_tests::
//! models`), so if one of these passes, that model has lost its power to find the bug.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat_loom_tests::controls::{
    ForgetfulCounter, SharedShardCounter, TrustingLimitCounter, UnbracketedPair,
    UnrestartableCounter, UnretriedReadCounter, ZeroingResetCounter,
};
use shardstat_loom_tests::models;

/// Two writers sharing one shard with load + store lose an add.
#[test]
#[should_panic(expected = "adds lost or counted twice")]
fn shared_shard_loses_adds() {
    models::add_add_then_get_is_exact::<SharedShardCounter>();
}

/// The per-CPU add without its restartable section: two threads on one CPU (the model's
/// emulation gives the first and third writers one shard) overwrite each other's add.
#[test]
#[should_panic(expected = "adds lost or counted twice")]
fn percpu_add_without_a_section_loses_adds() {
    models::three_writers_two_sharing_a_shard_are_exact::<UnrestartableCounter>();
}

/// A histogram record without its sequence bracket: a snapshot sees its bucket without its
/// count and sum.
#[test]
#[should_panic(expected = "a snapshot saw half a record")]
fn histogram_record_without_its_bracket_is_seen_in_half() {
    models::a_histogram_snapshot_never_sees_half_a_record(
        shardstat::__private::histogram::record_unbracketed,
    );
}

/// A reset that zeroes shards in place races with the owner's load and store, and brings
/// back an add made before the reset.
#[test]
#[should_panic(expected = "after reset")]
fn zeroing_reset_brings_back_pre_reset_adds() {
    models::reset_after_adds_that_happened_before_is_exact::<ZeroingResetCounter>();
}

/// A read that does not retry around a `set` can combine the old base with an add made
/// after the set returned.
#[test]
#[should_panic(expected = "read during set")]
fn unretried_read_mixes_a_set_with_later_adds() {
    models::get_concurrent_with_set_sees_it_wholly_or_not_at_all::<UnretriedReadCounter>();
}

/// A dropped counter whose cells go back to the engine uncleared: the next counter given
/// them shows the dropped one's counts.
#[test]
#[should_panic(expected = "a new counter showed a dropped counter's counts")]
fn reuse_without_clearing_shows_old_counts() {
    models::a_reused_run_reads_only_its_own_adds::<ForgetfulCounter>();
}

/// A two-field step without the sequence-word bracket: `snapshot_never_sees_half_a_step`
/// must fail on it.
#[test]
#[should_panic(expected = "half a step")]
fn unbracketed_step_is_seen_in_half() {
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

/// The reader's side of the same bug: a reader that finds the uncleared cells.
#[test]
#[should_panic(expected = "a new counter showed a dropped counter's counts")]
fn reuse_without_clearing_shows_old_counts_to_a_reader() {
    models::a_reused_run_reads_zero_to_a_reader::<ForgetfulCounter>();
}

/// A limited add that trusts the approximate value without its bound lets two racing adds
/// both fit, and the total passes the limit.
#[test]
#[should_panic(expected = "overshot the limit")]
fn limited_add_trusting_approx_overshoots() {
    models::limited_adds_never_overshoot::<TrustingLimitCounter>(&[3, 3], 5);
}

/// The approximate range read as two calls, `approx()` then `approx() + error_bound()` (what
/// the docs promised before `approx_range`): a carry in flight between them puts the exact
/// value above it.
#[test]
#[should_panic(expected = "a range missed an exact read")]
fn approx_plus_error_bound_from_two_calls_misses_a_carry_in_flight() {
    models::a_range_holds_exact_reads_while_a_carry_is_in_flight(
        shardstat::ApproxCounter::<4>::new,
        |c, n| c.add(n as u64),
        |c| i128::from(c.get()),
        |c| {
            let low = i128::from(c.approx());
            (low, low + i128::from(c.error_bound()))
        },
        &[5],
    );
}

/// The same, falling, on the signed counter.
#[test]
#[should_panic(expected = "a range missed an exact read")]
fn signed_approx_plus_error_bound_from_two_calls_misses_a_falling_carry() {
    models::a_range_holds_exact_reads_while_a_carry_is_in_flight(
        shardstat::ApproxUpDownCounter::<4>::new,
        |c, n| c.add(n),
        |c| i128::from(c.get()),
        |c| {
            let low = i128::from(c.approx());
            (low, low + i128::from(c.error_bound()))
        },
        &[-5],
    );
}

/// Limited adds with different limits both on their lock-free paths: the carry of the add
/// with the larger limit keeps only its own inequality, and the other add lands past its
/// limit.
#[test]
#[should_panic(expected = "landed after the total reached 6")]
fn limited_adds_with_different_limits_both_lock_free_overshoot() {
    models::limited_adds_with_different_limits_respect_each(
        shardstat::__private::approx::limited_add_with_any_limit_lock_free::<4>,
    );
}

/// `absolute` as it was: read, then a separate `set` if above. An add between the two is
/// cancelled, and a reader that saw it sees the counter fall.
#[test]
#[should_panic(expected = "went backwards")]
fn raising_by_a_read_and_a_set_moves_the_counter_backwards() {
    models::raising_never_moves_a_counter_backwards(|c, v| {
        if v > c.get() {
            c.set(v);
        }
    });
}

/// A drain as `LongAdder.sumThenReset` does it — read the sum, then zero — in two steps: an
/// add that lands between the read and the reset is in neither (here: a `get`, then a
/// `reset`, the same gap).
#[test]
#[should_panic(expected = "adds lost or counted twice")]
fn taking_by_a_read_and_a_reset_loses_adds() {
    models::every_add_is_taken_exactly_once::<shardstat::Counter>(|c| {
        let taken = c.get();
        c.reset();
        taken
    });
}

/// An interval histogram as a snapshot, then a reset: a record between the two is lost.
#[test]
#[should_panic(expected = "a record lost, split or counted twice")]
fn an_interval_histogram_by_a_snapshot_and_a_reset_loses_records() {
    models::an_interval_histogram_holds_each_record_exactly_once(|h| {
        let taken = h.snapshot();
        h.reset();
        taken
    });
}

/// A `Max` record without the check after its store: it loads the epoch, a take moves the
/// epoch and reads the shards, and the record then stores into the retired epoch, where no
/// take or read sees it.
#[test]
#[should_panic(expected = "a record lost from both sides of a take")]
fn a_max_record_without_its_check_is_lost_from_a_take() {
    models::a_max_take_holds_a_racing_record_or_leaves_it(
        shardstat::__private::extremum::record_without_recheck,
        shardstat::Max::take,
    );
}

/// A `Max` take that moves the epoch straight to the next even one: the recorder's next
/// record meets the new epoch and overwrites its 5 before the take reads it.
#[test]
#[should_panic(expected = "a record lost from both sides of a take")]
fn a_max_take_without_its_odd_epoch_loses_an_overwritten_record() {
    models::a_max_take_holds_a_racing_record_or_leaves_it(
        shardstat::Max::record,
        shardstat::__private::extremum::take_without_odd_epoch,
    );
}

/// A `Max` take as a read, then a reset: a record between the two is lost.
#[test]
#[should_panic(expected = "a record lost from both sides of a take")]
fn a_max_take_by_a_read_and_a_reset_loses_a_record() {
    models::a_max_take_holds_a_racing_record_or_leaves_it(shardstat::Max::record, |m| {
        let taken = m.get();
        m.reset();
        taken
    });
}

/// A `LazyCounter` take that loads the word and stores it, instead of swapping it: a cold add
/// that lands between the two is in neither the take nor the read after.
#[test]
#[should_panic(expected = "adds lost or counted twice")]
fn a_lazy_take_by_a_load_and_a_store_loses_a_cold_add() {
    models::every_add_is_taken_exactly_once::<shardstat::LazyCounter>(
        shardstat::__private::lazy::take_by_load_and_store,
    );
}
