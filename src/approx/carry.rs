//! The algorithm every approximate counter shares: the add that carries whole batches, and
//! [`Approx`], the reads from the carried words and the limited add that never overshoots.

use super::*;

/// Adds `n` (or subtracts it, `down`) to a cell only the calling thread writes, carrying
/// whole batches into `carried`: the add path of every approximate counter. A plain load and
/// store unless the cell crosses a batch boundary.
#[inline(always)]
pub(super) fn add_carrying(cell: &AtomicU64, n: u64, down: bool, carried: &Carried, mask: u64) {
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
pub(super) fn carry(
    cell: &AtomicU64,
    old: u64,
    new: u64,
    down: bool,
    carried: &Carried,
    mask: u64,
) {
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
pub(super) fn add_slow<const N: usize>(
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
pub(super) enum Fast {
    /// Added (`true`) or refused with certainty (`false`).
    Done(bool),
    /// Too close to the limit, or the version was odd: take the exclusive path.
    Exclusive,
}

/// One approximate sum cell of a run (cell 0 is the run's sequence word), with its carried
/// words: the algorithm every approximate handle calls. The batch and the value type
/// (whose sign is the domain) are type parameters, so that every branch on them folds away in each caller (as fields, they
/// reached the limited add's hot path as memory loads).
pub(crate) struct Approx<'a, V: CounterValue, const N: usize, const BATCH: u64> {
    pub(super) group: &'a Sharded<N>,
    pub(super) cell: usize,
    pub(super) carried: &'a Carried,
    _value: PhantomData<V>,
}

impl<V: CounterValue, const N: usize, const BATCH: u64> Clone for Approx<'_, V, N, BATCH> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V: CounterValue, const N: usize, const BATCH: u64> Copy for Approx<'_, V, N, BATCH> {}

impl<'a, V: CounterValue, const N: usize, const BATCH: u64> Approx<'a, V, N, BATCH> {
    const MASK: u64 = Batch::<BATCH>::MASK;
    const DOMAIN: Domain = if V::SIGNED {
        Domain::Signed
    } else {
        Domain::Unsigned
    };

    #[inline(always)]
    pub(super) fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        debug_assert!(cell >= 1, "cell 0 is the sequence word");
        Approx {
            group,
            cell,
            carried,
            _value: PhantomData,
        }
    }

    #[inline]
    pub(super) fn add(self, n: u64, down: bool) {
        // Not a `with_own` closure: its captures (five words) would be stored to the stack on
        // every add for the slow path's sake. The cold path takes its six words in registers.
        match self.group.cached_first() {
            Some(first) => {
                // SAFETY: `first` is what `cached_first` returned for this run.
                let cells = unsafe { self.group.own_cells(first) };
                add_carrying(&cells[self.cell], n, down, self.carried, Self::MASK);
            }
            None => add_slow(self.group, self.cell, self.carried, Self::MASK, n, down),
        }
    }

    pub(super) fn get(self) -> u64 {
        self.group.sum(self.cell)
    }

    /// `shards × (BATCH − 1)`: how far the exact value can be above `global + low` (or below
    /// `global + high + bound`).
    #[inline]
    pub(super) fn bound(self) -> i128 {
        // In `u64` (shards < 2^26, `MASK` < 2^32): a 64-bit multiply, not a 128-bit one, on
        // the compare's critical path.
        i128::from((self.group.shard_bound() as u64).wrapping_mul(Self::MASK))
    }

    /// `(global + low, global + high)` as 64-bit words, from one stable read of the base and
    /// both carried words: at that moment the exact word lies from the first to the second
    /// plus the bound, counting each add in flight or not (`low` moves last when the value
    /// rises and first when it falls, `high` the other way).
    #[inline]
    pub(super) fn words(self) -> (u64, u64) {
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
    pub(super) fn range(self) -> (i128, i128) {
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
    pub(super) fn circular_range(self) -> (u64, u128) {
        let (low, high) = self.words();
        let width = u128::from(high.wrapping_sub(low)) + self.bound().unsigned_abs();
        (low, width)
    }

    /// The lower end of the range: a value the exact sum is at least, within the bound.
    #[inline]
    pub(super) fn approx(self) -> i128 {
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
    pub(super) fn compare(self, v: i128) -> Cmp {
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
    pub(super) fn compare_exact(self, v: i128) -> Cmp {
        Self::DOMAIN.exact(self.get()).cmp(&v)
    }

    /// Sets the exact value (exclusive: in-flight limited adds finish first, so none decides
    /// from the value before and lands after).
    #[track_caller]
    pub(super) fn set(self, value: u64) {
        self.group
            .write_exclusive(|| self.group.set_locked(self.cell, value));
    }

    /// Returns the value and makes it read 0, as one exclusive section (a `set(0)` that
    /// returns what it cancelled: `Sharded::take_sum`).
    #[track_caller]
    pub(super) fn take(self) -> u64 {
        self.group
            .write_exclusive(|| self.group.take_locked(self.cell))
    }

    /// Adds `n` (`down`: subtracts) only if the result stays `≤ limit` (`down`: `≥ limit`).
    ///
    /// Inlined whole (no closure), so that the counter's constants — its domain, the
    /// direction, the batch — fold away in each caller.
    #[inline(always)]
    #[track_caller]
    pub(super) fn limited(self, n: u64, down: bool, limit: i128) -> bool {
        self.limited_checking(n, down, limit, true)
    }

    /// [`limited`](Self::limited); `one_limit: false` skips the check that the lock-free
    /// paths run only with the counter's one limit (the loom suite's negative control).
    #[inline(always)]
    #[track_caller]
    pub(super) fn limited_checking(self, n: u64, down: bool, limit: i128, one_limit: bool) -> bool {
        let cells = match self.group.cached_first() {
            // SAFETY: `first` is what `cached_first` returned for this run.
            Some(first) => unsafe { self.group.own_cells(first) },
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
    pub(super) fn is_the_limit(self, down: bool, limit: i128) -> bool {
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
    pub(super) fn fast(self, cell: &AtomicU64, n: u64, down: bool, limit: i128) -> Fast {
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
    pub(super) fn carry_up(
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
    pub(super) fn carry_down(
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
    pub(super) fn raise_checked(self, delta: u64, limit: i128, base: u64) -> bool {
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
    pub(super) fn limited_exclusive(
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
