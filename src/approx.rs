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

use crate::field::{self, Field, FieldKind, FieldValue, MetricKind};
use crate::sharded::{self, Sharded};
use crate::sync::{self, fence, keep_in_register, AtomicU64, Ordering};
use std::cmp::Ordering as Cmp;
use std::fmt;
use std::marker::PhantomData;
use std::ops::RangeInclusive;

/// The largest batch: keeps `shards × (BATCH − 1)` far from overflowing.
const MAX_BATCH: u64 = 1 << 32;

/// Checks `BATCH` at compile time (referenced from every constructor).
struct Batch<const BATCH: u64>;

impl<const BATCH: u64> Batch<BATCH> {
    const MASK: u64 = {
        assert!(
            BATCH.is_power_of_two() && BATCH >= 2 && BATCH <= MAX_BATCH,
            "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32"
        );
        BATCH - 1
    };
}

/// The two words an approximate counter carries its shards' whole batches into (module
/// docs, "The carry"), on a cache line of their own: adds that carry write them, plain adds
/// never read them.
#[doc(hidden)]
#[repr(align(128))]
pub struct Carried {
    /// Raised before the cell when the value rises, lowered after it when it falls.
    high: AtomicU64,
    /// Raised after the cell when the value rises, lowered before it when it falls.
    low: AtomicU64,
    /// The limit (its 64-bit pattern) that limited adds may check on their lock-free paths:
    /// the last one an exclusive limited add used. Written only inside an exclusive section.
    upper_limit: AtomicU64,
    /// The same for limited subtracts (the floor).
    lower_limit: AtomicU64,
}

impl Carried {
    sync::const_fn! {
        /// Nothing carried.
        pub fn new() -> Self {
            Carried {
                high: AtomicU64::new(0),
                low: AtomicU64::new(0),
                upper_limit: AtomicU64::new(0),
                lower_limit: AtomicU64::new(0),
            }
        }
    }
}

impl Default for Carried {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Carried")
            .field("high", &self.high.load(Ordering::Relaxed))
            .field("low", &self.low.load(Ordering::Relaxed))
            .field("upper_limit", &self.upper_limit.load(Ordering::Relaxed))
            .field("lower_limit", &self.lower_limit.load(Ordering::Relaxed))
            .finish()
    }
}

/// How a counter's wrapping 64-bit word reads as a number.
///
/// An approximate word (`global + low`, `global + high`) is the exact value minus the
/// uncarried remainders (up to the bound) and give or take the carries in flight, so it may
/// lie a little below the smallest exact value — after `set`, or near `i64::MIN` — and the
/// 64-bit word then wraps to the top. Each domain reads its top `WINDOW` as such a wrapped
/// word, below its smallest value; exact values in that top window are therefore outside
/// the range of the approximate reads (`approx`, `approx_range`, `compare`'s shortcut).
/// Limited adds and subtracts stay exact everywhere: their lock-free paths compute in
/// `i128` from words read inside the range, and a limit in the top window takes the exact
/// path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Domain {
    /// `ApproxCounter`: exact values are `u64`; approximate reads cover `0 ..= TOP` with
    /// `TOP = 2^64 − 2^58 − 1`.
    Unsigned,
    /// `ApproxUpDownCounter`: exact values are `i64`; approximate reads cover
    /// `i64::MIN ..= i64::MAX − 2^58`.
    Signed,
}

/// The top window of each domain (above): wider than any bound (`BATCH ≤ 2^32`, fewer than
/// 2^26 shards), so a word below the smallest value by a bound never reaches past it.
const WINDOW: u64 = 1 << 58;

impl Domain {
    /// An exact value (what `get` returns) as a number.
    #[inline]
    fn exact(self, raw: u64) -> i128 {
        match self {
            Domain::Unsigned => i128::from(raw),
            Domain::Signed => i128::from(raw as i64),
        }
    }

    /// An approximate word (`global + carried`) as a number: words in the domain's top
    /// window are read as wrapped, below its smallest value.
    #[inline]
    fn word(self, raw: u64) -> i128 {
        match self {
            Domain::Unsigned if raw > u64::MAX - WINDOW => i128::from(raw as i64),
            Domain::Unsigned => i128::from(raw),
            Domain::Signed if raw as i64 > i64::MAX - WINDOW as i64 => {
                i128::from(raw as i64) - (1i128 << 64)
            }
            Domain::Signed => i128::from(raw as i64),
        }
    }

    /// The largest value approximate reads cover (the type's largest, less the window).
    #[inline]
    const fn top(self) -> i128 {
        match self {
            Domain::Unsigned => u64::MAX as i128 - WINDOW as i128,
            Domain::Signed => i64::MAX as i128 - WINDOW as i128,
        }
    }
}

/// Adds `n` (or subtracts it, `down`) to a cell only the calling thread writes, carrying
/// whole batches into `carried`: the add path of every approximate counter. A plain load and
/// store unless the cell crosses a batch boundary.
#[inline(always)]
fn add_carrying(cell: &AtomicU64, n: u64, down: bool, carried: &Carried, mask: u64) {
    let old = keep_in_register(sync::load_owned(cell));
    let new = if down {
        old.wrapping_sub(n)
    } else {
        old.wrapping_add(n)
    };
    if (old ^ new) & !mask == 0 {
        // Relaxed: as `add_owned` (the cell orders nothing else).
        sync::store_owned(cell, new, Ordering::Relaxed);
    } else {
        carry(cell, old, new, down, carried, mask);
    }
}

/// The store of an add that crosses a batch boundary, between the two carried words'
/// updates (module docs, "The carry").
#[cold]
#[inline(never)]
fn carry(cell: &AtomicU64, old: u64, new: u64, down: bool, carried: &Carried, mask: u64) {
    let delta = (new & !mask).wrapping_sub(old & !mask);
    let (first, second) = if down {
        (&carried.low, &carried.high)
    } else {
        (&carried.high, &carried.low)
    };
    // Relaxed: the first word only has to change before the cell in this thread's order.
    first.fetch_add(delta, Ordering::Relaxed);
    // Release: a reader whose exact read sees this store (and then runs `read_stable`'s
    // acquire fence) sees the first word's change in any later load of it — so `compare`
    // after a `get` never answers from a word older than the cells that `get` counted.
    sync::store_owned(cell, new, Ordering::Release);
    // Release: a reader that loads the second word (Acquire) and sees this carry, then reads
    // the cells, sees the cell store above — so `compare` answered from the word agrees with
    // a `get` after it.
    second.fetch_add(delta, Ordering::Release);
}

/// `Approx::add` on a thread whose cache does not have the run yet.
#[cold]
#[inline(never)]
fn add_slow<const N: usize>(
    group: &Sharded<N>,
    cell: usize,
    carried: &Carried,
    mask: u64,
    n: u64,
    down: bool,
) {
    add_carrying(&group.own()[cell], n, down, carried, mask);
}

/// What a limited add's lock-free path decided.
enum Fast {
    /// Added (`true`) or refused with certainty (`false`).
    Done(bool),
    /// Too close to the limit, or the version was odd: take the exclusive path.
    Exclusive,
}

/// One approximate sum cell of a run (cell 0 is the run's sequence word), with its carried
/// words: the algorithm every approximate handle calls. The batch and the domain are type
/// parameters, so that every branch on them folds away in each caller (as fields, they
/// reached the limited add's hot path as memory loads).
pub(crate) struct Approx<'a, const N: usize, const BATCH: u64, const SIGNED: bool> {
    group: &'a Sharded<N>,
    cell: usize,
    carried: &'a Carried,
}

impl<const N: usize, const BATCH: u64, const SIGNED: bool> Clone for Approx<'_, N, BATCH, SIGNED> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize, const BATCH: u64, const SIGNED: bool> Copy for Approx<'_, N, BATCH, SIGNED> {}

impl<'a, const N: usize, const BATCH: u64, const SIGNED: bool> Approx<'a, N, BATCH, SIGNED> {
    const MASK: u64 = Batch::<BATCH>::MASK;
    const DOMAIN: Domain = if SIGNED {
        Domain::Signed
    } else {
        Domain::Unsigned
    };

    #[inline(always)]
    fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        debug_assert!(cell >= 1, "cell 0 is the sequence word");
        Approx {
            group,
            cell,
            carried,
        }
    }

    #[inline]
    fn add(self, n: u64, down: bool) {
        // Not a `with_own` closure: its captures (five words) would be stored to the stack on
        // every add for the slow path's sake. The cold path takes its six words in registers.
        match self.group.cached_first() {
            Some(first) => {
                // SAFETY: `first` is what `cached_first` returned for this run.
                let cells = unsafe { self.group.own_copy(first) };
                add_carrying(&cells[self.cell], n, down, self.carried, Self::MASK);
            }
            None => add_slow(self.group, self.cell, self.carried, Self::MASK, n, down),
        }
    }

    fn get(self) -> u64 {
        self.group.sum(self.cell)
    }

    /// `shards × (BATCH − 1)`: how far the exact value can be above `global + low` (or below
    /// `global + high + bound`).
    #[inline]
    fn bound(self) -> i128 {
        // In `u64` (shards < 2^26, `MASK` < 2^32): a 64-bit multiply, not a 128-bit one, on
        // the compare's critical path.
        i128::from((self.group.shard_bound() as u64).wrapping_mul(Self::MASK))
    }

    /// `(global + low, global + high)` as 64-bit words, from one stable read of the base and
    /// both carried words: at that moment the exact word lies from the first to the second
    /// plus the bound, counting each add in flight or not (`low` moves last when the value
    /// rises and first when it falls, `high` the other way).
    #[inline]
    fn words(self) -> (u64, u64) {
        self.group.read_stable(|| {
            let base = self.group.global(self.cell).load(Ordering::Relaxed);
            // Relaxed, both: `read_stable` runs an acquire fence after this closure, which
            // synchronises with the Release of the second carried word (`carry`) if a load
            // here read it — so a caller that goes on to read the cells sees the cell behind
            // any carry seen. (The mutation check found the loads' own `Acquire` redundant.)
            (
                base.wrapping_add(self.carried.low.load(Ordering::Relaxed)),
                base.wrapping_add(self.carried.high.load(Ordering::Relaxed)),
            )
        })
    }

    /// `(global + low, global + high + bound)` as numbers of the domain ([`words`]): at the
    /// moment of the read the exact value lies between them. The bound is loaded after the
    /// read; it only grows, so the upper end stays an upper end.
    ///
    /// [`words`]: Self::words
    #[inline]
    fn range(self) -> (i128, i128) {
        let (low, high) = self.words();
        (
            Self::DOMAIN.word(low),
            Self::DOMAIN.word(high) + self.bound(),
        )
    }

    /// Where the exact 64-bit word is, without reading it as a number: `(start, width)`
    /// such that at the moment of the read ([`words`](Self::words)) the exact word was
    /// `start + k` (wrapping) for some `0 ≤ k ≤ width`. `start` is `global + low`; the width
    /// is the carries in flight (`high − low`) plus the bound. Valid over the whole 64-bit
    /// range, the top window included (unlike [`range`](Self::range)'s numbers), for a
    /// counter that only rises (an unsigned one): its remainders and in-flight carries are
    /// never negative.
    #[inline]
    fn circular_range(self) -> (u64, u128) {
        let (low, high) = self.words();
        let width = u128::from(high.wrapping_sub(low)) + self.bound().unsigned_abs();
        (low, width)
    }

    /// The lower end of the range: a value the exact sum is at least, within the bound.
    #[inline]
    fn approx(self) -> i128 {
        let low = self.group.read_stable(|| {
            // Relaxed: ordered by `read_stable`'s acquire fence, as in `range`.
            self.group
                .global(self.cell)
                .load(Ordering::Relaxed)
                .wrapping_add(self.carried.low.load(Ordering::Relaxed))
        });
        Self::DOMAIN.word(low)
    }

    /// `exact.cmp(v)`, reading the shards only when `v` is inside the range.
    #[inline]
    fn compare(self, v: i128) -> Cmp {
        if v > Self::DOMAIN.top() {
            // Words near `v` would be read as wrapped: compare exactly.
            return self.compare_exact(v);
        }
        let (low, high) = self.range();
        if v < low {
            Cmp::Greater
        } else if v > high {
            Cmp::Less
        } else {
            self.compare_exact(v)
        }
    }

    #[cold]
    #[inline(never)]
    fn compare_exact(self, v: i128) -> Cmp {
        Self::DOMAIN.exact(self.get()).cmp(&v)
    }

    /// Sets the exact value (exclusive: in-flight limited adds finish first, so none decides
    /// from the value before and lands after).
    fn set(self, value: u64) {
        self.group
            .write_exclusive(|| self.group.set_locked(self.cell, value));
    }

    /// Adds `n` (`down`: subtracts) only if the result stays `≤ limit` (`down`: `≥ limit`).
    ///
    /// Inlined whole (no closure), so that the counter's constants — its domain, the
    /// direction, the batch — fold away in each caller.
    #[inline(always)]
    fn limited(self, n: u64, down: bool, limit: i128) -> bool {
        self.limited_checking(n, down, limit, true)
    }

    /// [`limited`](Self::limited); `one_limit: false` skips the check that the lock-free
    /// paths run only with the counter's one limit (the loom suite's negative control).
    #[inline(always)]
    fn limited_checking(self, n: u64, down: bool, limit: i128, one_limit: bool) -> bool {
        let cells = match self.group.cached_first() {
            // SAFETY: `first` is what `cached_first` returned for this run.
            Some(first) => unsafe { self.group.own_copy(first) },
            None => self.group.own(),
        };
        let seq = &cells[0];
        // Deterministic: refused inside any step, whether or not this add would have to
        // take the exclusive path (`sharded::refuse_inside_update`).
        sharded::refuse_inside_update("limited_add() or limited_sub()");
        // Only the owner writes its sequence word, so a plain load sees its latest value
        // (even: this thread is in no step of this group, checked above).
        let before = sync::load_owned(seq);
        debug_assert_eq!(before & 1, 0, "a limited add inside its own bracket");
        // Relaxed, then the light barrier: the store-buffering pair with
        // `write_exclusive`'s heavy barrier. Either the version load below sees an
        // exclusive section's odd version, or that section sees this odd word and waits.
        sync::store_owned(seq, before.wrapping_add(1), Ordering::Relaxed);
        sync::light_barrier();
        let fast = if self.group.unlocked() && (!one_limit || self.is_the_limit(down, limit)) {
            self.fast(&cells[self.cell], n, down, limit)
        } else {
            Fast::Exclusive
        };
        // Release: an exclusive section that sees the closed bracket (Acquire) sees the
        // cell and carried words written inside it.
        sync::store_owned(seq, before.wrapping_add(2), Ordering::Release);
        match fast {
            Fast::Done(added) => added,
            Fast::Exclusive => {
                Self::limited_exclusive(self.group, self.cell, self.carried, n, down, limit)
            }
        }
    }

    /// Whether `limit` is the counter's limit in that direction: the one every limited add on
    /// a lock-free path uses (module docs, "One limit per direction").
    #[inline(always)]
    fn is_the_limit(self, down: bool, limit: i128) -> bool {
        let stored = if down {
            &self.carried.lower_limit
        } else {
            &self.carried.upper_limit
        };
        // Relaxed: written only inside an exclusive section, which this add's bracket keeps
        // from running while the add is on its lock-free path; the `Acquire` version load
        // before this one (`unlocked`) saw the last such section's release.
        stored.load(Ordering::Relaxed) == limit as u64
    }

    /// The lock-free paths of a limited add (module docs): called inside the shard's
    /// bracket, with the version seen even. The paths that carry are out of line, so this one
    /// is loads, compares and one store.
    #[inline(always)]
    fn fast(self, cell: &AtomicU64, n: u64, down: bool, limit: i128) -> Fast {
        if !down && limit > Self::DOMAIN.top() {
            // The words near that limit would be read as wrapped: decide exactly.
            return Fast::Exclusive;
        }
        let old = sync::load_owned(cell);
        // Relaxed, the base, words and count: a non-carrying add needs only *some* value of
        // each (a concurrent carry kept the inequality it relies on itself).
        let base = self.group.global(self.cell).load(Ordering::Relaxed);
        let word = |w: &AtomicU64| Self::DOMAIN.word(base.wrapping_add(w.load(Ordering::Relaxed)));
        let n_wide = i128::from(n);
        let rem = old & Self::MASK;
        if !down {
            if n <= Self::MASK - rem {
                // No carry: the cell stays inside its batch, so it stays inside the bound.
                // The common case, checked first: one word, the count, one compare.
                if word(&self.carried.high) + self.bound() <= limit {
                    sync::store_owned(cell, old.wrapping_add(n), Ordering::Relaxed);
                    return Fast::Done(true);
                }
            }
            // Certainly over: the exact value is at least `global + low` at every moment.
            if word(&self.carried.low) + n_wide > limit {
                return Fast::Done(false);
            }
            if n > Self::MASK - rem {
                return Self::carry_up(
                    self.group,
                    self.cell,
                    self.carried,
                    cell,
                    old,
                    n,
                    limit,
                    base,
                );
            }
        } else {
            if n <= rem {
                // No carry: the cell stays inside its batch, at or above its floor.
                if word(&self.carried.low) >= limit {
                    sync::store_owned(cell, old.wrapping_sub(n), Ordering::Relaxed);
                    return Fast::Done(true);
                }
            }
            // Certainly under: the exact value is at most `global + high + bound`.
            if word(&self.carried.high) + self.bound() - n_wide < limit {
                return Fast::Done(false);
            }
            if n > rem {
                return Self::carry_down(
                    self.group,
                    self.cell,
                    self.carried,
                    cell,
                    old,
                    n,
                    limit,
                    base,
                );
            }
        }
        Fast::Exclusive
    }

    /// A limited add that carries: raises `high` with a compare-and-swap that keeps
    /// `global + high + bound ≤ limit`, then the cell, then `low`.
    ///
    /// Cold, and given the handle's parts rather than `self`: passing `self` (three words)
    /// by value made every limited add copy it to the stack, and the copies' reloads
    /// tripled its time.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn carry_up(
        group: &'a Sharded<N>,
        index: usize,
        carried: &'a Carried,
        cell: &AtomicU64,
        old: u64,
        n: u64,
        limit: i128,
        base: u64,
    ) -> Fast {
        let this = Self::new(group, index, carried);
        if n > u64::MAX >> 2 {
            return Fast::Exclusive;
        }
        let new = old.wrapping_add(n);
        let delta = (new & !Self::MASK).wrapping_sub(old & !Self::MASK);
        if !this.raise_checked(delta, limit, base) {
            return Fast::Exclusive;
        }
        // Relaxed: `raise_checked` ends with a `SeqCst` fence, which is also a release fence
        // sequenced before this store — what `carry`'s `Release` store gives. (The mutation
        // check found a `Release` here redundant.)
        sync::store_owned(cell, new, Ordering::Relaxed);
        // Release: as in `carry`.
        this.carried.low.fetch_add(delta, Ordering::Release);
        Fast::Done(true)
    }

    /// A limited subtract that carries: lowers `low` with a compare-and-swap that keeps
    /// `global + low ≥ limit`, then the cell, then `high`. (No shard count is involved: the
    /// lower side of the range does not depend on it.)
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn carry_down(
        group: &'a Sharded<N>,
        index: usize,
        carried: &'a Carried,
        cell: &AtomicU64,
        old: u64,
        n: u64,
        limit: i128,
        base: u64,
    ) -> Fast {
        let this = Self::new(group, index, carried);
        if n > u64::MAX >> 2 {
            return Fast::Exclusive;
        }
        let new = old.wrapping_sub(n);
        let delta = (new & !Self::MASK).wrapping_sub(old & !Self::MASK);
        let low = &this.carried.low;
        // The carry is negative (a wrapping difference of floors, below 2^63 in size).
        let carry = i128::from(delta as i64);
        let mut current = low.load(Ordering::Relaxed);
        loop {
            // In `i128`, as in `raise_checked`: a carry past the bottom is below any limit.
            if Self::DOMAIN.word(base.wrapping_add(current)) + carry < limit {
                return Fast::Exclusive;
            }
            // Relaxed: each carry is checked against the value it replaces; the word's
            // modification order is all that needs.
            match low.compare_exchange_weak(
                current,
                current.wrapping_add(delta),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        // Release: as in `carry`.
        sync::store_owned(cell, new, Ordering::Release);
        // Release: as in `carry`.
        this.carried.high.fetch_add(delta, Ordering::Release);
        Fast::Done(true)
    }

    /// Raises `high` by `delta` if `global + high + delta + bound ≤ limit` holds for the
    /// value it replaces and for every shard that exists once it is raised.
    fn raise_checked(self, delta: u64, limit: i128, base: u64) -> bool {
        let high = &self.carried.high;
        let bound = self.bound();
        // In `i128`: the word before the carry, then the carry (below 2^63), added without
        // wrapping — a carry past the top of the type is past any limit.
        let after =
            |current: u64| Self::DOMAIN.word(base.wrapping_add(current)) + i128::from(delta);
        let mut current = high.load(Ordering::Relaxed);
        let current = loop {
            if after(current) + bound > limit {
                return false;
            }
            // Relaxed: each carry is checked against the value it replaces; the word's
            // modification order is all that needs.
            match high.compare_exchange_weak(
                current,
                current.wrapping_add(delta),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break current,
                Err(seen) => current = seen,
            }
        };
        // SeqCst fence: pairs with the fence after a shard's copy is created
        // (`engine::Engine::chunk_copy`). Either the count loaded below includes that shard,
        // or that shard's later checks load `high` with this carry in it.
        fence(Ordering::SeqCst);
        let bound = self.bound();
        if after(current) + bound > limit {
            // A shard appeared meanwhile and the bound no longer fits: give the carry back
            // (a concurrent check that saw it was only more cautious) and decide exactly.
            high.fetch_sub(delta, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The exclusive path: the exact sum, with no limited add in flight.
    #[cold]
    #[inline(never)]
    fn limited_exclusive(
        group: &'a Sharded<N>,
        index: usize,
        carried: &'a Carried,
        n: u64,
        down: bool,
        limit: i128,
    ) -> bool {
        let this = Self::new(group, index, carried);
        this.group.write_exclusive(|| {
            // This limit becomes the one lock-free paths may use (no limited add is in flight
            // now, and none takes a lock-free path until this section ends). Relaxed:
            // published by the section's release of the version.
            let stored = if down {
                &this.carried.lower_limit
            } else {
                &this.carried.upper_limit
            };
            stored.store(limit as u64, Ordering::Relaxed);
            let exact = Self::DOMAIN.exact(this.group.raw_sum(this.cell));
            let n_wide = i128::from(n);
            let fits = if down {
                exact - n_wide >= limit
            } else {
                exact + n_wide <= limit
            };
            if fits {
                this.add(n, down);
            }
            fits
        })
    }
}

sync::model_only! {
    /// The bug the negative control must catch: limited adds with different limits both on
    /// their lock-free paths, each trusting the other's carry to keep its inequality.
    pub fn limited_add_with_any_limit_lock_free<const BATCH: u64>(counter: &ApproxCounter<BATCH>, n: u64, limit: u64) -> bool {
        counter.field().core().limited_checking(n, false, i128::from(limit), false)
    }
}

sync::model_only! {
    /// The bug the negative control must catch: a limited add that trusts the approximate
    /// value and ignores the bound (`loom-tests`, controls).
    pub fn limited_add_trusting_approx<const BATCH: u64>(counter: &ApproxCounter<BATCH>, n: u64, limit: u64) -> bool {
        let field = counter.field();
        let approx = field.core();
        approx.group.with_own(|cells| {
            let low = approx.approx();
            if low + i128::from(n) <= i128::from(limit) {
                add_carrying(&cells[approx.cell], n, false, approx.carried, Batch::<BATCH>::MASK);
                true
            } else {
                false
            }
        })
    }
}

/// A monotone `u64` counter sharded per thread, like [`Counter`](crate::Counter), that also
/// answers in O(1) loads: [`approx`](Self::approx) (a value at most
/// [`error_bound`](Self::error_bound) below the exact one), [`compare`](Self::compare)
/// (exact, reading the shards only near the threshold) and
/// [`limited_add`](Self::limited_add) (adds only if the total stays within a limit, never
/// overshooting) — Linux's `percpu_counter_read`, `__percpu_counter_compare` and
/// `percpu_counter_limited_add`.
///
/// `BATCH` (a power of two, 2 to 2^32; 1024 by default) trades the bound for traffic: each
/// thread's cell carries its whole batches into a shared word, once per `BATCH` it adds, and
/// the bound is `shards × (BATCH − 1)`. Pick it well above the typical add, and so that the
/// bound is small next to the thresholds you compare against.
///
/// # Semantics
/// Everything [`Counter`](crate::Counter) promises (exact at rest, nothing lost, exact
/// race-free `set`/`reset`, no locked instruction on an add that does not cross a batch), and:
/// 1. **`approx_range()` holds the exact value** at the moment of its read, under any
///    concurrency (each add in flight counted or not); `approx()` is its start and never
///    exceeds the exact value; at rest `approx() ≤ get() ≤ approx() + error_bound()`. (Two
///    separate calls, `approx()` then `error_bound()`, do not bracket a moving value.)
/// 2. **`compare(v)` is exact**: it returns what `get().cmp(&v)` would, reading the shards
///    only when `v` is within the bound of the approximate value.
/// 3. **`limited_add(n, limit)` never overshoots**: it adds only if the exact total stays
///    `≤ limit`, under any concurrency with other limited adds, whatever their limits; it
///    refuses only if the total at some moment during the call left no room. It is
///    lock-free (no precise sum) while its limit is the counter's last one (module docs,
///    "One limit per direction") and the total is far from it.
/// 4. `set`/`reset` stay exact; the approximate value follows them.
///
/// 5. Called inside a stat group's `update` (any group's), `set`, `reset` and `limited_add`
///    panic with a message (module docs, "Inside an `update`"); reads work anywhere.
///
/// Approximate reads assume the value stays below 2^64 − 2^58 (module docs, "The range"):
/// only `add` and `set` can take it past that; `get` stays exact there.
///
/// # Memory
/// 16 bytes per thread that has added (its cell and the bracket word limited adds use), and
/// the counter itself is 256 bytes (the carried words have a cache line of their own).
///
/// # A batch that is not a power of two
/// is refused at compile time:
///
/// ```compile_fail
/// // error: shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32
/// let c = shardstat::ApproxCounter::<1000>::new();
/// # c.inc();
/// ```
///
/// # Example
/// ```
/// use shardstat::ApproxCounter;
///
/// // A quota of 1 MiB, charged by many threads.
/// static USED: ApproxCounter<4096> = ApproxCounter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| while USED.limited_add(1000, 1 << 20) {});
///     }
/// });
/// let used = USED.get();
/// assert!(used <= 1 << 20 && used + 1000 > 1 << 20, "filled, never past the limit");
/// assert!(USED.approx() <= used && used <= USED.approx() + USED.error_bound());
/// assert!(USED.exceeds(1_000_000));
/// ```
pub struct ApproxCounter<const BATCH: u64 = 1024> {
    cells: Sharded<2>,
    carried: Carried,
}

impl<const BATCH: u64> ApproxCounter<BATCH> {
    sync::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`. A `BATCH` that is not a power of
        /// two from 2 to 2^32 is a compile error.
        ///
        /// ```
        /// static BYTES: shardstat::ApproxCounter<65536> = shardstat::ApproxCounter::new();
        /// assert_eq!(BYTES.approx(), 0);
        /// ```
        pub fn new() -> Self {
            let _ = Batch::<BATCH>::MASK;
            ApproxCounter {
                cells: Sharded::new(),
                carried: Carried::new(),
            }
        }
    }

    /// The counter as cell 1 of its run (cell 0 is the bracket word of limited adds).
    #[inline(always)]
    fn field(&self) -> ApproxCounterField<'_, 2, BATCH> {
        ApproxCounterField::new(&self.cells, 1, &self.carried)
    }

    /// Adds `n`, wrapping at `u64::MAX`. A load and a store, plus two atomic adds on the
    /// shared carried words once per `BATCH` this thread adds.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(4096);
    /// assert_eq!(c.get(), 4096);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        self.field().add(n);
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The exact sum of every thread's adds (see [`Counter::get`](crate::Counter::get)):
    /// walks one cell per thread that has added.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(2));
    ///     s.spawn(|| c.add(3));
    /// });
    /// assert_eq!(c.get(), 5);
    /// ```
    pub fn get(&self) -> u64 {
        self.field().get()
    }

    /// A value at most [`error_bound`](Self::error_bound) below the exact one, and never
    /// above it: three loads, whatever the number of threads.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000); // four whole batches carried, 904 left in this thread's cell
    /// assert_eq!(c.approx(), 4096);
    /// assert!(c.approx() <= c.get() && c.get() <= c.approx() + c.error_bound());
    /// ```
    #[inline]
    pub fn approx(&self) -> u64 {
        self.field().approx()
    }

    /// How far the exact value can be above [`approx`](Self::approx) **at rest** (no add in
    /// flight): `(BATCH − 1) ×` the shards that may hold an uncarried remainder. One load.
    ///
    /// While adds run, `approx()` and `error_bound()` are two reads at two moments, and an
    /// add that carries between them (or is halfway through its carry) can put the exact
    /// value above `approx() + error_bound()`. To bracket a moving value, read both ends at
    /// once with [`approx_range`](Self::approx_range).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// assert_eq!(c.error_bound(), 0, "no thread has added");
    /// c.inc();
    /// assert!(c.error_bound() >= 1023);
    /// ```
    #[inline]
    pub fn error_bound(&self) -> u64 {
        self.field().error_bound()
    }

    /// Both ends of where the exact value is, from **one** read (the base and both carried
    /// words together, a few loads): at that moment `range.start() ≤ exact ≤ range.end()`,
    /// counting each add in flight or not — under any concurrency. The start is
    /// [`approx`](Self::approx); the end is at most [`error_bound`](Self::error_bound) above
    /// it at rest, and further while carries are in flight.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000); // four whole batches carried, 904 in this thread's cell
    /// let range = c.approx_range();
    /// assert_eq!(*range.start(), 4096);
    /// assert!(range.contains(&c.get()));
    /// ```
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<u64> {
        self.field().approx_range()
    }

    /// `get().cmp(&v)`, exactly, at the cost of [`approx`](Self::approx) unless `v` is
    /// within the bound of it.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(10_000);
    /// assert_eq!(c.compare(5), Ordering::Greater); // decided by approx() alone
    /// assert_eq!(c.compare(10_000), Ordering::Equal); // near: reads the shards
    /// assert_eq!(c.compare(1 << 40), Ordering::Less);
    /// ```
    #[inline]
    pub fn compare(&self, v: u64) -> Cmp {
        self.field().compare(v)
    }

    /// Whether the exact value is above `limit` (`compare(limit) == Greater`).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(100);
    /// assert!(c.exceeds(99));
    /// assert!(!c.exceeds(100));
    /// ```
    #[inline]
    pub fn exceeds(&self, limit: u64) -> bool {
        self.compare(limit) == Cmp::Greater
    }

    /// Adds `n` only if the total then stays `≤ limit`; returns whether it added. Never
    /// overshoots, whatever other threads' limited adds do; refuses only when there was no
    /// room. Lock-free far from the limit (module docs of [`ApproxCounter`]); near it, takes
    /// the counter's lock and sums the shards.
    ///
    /// ```
    /// let quota = shardstat::ApproxCounter::<1024>::new();
    /// assert!(quota.limited_add(600, 1000));
    /// assert!(!quota.limited_add(600, 1000), "would reach 1200");
    /// assert!(quota.limited_add(400, 1000), "exactly at the limit is allowed");
    /// assert_eq!(quota.get(), 1000);
    /// ```
    #[inline]
    pub fn limited_add(&self, n: u64, limit: u64) -> bool {
        self.field().limited_add(n, limit)
    }

    /// Makes the counter read `value`, exactly (see [`Counter::set`](crate::Counter::set));
    /// in-flight limited adds finish first, so none of them decides from the old value.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000);
    /// c.set(10);
    /// assert_eq!(c.get(), 10);
    /// assert!(c.approx() <= 10 && 10 <= c.approx() + c.error_bound());
    /// ```
    pub fn set(&self, value: u64) {
        self.field().set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000);
    /// c.reset();
    /// assert_eq!((c.get(), c.compare(0)), (0, std::cmp::Ordering::Equal));
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops that add many times (see
    /// [`Counter::local`](crate::Counter::local)).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// let local = c.local();
    /// for _ in 0..3000 {
    ///     local.inc();
    /// }
    /// assert_eq!((c.get(), c.approx()), (3000, 2048));
    /// ```
    #[inline]
    pub fn local(&self) -> LocalApproxCounter<'_, BATCH> {
        self.field().local()
    }
}

impl<const BATCH: u64> Default for ApproxCounter<BATCH> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<const BATCH: u64> fmt::Debug for ApproxCounter<BATCH> {
    /// Shows the exact value and the batch: `ApproxCounter { value: 42, batch: 1024 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxCounter")
            .field("value", &self.get())
            .field("batch", &BATCH)
            .finish()
    }
}

/// An [`ApproxCounter`] field of a stat group: the same methods, on the group's cells (its
/// limited adds use the group's sequence word as their bracket).
///
/// ```
/// use shardstat::{stats, ApproxCounter};
/// stats! {
///     #[snapshot = IoSnapshot]
///     #[local = IoLocal]
///     pub struct Io {
///         pub bytes: ApproxCounter<4096>,
///     }
/// }
/// let io = Io::new();
/// io.bytes().add(10_000);
/// assert_eq!(io.bytes().approx(), 8192);
/// assert!(io.bytes().limited_add(100, 20_000));
/// assert_eq!(io.snapshot().bytes, 10_100);
/// ```
pub struct ApproxCounterField<'a, const N: usize, const BATCH: u64> {
    group: &'a Sharded<N>,
    cell: usize,
    carried: &'a Carried,
}

impl<const N: usize, const BATCH: u64> Clone for ApproxCounterField<'_, N, BATCH> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize, const BATCH: u64> Copy for ApproxCounterField<'_, N, BATCH> {}

/// The doc examples of the field handles' methods share this group.
macro_rules! approx_field_doc_group {
    () => {
        "# shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::ApproxCounter<1024>, pub d: shardstat::ApproxUpDownCounter<1024> } }"
    };
}

impl<'a, const N: usize, const BATCH: u64> ApproxCounterField<'a, N, BATCH> {
    #[inline(always)]
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        ApproxCounterField {
            group,
            cell,
            carried,
        }
    }

    #[inline(always)]
    fn core(self) -> Approx<'a, N, BATCH, false> {
        Approx::new(self.group, self.cell, self.carried)
    }

    #[doc = concat!("Adds `n`, wrapping (see [`ApproxCounter::add`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5);\nassert_eq!(g.c().get(), 5);\n```")]
    #[inline]
    pub fn add(&self, n: u64) {
        self.core().add(n, false);
    }

    #[doc = concat!("Adds 1.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().inc();\nassert_eq!(g.c().get(), 1);\n```")]
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    #[doc = concat!("The exact sum (see [`ApproxCounter::get`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(7);\nassert_eq!(g.c().get(), 7);\n```")]
    pub fn get(&self) -> u64 {
        self.core().get()
    }

    #[doc = concat!("A value at most the bound below the exact one (see [`ApproxCounter::approx`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(2048);\nassert_eq!(g.c().approx(), 2048);\n```")]
    #[inline]
    pub fn approx(&self) -> u64 {
        let low = self.core().approx();
        // Below 0 only while uncarried remainders exceed a value just set; the exact value
        // is a `u64`, so 0 is the tighter lower bound.
        u64::try_from(low.max(0)).unwrap_or(u64::MAX)
    }

    #[doc = concat!("How far the exact value can be above `approx()` at rest (see [`ApproxCounter::error_bound`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().inc();\nassert!(g.c().error_bound() >= 1023);\n```")]
    #[inline]
    pub fn error_bound(&self) -> u64 {
        u64::try_from(self.core().bound()).unwrap_or(u64::MAX)
    }

    #[doc = concat!("Both ends of where the exact value is, from one read (see [`ApproxCounter::approx_range`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(2000);\nassert!(g.c().approx_range().contains(&2000));\n```")]
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<u64> {
        let (low, high) = self.core().range();
        let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
        clamp(low)..=clamp(high)
    }

    #[doc = concat!("`get().cmp(&v)`, exactly (see [`ApproxCounter::compare`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5000);\nassert_eq!(g.c().compare(1), std::cmp::Ordering::Greater);\n```")]
    #[inline]
    pub fn compare(&self, v: u64) -> Cmp {
        self.core().compare(i128::from(v))
    }

    /// Whether `get().wrapping_sub(from) > max` (QEMU's rate check), decided from one
    /// read: the approximate words when every value they allow gives the same answer,
    /// otherwise one exact read. Exact over the whole `u64` range, wrapping included.
    pub(crate) fn wrapped_distance_exceeds(&self, from: u64, max: u64) -> bool {
        let (start, width) = self.core().circular_range();
        // The distance from `from` lies in `first ..= first + width` (wrapping at 2^64).
        let first = u128::from(start.wrapping_sub(from));
        let last = first + width;
        let (max, wrap) = (u128::from(max), 1u128 << 64);
        if last <= max {
            false // every possible distance is within the limit
        } else if first > max && last < wrap {
            true // every possible distance is past the limit, none wraps back below it
        } else {
            self.get().wrapping_sub(from) > max as u64
        }
    }

    #[doc = concat!("Whether the exact value is above `limit` (see [`ApproxCounter::exceeds`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5);\nassert!(g.c().exceeds(4) && !g.c().exceeds(5));\n```")]
    #[inline]
    pub fn exceeds(&self, limit: u64) -> bool {
        self.compare(limit) == Cmp::Greater
    }

    #[doc = concat!("Adds `n` only if the total stays `≤ limit` (see [`ApproxCounter::limited_add`]).\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.c().limited_add(10, 10));\nassert!(!g.c().limited_add(1, 10));\n```")]
    #[inline]
    pub fn limited_add(&self, n: u64, limit: u64) -> bool {
        self.core().limited(n, false, i128::from(limit))
    }

    #[doc = concat!("Makes this field read `value`, exactly (see [`ApproxCounter::set`]).\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(9);\ng.c().set(100);\nassert_eq!(g.c().get(), 100);\n```")]
    pub fn set(&self, value: u64) {
        self.core().set(value);
    }

    #[doc = concat!("Sets this field to 0.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(9);\ng.c().reset();\nassert_eq!(g.c().get(), 0);\n```")]
    pub fn reset(&self) {
        self.set(0);
    }

    #[doc = concat!("The calling thread's shard of this field (see [`ApproxCounter::local`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().local().add(4);\nassert_eq!(g.c().get(), 4);\n```")]
    #[inline]
    pub fn local(&self) -> LocalApproxCounter<'a, BATCH> {
        LocalApproxCounter::new(&self.group.own()[self.cell], self.carried)
    }
}

impl<const N: usize, const BATCH: u64> fmt::Debug for ApproxCounterField<'_, N, BATCH> {
    /// Shows the field's exact value: `ApproxCounterField { value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxCounterField")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`ApproxCounter`] (or of such a group field): adds
/// without the per-add shard lookup. Neither `Send` nor `Sync`, like
/// [`LocalCounter`](crate::LocalCounter).
///
/// ```
/// let c = shardstat::ApproxCounter::<1024>::new();
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let local = c.local();
///             for _ in 0..1000 {
///                 local.inc();
///             }
///         });
///     }
/// });
/// assert_eq!(c.get(), 2000);
/// ```
pub struct LocalApproxCounter<'a, const BATCH: u64> {
    cell: &'a AtomicU64,
    carried: &'a Carried,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a, const BATCH: u64> LocalApproxCounter<'a, BATCH> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64, carried: &'a Carried) -> Self {
        LocalApproxCounter {
            cell,
            carried,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n`, wrapping, carrying whole batches.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.local().add(64);
    /// assert_eq!(c.get(), 64);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        add_carrying(self.cell, n, false, self.carried, Batch::<BATCH>::MASK);
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.local().inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// This thread's cell: what it (and any exited thread whose shard it took over) added,
    /// before `set`/`reset` adjustments.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// let local = c.local();
    /// local.add(3);
    /// assert_eq!(local.shard_value(), 3);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> u64 {
        self.cell.load(Ordering::Relaxed)
    }
}

impl<const BATCH: u64> fmt::Debug for LocalApproxCounter<'_, BATCH> {
    /// Shows this thread's shard: `LocalApproxCounter { shard_value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalApproxCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

impl<const BATCH: u64> field::sealed::Sealed for ApproxCounter<BATCH> {}

impl<const BATCH: u64> Field for ApproxCounter<BATCH> {
    const METRIC_KIND: MetricKind = MetricKind::Counter;
    fn field_value(value: u64) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = {
        let _ = Batch::<BATCH>::MASK;
        FieldKind::Approx
    };
    const WIDTH: usize = 1;
    type Stored = Carried;
    type Value = u64;
    type Handle<'a, const N: usize> = ApproxCounterField<'a, N, BATCH>;
    type Local<'a> = LocalApproxCounter<'a, BATCH>;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        carried: &'a Carried,
    ) -> ApproxCounterField<'a, N, BATCH> {
        ApproxCounterField::new(group, cell, carried)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        carried: &'a Carried,
    ) -> LocalApproxCounter<'a, BATCH> {
        LocalApproxCounter::new(&own[cell], carried)
    }
    fn value(raw: &[u64], cell: usize, _: &Carried) -> u64 {
        raw[cell]
    }
    fn reset_stored(_: &Carried) {}
    const EMPTY: Self::Value = 0;
    fn delta(newer: u64, older: u64) -> u64 {
        newer.wrapping_sub(older)
    }
}

/// A signed `i64` counter sharded per thread, like [`UpDownCounter`](crate::UpDownCounter),
/// with the O(1) reads of [`ApproxCounter`]: [`approx`](Self::approx),
/// [`compare`](Self::compare), and limits on both sides —
/// [`limited_add`](Self::limited_add) (stays `≤ max`) and
/// [`limited_sub`](Self::limited_sub) (stays `≥ min`): a semaphore, a byte budget, a pool
/// that must not go below empty.
///
/// The same semantics as [`ApproxCounter`] (the bound is again `shards × (BATCH − 1)`, above
/// [`approx`](Self::approx)), on `i64` values that wrap like [`i64::wrapping_add`], in both
/// directions ([`approx_range`](Self::approx_range) holds the exact value while values fall
/// too, when `low` moves first). Approximate reads cover `i64::MIN ..= i64::MAX − 2^58`:
/// near `i64::MIN` the approximate word may lie below it and is read so; above `i64::MAX −
/// 2^58` (only `add` and `set` go there) they read the value as wrapped. Limited adds and
/// subtracts never pass their limit, up to `i64::MAX` and down to `i64::MIN`.
///
/// # Example
/// ```
/// use shardstat::ApproxUpDownCounter;
///
/// // Free buffer space: taken by many threads, never below 0.
/// let free = ApproxUpDownCounter::<256>::new();
/// free.set(10_000);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| while free.limited_sub(300, 0) {});
///     }
/// });
/// let left = free.get();
/// assert!((0..300).contains(&left), "drained, never below empty");
/// free.add(600); // buffers returned
/// assert!(free.limited_add(100, 10_000) && !free.limited_add(10_000, 10_000));
/// ```
pub struct ApproxUpDownCounter<const BATCH: u64 = 1024> {
    cells: Sharded<2>,
    carried: Carried,
}

impl<const BATCH: u64> ApproxUpDownCounter<BATCH> {
    sync::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`. A `BATCH` that is not a power of
        /// two from 2 to 2^32 is a compile error.
        ///
        /// ```
        /// static QUEUED: shardstat::ApproxUpDownCounter = shardstat::ApproxUpDownCounter::new();
        /// assert_eq!(QUEUED.approx(), 0);
        /// ```
        pub fn new() -> Self {
            let _ = Batch::<BATCH>::MASK;
            ApproxUpDownCounter {
                cells: Sharded::new(),
                carried: Carried::new(),
            }
        }
    }

    #[inline(always)]
    fn field(&self) -> ApproxUpDownCounterField<'_, 2, BATCH> {
        ApproxUpDownCounterField::new(&self.cells, 1, &self.carried)
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(5);
    /// c.add(-7);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        self.field().add(n);
    }

    /// Subtracts `n`, wrapping.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.sub(3);
    /// assert_eq!(c.get(), -3);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.field().sub(n);
    }

    /// The exact sum (see [`UpDownCounter::get`](crate::UpDownCounter::get)).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-40);
    /// assert_eq!(c.get(), -40);
    /// ```
    pub fn get(&self) -> i64 {
        self.field().get()
    }

    /// A value at most [`error_bound`](Self::error_bound) below the exact one, and never
    /// above it. Three loads.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-5000); // the cell is -5000 = -5 × 1024 + 120: -5120 carried
    /// assert_eq!(c.approx(), -5120);
    /// assert!(c.approx() <= c.get() && c.get() as i128 <= c.approx() as i128 + c.error_bound() as i128);
    /// ```
    #[inline]
    pub fn approx(&self) -> i64 {
        self.field().approx()
    }

    /// How far the exact value can be above [`approx`](Self::approx) **at rest** (no add in
    /// flight). One load. While adds run, read both ends at once with
    /// [`approx_range`](Self::approx_range) (see [`ApproxCounter::error_bound`]).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(1);
    /// assert!(c.error_bound() >= 1023);
    /// ```
    #[inline]
    pub fn error_bound(&self) -> u64 {
        self.field().error_bound()
    }

    /// Both ends of where the exact value is, from one read: at that moment `range.start() ≤
    /// exact ≤ range.end()`, counting each add or subtraction in flight or not — under any
    /// concurrency, in both directions (see [`ApproxCounter::approx_range`]).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-5000);
    /// let range = c.approx_range();
    /// assert_eq!(*range.start(), -5120);
    /// assert!(range.contains(&c.get()));
    /// ```
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<i64> {
        self.field().approx_range()
    }

    /// `get().cmp(&v)`, exactly, at the cost of [`approx`](Self::approx) unless `v` is
    /// within the bound of it.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-10_000);
    /// assert_eq!(c.compare(0), Ordering::Less);
    /// assert_eq!(c.compare(-10_000), Ordering::Equal);
    /// ```
    #[inline]
    pub fn compare(&self, v: i64) -> Cmp {
        self.field().compare(v)
    }

    /// Adds `n` only if the total then stays `≤ max`; returns whether it added (see
    /// [`ApproxCounter::limited_add`]).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// assert!(c.limited_add(8, 10));
    /// assert!(!c.limited_add(3, 10));
    /// assert_eq!(c.get(), 8);
    /// ```
    #[inline]
    pub fn limited_add(&self, n: u64, max: i64) -> bool {
        self.field().limited_add(n, max)
    }

    /// Subtracts `n` only if the total then stays `≥ min`; returns whether it subtracted.
    /// Never undershoots; lock-free far from `min`.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.set(5);
    /// assert!(!c.limited_sub(6, 0), "would go below 0");
    /// assert!(c.limited_sub(5, 0));
    /// assert_eq!(c.get(), 0);
    /// ```
    #[inline]
    pub fn limited_sub(&self, n: u64, min: i64) -> bool {
        self.field().limited_sub(n, min)
    }

    /// Makes the counter read `value`, exactly; in-flight limited adds finish first.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-9);
    /// c.set(100);
    /// assert_eq!(c.get(), 100);
    /// ```
    pub fn set(&self, value: i64) {
        self.field().set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-9);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops that add many times.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// let local = c.local();
    /// local.add(10);
    /// local.sub(4);
    /// assert_eq!(c.get(), 6);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalApproxUpDownCounter<'_, BATCH> {
        self.field().local()
    }
}

impl<const BATCH: u64> Default for ApproxUpDownCounter<BATCH> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<const BATCH: u64> fmt::Debug for ApproxUpDownCounter<BATCH> {
    /// Shows the exact value and the batch: `ApproxUpDownCounter { value: -4, batch: 1024 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxUpDownCounter")
            .field("value", &self.get())
            .field("batch", &BATCH)
            .finish()
    }
}

/// An [`ApproxUpDownCounter`] field of a stat group: the same methods, on the group's cells.
///
/// ```
/// use shardstat::{stats, ApproxUpDownCounter};
/// stats! {
///     #[snapshot = PoolSnapshot]
///     #[local = PoolLocal]
///     pub struct Pool {
///         pub free: ApproxUpDownCounter<64>,
///     }
/// }
/// let pool = Pool::new();
/// pool.free().set(100);
/// assert!(pool.free().limited_sub(60, 0));
/// assert!(!pool.free().limited_sub(60, 0));
/// assert_eq!(pool.snapshot().free, 40);
/// ```
pub struct ApproxUpDownCounterField<'a, const N: usize, const BATCH: u64> {
    group: &'a Sharded<N>,
    cell: usize,
    carried: &'a Carried,
}

impl<const N: usize, const BATCH: u64> Clone for ApproxUpDownCounterField<'_, N, BATCH> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize, const BATCH: u64> Copy for ApproxUpDownCounterField<'_, N, BATCH> {}

impl<'a, const N: usize, const BATCH: u64> ApproxUpDownCounterField<'a, N, BATCH> {
    #[inline(always)]
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        ApproxUpDownCounterField {
            group,
            cell,
            carried,
        }
    }

    #[inline(always)]
    fn core(self) -> Approx<'a, N, BATCH, true> {
        Approx::new(self.group, self.cell, self.carried)
    }

    #[doc = concat!("Adds `n` (which may be negative), wrapping.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-5);\nassert_eq!(g.d().get(), -5);\n```")]
    #[inline]
    pub fn add(&self, n: i64) {
        self.core().add(n.unsigned_abs(), n < 0);
    }

    #[doc = concat!("Subtracts `n`, wrapping.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().sub(5);\nassert_eq!(g.d().get(), -5);\n```")]
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    #[doc = concat!("The exact sum.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-7);\nassert_eq!(g.d().get(), -7);\n```")]
    pub fn get(&self) -> i64 {
        self.core().get() as i64
    }

    #[doc = concat!("A value at most the bound below the exact one.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-2048);\nassert_eq!(g.d().approx(), -2048);\n```")]
    #[inline]
    pub fn approx(&self) -> i64 {
        let low = self.core().approx();
        i64::try_from(low).unwrap_or(i64::MIN)
    }

    #[doc = concat!("How far the exact value can be above `approx()` at rest.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(1);\nassert!(g.d().error_bound() >= 1023);\n```")]
    #[inline]
    pub fn error_bound(&self) -> u64 {
        u64::try_from(self.core().bound()).unwrap_or(u64::MAX)
    }

    #[doc = concat!("Both ends of where the exact value is, from one read (see [`ApproxUpDownCounter::approx_range`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-2000);\nassert!(g.d().approx_range().contains(&-2000));\n```")]
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<i64> {
        let (low, high) = self.core().range();
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        clamp(low)..=clamp(high)
    }

    #[doc = concat!("`get().cmp(&v)`, exactly.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-5000);\nassert_eq!(g.d().compare(0), std::cmp::Ordering::Less);\n```")]
    #[inline]
    pub fn compare(&self, v: i64) -> Cmp {
        self.core().compare(i128::from(v))
    }

    #[doc = concat!("Adds `n` only if the total stays `≤ max`.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.d().limited_add(10, 10));\nassert!(!g.d().limited_add(1, 10));\n```")]
    #[inline]
    pub fn limited_add(&self, n: u64, max: i64) -> bool {
        self.core().limited(n, false, i128::from(max))
    }

    #[doc = concat!("Subtracts `n` only if the total stays `≥ min`.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.d().limited_sub(10, -10));\nassert!(!g.d().limited_sub(1, -10));\n```")]
    #[inline]
    pub fn limited_sub(&self, n: u64, min: i64) -> bool {
        self.core().limited(n, true, i128::from(min))
    }

    #[doc = concat!("Makes this field read `value`, exactly.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().set(-3);\nassert_eq!(g.d().get(), -3);\n```")]
    pub fn set(&self, value: i64) {
        self.core().set(value as u64);
    }

    #[doc = concat!("Sets this field to 0.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-9);\ng.d().reset();\nassert_eq!(g.d().get(), 0);\n```")]
    pub fn reset(&self) {
        self.set(0);
    }

    #[doc = concat!("The calling thread's shard of this field.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().local().add(-4);\nassert_eq!(g.d().get(), -4);\n```")]
    #[inline]
    pub fn local(&self) -> LocalApproxUpDownCounter<'a, BATCH> {
        LocalApproxUpDownCounter::new(&self.group.own()[self.cell], self.carried)
    }
}

impl<const N: usize, const BATCH: u64> fmt::Debug for ApproxUpDownCounterField<'_, N, BATCH> {
    /// Shows the field's exact value: `ApproxUpDownCounterField { value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxUpDownCounterField")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`ApproxUpDownCounter`] (or of such a group field).
/// Neither `Send` nor `Sync`.
///
/// ```
/// let c = shardstat::ApproxUpDownCounter::<1024>::new();
/// let local = c.local();
/// local.add(5);
/// local.sub(8);
/// assert_eq!(c.get(), -3);
/// ```
pub struct LocalApproxUpDownCounter<'a, const BATCH: u64> {
    cell: &'a AtomicU64,
    carried: &'a Carried,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a, const BATCH: u64> LocalApproxUpDownCounter<'a, BATCH> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64, carried: &'a Carried) -> Self {
        LocalApproxUpDownCounter {
            cell,
            carried,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.local().add(-64);
    /// assert_eq!(c.get(), -64);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        add_carrying(
            self.cell,
            n.unsigned_abs(),
            n < 0,
            self.carried,
            Batch::<BATCH>::MASK,
        );
    }

    /// Subtracts `n`, wrapping.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.local().sub(2);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// This thread's cell, as a signed delta, before `set`/`reset` adjustments.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// let local = c.local();
    /// local.sub(3);
    /// assert_eq!(local.shard_value(), -3);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> i64 {
        self.cell.load(Ordering::Relaxed) as i64
    }
}

impl<const BATCH: u64> fmt::Debug for LocalApproxUpDownCounter<'_, BATCH> {
    /// Shows this thread's shard: `LocalApproxUpDownCounter { shard_value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalApproxUpDownCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

impl<const BATCH: u64> field::sealed::Sealed for ApproxUpDownCounter<BATCH> {}

impl<const BATCH: u64> Field for ApproxUpDownCounter<BATCH> {
    const METRIC_KIND: MetricKind = MetricKind::UpDownCounter;
    fn field_value(value: i64) -> FieldValue {
        FieldValue::Signed(value)
    }
    const KIND: FieldKind = {
        let _ = Batch::<BATCH>::MASK;
        FieldKind::Approx
    };
    const WIDTH: usize = 1;
    type Stored = Carried;
    type Value = i64;
    type Handle<'a, const N: usize> = ApproxUpDownCounterField<'a, N, BATCH>;
    type Local<'a> = LocalApproxUpDownCounter<'a, BATCH>;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        carried: &'a Carried,
    ) -> ApproxUpDownCounterField<'a, N, BATCH> {
        ApproxUpDownCounterField::new(group, cell, carried)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        carried: &'a Carried,
    ) -> LocalApproxUpDownCounter<'a, BATCH> {
        LocalApproxUpDownCounter::new(&own[cell], carried)
    }
    fn value(raw: &[u64], cell: usize, _: &Carried) -> i64 {
        raw[cell] as i64
    }
    fn reset_stored(_: &Carried) {}
    const EMPTY: Self::Value = 0;
    fn delta(newer: i64, older: i64) -> i64 {
        newer.wrapping_sub(older)
    }
}

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
