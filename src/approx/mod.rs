//! [`ApproxCounter`] and [`ApproxUpDownCounter`]: sharded counters that also answer in O(1)
//! loads — an approximate value with a proven bound ([`approx`](ApproxCounter::approx)), an
//! exact threshold compare that reads the shards only near the threshold
//! ([`compare`](ApproxCounter::compare)), and a limited add that never overshoots
//! ([`limited_add`](ApproxCounter::limited_add)) — the reads of Linux's `percpu_counter`.
//!
//! # The carry
//! Each shard's cell holds what its owner added, as in [`Counter`](crate::Counter). When an
//! add makes the cell cross a multiple of the power-of-two `BATCH` (a bit-transition test,
//! `(old ^ new) & !(BATCH - 1) != 0`: the cell's *whole batches* changed), the owner also
//! adds the change of whole batches, `floor(new) − floor(old)`, to a word beside the
//! counter: the *carried* word. Nothing is ever moved out of a shard, so the exact sum
//! (`global + Σ cells`, what [`get`](ApproxCounter::get) reads) is never disturbed, and at
//! rest
//!
//! `carried = Σ floor(cell)`, so `exact − (global + carried) = Σ (cell mod BATCH)`,
//!
//! which lies in `0 ..= shards × (BATCH − 1)`: one load (and the base) gives the value
//! within a bound that grows with the shards that exist, not with the adds.
//!
//! There are two carried words, because an add changes the cell and the word in two steps.
//! `high` moves first when the value rises and last when it falls; `low` the other way. So
//! at every moment, with adds in flight, `exact ≤ global + high + bound` and
//! `exact ≥ global + low`: upper-limit checks read `high`, lower ones and
//! [`approx`](ApproxCounter::approx) read `low`. At rest they are equal.
//!
//! # Reading both ends
//! [`approx_range`](ApproxCounter::approx_range) reads the base and both words in one
//! stable read and returns `global + low ..= global + high + bound`: the exact value at that
//! moment is inside it, whatever is in flight. `approx()` and `error_bound()` are two reads:
//! `approx() + error_bound()` is an upper end only at rest — a carry in flight (its cell
//! stored, `low` not yet raised) puts the exact value above it: 7% of a reader's checks
//! while four threads made carrying adds, 41% while they subtracted (one release run of
//! `tests/approx.rs`, which asserts that this negative control fails).
//!
//! # One limit per direction
//! The lock-free paths of limited adds rely on every concurrent carry having kept
//! `global + high + bound ≤ limit` — true when they share the limit. A limited add whose
//! limit differs from the counter's last one (the last an exclusive path used; limited
//! subtracts keep their own) takes the exclusive path, which makes its limit the counter's.
//! So a counter used with one limit (a quota) stays lock-free, and mixed limits stay exact:
//! before, `limited_add(7, 100)` racing `limited_add(95, 1_000_000)` could land its 7 on a
//! total the other had already taken to 95.
//!
//! # The range
//! The words are 64-bit and may sit a bound below the smallest value (remainders cancelled by
//! a `set`, a value near `i64::MIN`): each domain reads its top 2^58 as such a wrapped word.
//! Approximate reads (`approx`, `approx_range`, `compare`'s shortcut) therefore cover
//! `ApproxCounter` values below 2^64 − 2^58 and `ApproxUpDownCounter` values up to
//! `i64::MAX − 2^58`; the limited paths compute in `i128` (a carry past the top is past any
//! limit), and a limit or threshold above the top is decided exactly. Only `add` and `set`
//! can take a value past the top; there the counter still counts exactly (`get`), but the
//! approximate reads and the limited adds' lock-free paths read the value as wrapped.
//!
//! # Inside an `update`
//! An approximate field's `set`/`reset`, a limited add or subtract, and a group's `snapshot`
//! or `reset` may wait for other threads' `update` steps to end. Called inside a step (of any
//! group), that could be a wait for this very step, or for a step on another thread that is
//! waiting for this one (`A.update(|_| B.f.limited_add(..))` beside `B.update(|_|
//! A.f.limited_add(..))`): they panic there with a message instead. Reads (`get`, `approx`,
//! `approx_range`, `compare`) never wait for a step and work anywhere.
//!
//! # The limited add
//! `limited_add(n, limit)` must never let the total pass `limit`, however many threads race.
//! Far from the limit it takes one of two lock-free paths, each inside the shard's bracket
//! (cell 0 odd: the sequence word groups already have):
//! - **no carry** (`n` fits in the shard's current batch): allowed if
//!   `global + high + bound ≤ limit`. The cell stays within its batch, so the bound still
//!   covers it, whatever other shards do.
//! - **carry**: a compare-and-swap raises `high` only if `global + high' + bound ≤ limit`
//!   still holds after it — so every carry keeps the invariant every other shard relies on.
//!
//! Near the limit (or when a path's check fails) it takes the *exclusive* path: under the
//! counter's version lock, it waits for every open bracket, reads the exact sum, and adds
//! only if `exact + n ≤ limit`. A limited add that opens its bracket after the lock is taken
//! sees the odd version and queues behind it. The opening store and the version load are
//! ordered against the lock and the bracket loads by an asymmetric barrier pair (a compiler
//! fence on the fast path; `membarrier(2)` on the exclusive one): `docs/design.md` §10.
//!
//! Every ordering used here is listed, with its reason, in `docs/design.md`.

use crate::counter::CounterValue;
use crate::field::{self, Field, FieldKind, FieldParts, FieldValue, MetricKind};
use crate::sharded::{self, Sharded};
use crate::sync::{self, fence, keep_in_register, AtomicU64, Ordering};
use std::cmp::Ordering as Cmp;
use std::fmt;
use std::marker::PhantomData;
use std::ops::RangeInclusive;

/// The doc examples of the field handles' methods share this group.
macro_rules! approx_field_doc_group {
    () => {
        "# shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::ApproxCounter<1024>, pub d: shardstat::ApproxUpDownCounter<1024> } }"
    };
}

pub(crate) mod carry;
mod counter;
mod words;

pub(crate) use carry::*;
pub use counter::*;
pub use words::Carried;
pub(crate) use words::*;

#[cfg(test)]
mod tests {
    //! Unit tests that reach every unsafe block and both barriers of this module; Miri runs
    //! them (`.ci/miri.sh`). The semantics are tested in `tests/approx.rs` and by loom.
    use super::*;

    #[test]
    fn carries_whole_batches_into_both_words() {
        let c = ApproxCounter::<8>::new();
        c.add(5);
        assert_eq!((c.approx(), c.get()), (0, 5), "no batch crossed");
        c.add(12); // 17 = 2 × 8 + 1
        assert_eq!((c.approx(), c.get()), (16, 17));
        let local = c.local();
        local.add(7); // 24 = 3 × 8
        assert_eq!((c.approx(), local.shard_value()), (24, 24));
        let (low, high) = (
            c.carried.low.load(Ordering::Relaxed),
            c.carried.high.load(Ordering::Relaxed),
        );
        assert_eq!((low, high), (24, 24), "the words agree at rest");
        let d = ApproxUpDownCounter::<8>::new();
        d.add(-1); // the cell is 2^64 − 1: floor −8
        assert_eq!((d.approx(), d.get()), (-8, -1));
        d.local().add(9);
        assert_eq!((d.approx(), d.get()), (8, 8));
    }

    #[test]
    fn limited_adds_take_every_path() {
        let c = ApproxCounter::<8>::new();
        assert!(c.limited_add(3, 100), "no carry, far from the limit");
        assert!(c.limited_add(20, 100), "carry, far from the limit");
        assert!(!c.limited_add(200, 100), "certainly over");
        assert!(c.limited_add(77, 100), "exclusive: exactly at the limit");
        assert!(!c.limited_add(1, 100), "exclusive: one over");
        assert_eq!(c.get(), 100);
        let d = ApproxUpDownCounter::<8>::new();
        d.set(50);
        assert!(d.limited_sub(2, 0) && d.limited_sub(20, 0));
        assert!(!d.limited_sub(29, 0) && d.limited_sub(28, 0));
        assert_eq!(d.get(), 0);
        assert!(d.limited_add(5, 5) && !d.limited_add(1, 5));
    }

    /// What the signed counter has from the generic type that it did not have when it was
    /// written on its own: `inc` (on the counter, its field and its local handle) and
    /// `exceeds`, on negative values too.
    #[test]
    fn the_signed_counter_increments_and_compares_below_zero() {
        let d = ApproxUpDownCounter::<8>::new();
        d.set(-20);
        d.inc();
        d.local().inc();
        assert_eq!(d.get(), -18);
        assert!(d.exceeds(-19) && !d.exceeds(-18));
        assert!(d.approx_range().contains(&-18));
    }

    #[test]
    fn two_threads_race_limited_adds_to_the_limit() {
        let c = ApproxCounter::<4>::new();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| while c.limited_add(3, 40) {});
            }
        });
        let total = c.get();
        assert!(total <= 40 && total + 3 > 40, "{total}");
        c.set(7);
        assert_eq!(c.compare(7), Cmp::Equal);
    }

    #[test]
    fn exclusive_sections_refuse_to_run_inside_their_own_update() {
        crate::stats! {
            /// One approximate field.
            #[snapshot = OneSnapshot]
            #[local = OneLocal]
            pub struct One {
                /// The field.
                pub a: ApproxCounter<4>,
            }
        }
        let one = One::new();
        one.a().add(1);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            one.local().update(|_| one.a().set(0));
        }));
        assert!(result.is_err());
        one.a().set(2);
        assert_eq!(one.snapshot().a, 2);
    }
}
