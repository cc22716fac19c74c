//! Loom models of `ApproxCounter` and `ApproxUpDownCounter`: the approximate value within its
//! bound while adds race, `compare` exact at, inside and outside the bound, racing limited
//! adds that never overshoot and never all refuse with room left, limited subtracts that
//! never undershoot, and `set` racing carries.
//!
//! `BATCH` is 4, so that adds of a few units carry; the thresholds are chosen so that each
//! model goes through the no-carry path, the carrying path and the exclusive path.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::{ApproxCounter, ApproxUpDownCounter};
use shardstat_loom_tests::models::{self, limited_adds_never_overshoot};
use std::cmp::Ordering;

type Approx4 = ApproxCounter<4>;

/// While two threads add (one carrying, one not), `approx()` is never above a `get()` that
/// follows it, nor more than the bound (plus the adds in flight) below a `get()` before it;
/// after they finish, `approx() ≤ get() ≤ approx() + error_bound()`.
#[test]
fn approx_stays_within_the_bound_while_adds_race() {
    loom::model(|| {
        let c = Arc::new(Approx4::new());
        c.add(1); // the main thread's shard: the bound covers it too
        let writer = {
            let c = c.clone();
            thread::spawn(move || {
                c.add(5); // carries 4
                c.add(3); // carries 4 more (cell 5 → 8)
            })
        };
        let before = c.get();
        let approx = c.approx();
        let bound = c.error_bound();
        let after = c.get();
        assert!(
            approx <= after,
            "approx {approx} is above a later exact read {after}"
        );
        // The writer has at most one add (5) in flight while the three reads run.
        assert!(
            before <= approx + bound + 5,
            "approx {approx} + bound {bound} is too far below an earlier exact read {before}"
        );
        writer.join().unwrap();
        let (approx, bound, exact) = (c.approx(), c.error_bound(), c.get());
        assert_eq!(exact, 9);
        assert!(
            approx <= exact && exact <= approx + bound,
            "at rest: approx {approx}, bound {bound}, exact {exact}"
        );
    });
}

fn range_of(c: &Approx4) -> (i128, i128) {
    let range = c.approx_range();
    (i128::from(*range.start()), i128::from(*range.end()))
}

fn signed_range_of(c: &ApproxUpDownCounter<4>) -> (i128, i128) {
    let range = c.approx_range();
    (i128::from(*range.start()), i128::from(*range.end()))
}

/// `approx_range()` holds the exact value at the moment of its read, whatever a carrying add
/// on another thread has done so far: a reader's `range`, `get`, `range` around an add of 5
/// (which carries 4). The negative control (`controls.rs`) reads the range as
/// `approx()`, then `approx() + error_bound()`, and must fail.
#[test]
fn approx_range_holds_exact_reads_while_a_carry_is_in_flight() {
    models::a_range_holds_exact_reads_while_a_carry_is_in_flight(
        Approx4::new,
        |c, n| c.add(n as u64),
        |c| i128::from(c.get()),
        range_of,
        &[5],
    );
}

/// The same on the signed counter, falling (a subtraction that carries: `low` moves first).
#[test]
fn signed_approx_range_holds_exact_reads_while_a_falling_carry_is_in_flight() {
    models::a_range_holds_exact_reads_while_a_carry_is_in_flight(
        ApproxUpDownCounter::<4>::new,
        |c, n| c.add(n),
        |c| i128::from(c.get()),
        signed_range_of,
        &[-5],
    );
}

/// Limited adds with different limits on one counter: each limit holds for its own add
/// (the one-limit-per-direction rule sends the other limit's add through the exclusive
/// path). The negative control lets both take their lock-free paths.
#[test]
fn limited_adds_with_different_limits_respect_each() {
    models::limited_adds_with_different_limits_respect_each(Approx4::limited_add);
}

/// A reader's `get`, `compare(v)`, `get` while `write` runs on another thread: the compare
/// answers as an exact read between the two reads does, for thresholds far below, inside
/// the bound, at the value and far above. The main thread's shard holds 2 first, and the
/// main thread writes while a spawned thread reads (loom's search reorders a spawned reader
/// before the writer's stores, not the other way round: `docs/design.md` §11).
fn compare_agrees_with_exact_reads_around_it(write: fn(&Approx4)) {
    loom::model(move || {
        let c = Arc::new(Approx4::new());
        c.add(2);
        let reader = {
            let c = c.clone();
            thread::spawn(move || {
                for v in [0, 2, 4, 8, 100] {
                    let before = c.get();
                    let answer = c.compare(v);
                    let after = c.get();
                    // Reads never decrease here (no set), so the exact value at the compare
                    // lies in before..=after.
                    assert!(
                        (before..=after).any(|x| x.cmp(&v) == answer),
                        "compare({v}) = {answer:?}, but exact reads around it were {before} \
                         and {after}"
                    );
                }
            })
        };
        write(&c);
        reader.join().unwrap();
        assert_eq!(c.compare(8), Ordering::Equal);
        assert_eq!(c.compare(7), Ordering::Greater);
        assert_eq!(c.compare(9), Ordering::Less);
    });
}

/// `compare` is exact while an add carries whole batches into the carried words.
#[test]
fn compare_is_exact_at_inside_and_outside_the_bound() {
    compare_agrees_with_exact_reads_around_it(|c| c.add(6));
}

/// The same while a limited add takes the lock-free carrying path.
#[test]
fn compare_is_exact_while_a_limited_add_carries() {
    compare_agrees_with_exact_reads_around_it(|c| assert!(c.limited_add(6, 100)));
}

/// On an up-down counter, `compare` is exact while a limited subtract carries downwards
/// (the words move in the other order).
#[test]
fn compare_is_exact_while_a_limited_sub_carries() {
    loom::model(|| {
        let c = Arc::new(ApproxUpDownCounter::<4>::new());
        c.add(-2);
        let reader = {
            let c = c.clone();
            thread::spawn(move || {
                for v in [0, -2, -4, -8, -100] {
                    let before = c.get();
                    let answer = c.compare(v);
                    let after = c.get();
                    assert!(
                        (after..=before).any(|x| x.cmp(&v) == answer),
                        "compare({v}) = {answer:?}, but exact reads around it were {before} \
                         and {after}"
                    );
                }
            })
        };
        assert!(c.limited_sub(6, -100));
        reader.join().unwrap();
        assert_eq!(c.compare(-8), Ordering::Equal);
    });
}

/// A limited add that carries, racing the first limited add of a thread whose shard is
/// created meanwhile: either the carrying add counts the new shard in its bound, or the new
/// shard's check sees the carry — never neither (which would let both pass and reach 11 of
/// 10: 3 in the main thread's shard, 5 and 3 added).
#[test]
fn a_carrying_limited_add_sees_a_shard_created_meanwhile_or_is_seen_by_it() {
    loom::model(|| {
        let c = Arc::new(Approx4::new());
        // The limit's first use takes the exclusive path and stores it, so that both racing
        // adds below may take the lock-free ones (an add with a limit not yet stored never
        // does, and a model without this line races nothing: it let a missing fence pass).
        assert!(c.limited_add(3, 10));
        let carrying = {
            let c = c.clone();
            thread::spawn(move || {
                c.add(0); // this thread's shard exists before its limited add
                (5, c.limited_add(5, 10))
            })
        };
        let fresh = {
            let c = c.clone();
            thread::spawn(move || (3, c.limited_add(3, 10)))
        };
        let results = [carrying.join().unwrap(), fresh.join().unwrap()];
        let total = c.get();
        assert!(total <= 10, "overshot the limit: {results:?} gave {total}");
        for (n, done) in results {
            assert!(done || total + n > 10, "{n} refused at {total}");
        }
    });
}

/// Two threads race limited adds where only one fits: the total never passes the limit,
/// and a refusal only happens when there was no room.
#[test]
fn two_racing_limited_adds_never_overshoot() {
    limited_adds_never_overshoot::<Approx4>(&[3, 3], 5);
}

/// The same with adds that carry (5 is more than a batch of 4), where the first fits the
/// lock-free carrying path and the second needs the exact one.
#[test]
fn racing_carrying_limited_adds_never_overshoot() {
    limited_adds_never_overshoot::<Approx4>(&[5, 5], 12);
}

/// Two threads race limited subtracts towards a floor of 0 on an up-down counter: the
/// value never goes below it, and a refusal only happens when there was no room.
#[test]
fn racing_limited_subs_never_undershoot() {
    loom::model(|| {
        let c = Arc::new(ApproxUpDownCounter::<4>::new());
        c.add(7);
        let threads: Vec<_> = [4u64, 3]
            .into_iter()
            .map(|n| {
                let c = c.clone();
                thread::spawn(move || (n, c.limited_sub(n, 0)))
            })
            .collect();
        let results: Vec<(u64, bool)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let taken: u64 = results.iter().filter(|r| r.1).map(|r| r.0).sum();
        let value = c.get();
        assert_eq!(value, 7 - taken as i64);
        assert!(value >= 0, "went below the floor: {value}");
        for (n, done) in results {
            assert!(
                done || value - (n as i64) < 0,
                "a subtract of {n} was refused, but {value} was left"
            );
        }
    });
}

/// `set` racing adds that carry: each add is counted on top of the set value or not at all,
/// and afterwards the approximate value is within its bound of the exact one.
#[test]
fn set_racing_carries_keeps_the_bound() {
    loom::model(|| {
        let c = Arc::new(Approx4::new());
        let writer = {
            let c = c.clone();
            thread::spawn(move || {
                c.add(3);
                c.add(3); // carries 4
            })
        };
        c.set(10);
        writer.join().unwrap();
        let (approx, bound, exact) = (c.approx(), c.error_bound(), c.get());
        assert!(
            [10, 13, 16].contains(&exact),
            "adds counted in part around set: {exact}"
        );
        assert!(
            approx <= exact && exact <= approx + bound,
            "after set: approx {approx}, bound {bound}, exact {exact}"
        );
    });
}

/// `set` racing a limited add: the add decides from the value before the set and lands
/// before it, or from the value after it and lands after it — never across.
#[test]
fn set_racing_a_limited_add_never_lets_it_overshoot() {
    loom::model(|| {
        let c = Arc::new(Approx4::new());
        let adder = {
            let c = c.clone();
            thread::spawn(move || c.limited_add(2, 5))
        };
        c.set(4);
        let added = adder.join().unwrap();
        // Before the set: added to 0, then cancelled by it. After: 4 + 2 > 5, refused.
        // Deciding from 0 and landing after the set would read 6.
        assert_eq!(
            c.get(),
            4,
            "the limited add (added: {added}) landed across the set"
        );
    });
}

/// `take` racing adds that carry: each add is in the take or after it, exactly once, and
/// afterwards the approximate value is within its bound of the exact one.
#[test]
fn a_take_racing_carries_holds_each_add_once_and_keeps_the_bound() {
    loom::model(|| {
        let c = Arc::new(Approx4::new());
        let writer = {
            let c = c.clone();
            thread::spawn(move || {
                c.add(3);
                c.add(3); // carries 4
            })
        };
        let taken = c.take();
        writer.join().unwrap();
        let (approx, bound, exact) = (c.approx(), c.error_bound(), c.get());
        assert_eq!(
            taken + exact,
            6,
            "adds lost or counted twice: took {taken}, then read {exact}"
        );
        assert!(
            approx <= exact && exact <= approx + bound,
            "after take: approx {approx}, bound {bound}, exact {exact}"
        );
    });
}
