//! The algorithm every counter kind shares.
//!
//! A [`Sharded<N>`] is a run of `N` cells in every shard's arena (see [`crate::engine`]),
//! plus one *global* word per cell and a `version` word beside the arenas. A standalone
//! [`Counter`](crate::Counter) is a `Sharded<1>`; a [`Max`](crate::Max) a `Sharded<2>`; a
//! stat group of eleven counters a `Sharded<12>` (its sequence word first).
//!
//! Each cell of the run has a kind ([`CellKind`]):
//! - a **sum** (counters): the value is `global + Σ cells` (wrapping). Only the owning thread
//!   writes its cell, with a plain load and store ([`add_owned`]). `set(v)` never touches a
//!   cell: it stores `global = v − Σ cells`, cancelling what the cells hold.
//! - an **extremum** pair (max/min): cell `i` holds an epoch, cell `i + 1` a value. The value
//!   is the largest cell value among shards whose epoch cell equals the global epoch; a reset
//!   bumps the global epoch, which retires every shard's old value at once.
//! - a group's **sequence** word (cell 0 of a group): odd while the owner is inside an
//!   `update` step.
//!
//! `set`/`reset` are serialised by making `version` odd for their duration (a seqlock:
//! [`Sharded::write_locked`]); readers ([`Sharded::read_stable`]) retry if `version`
//! changed, so a read sees a set either wholly or not at all. Group `update`s bracket their
//! writes with the sequence word, which snapshots and resets read with `read_consistent`.
//! Writers never wait (save an extremum's record that starts a new epoch while a take of
//! that extremum reads: `start_epoch`); readers and setters may retry.
//!
//! Every ordering used here is listed, with its reason, in `docs/design.md`.

use crate::engine::{self, engine_of, LocationWord, PerThread, Shards};
use crate::sync::{self, fence, keep_in_register, wait_step, AtomicU64, Ordering};
use std::marker::PhantomData;

/// What a cell of a run holds, for the whole-run operations ([`Sharded::snapshot`] and
/// [`Sharded::reset_all`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// A wrapping sum: `global + Σ cells`.
    Sum,
    /// A sum whose owners carry batches into a word beside the group (an approximate
    /// counter's field): read as `Sum`, but a reset must wait for in-flight limited adds.
    Approx,
    /// The epoch of the extremum whose value is in the next cell.
    Epoch,
    /// The value of the extremum whose epoch is in the previous cell.
    Value,
    /// A group's sequence word (cell 0 only): odd while the owner is inside `update`.
    Seq,
}

/// A run of `N` cells in every shard's arena, with exact race-free `set`/`reset`. The
/// shards are threads' (`PerThread`, the default) or CPUs' (`PerCpu`: `crate::percpu`).
pub struct Sharded<const N: usize, S: Shards = PerThread> {
    /// Where the run is (`engine` packs it); 0 until the first use assigns one.
    location: LocationWord,
    /// Even when no set/reset runs; odd while one does. Only changed under its own lock
    /// (the compare-and-swap in `write_locked`).
    version: AtomicU64,
    /// Per cell: the base of a sum, or the epoch of an extremum (unused for `Value`/`Seq`).
    globals: [AtomicU64; N],
    shards: PhantomData<fn() -> S>,
}

impl<const N: usize, S: Shards> Sharded<N, S> {
    sync::const_fn! {
        /// No run yet: every cell reads 0 and nothing is allocated until a thread writes.
        pub fn new() -> Self {
            Sharded {
                location: LocationWord::new(),
                version: AtomicU64::new(0),
                globals: sync::repeat![AtomicU64::new(0); N],
                shards: PhantomData,
            }
        }
    }
}

impl<const N: usize> Sharded<N> {
    /// The calling thread's copy of the run. The first call on a thread (or for a counter
    /// without a run) takes the slow path, which assigns the run, takes a shard and creates
    /// the shard's copy of the chunk as needed.
    #[inline(always)]
    pub fn own(&self) -> &[AtomicU64; N] {
        self.with_own(|cells| cells)
    }

    /// Runs `write` on the calling thread's copy of the run: the add path. The slow path is a
    /// separate, cold call that runs `write` itself, so the fast path keeps nothing alive
    /// across a call (no register to save) and stays a few instructions.
    #[inline(always)]
    pub(crate) fn with_own<'a, R>(&'a self, write: impl FnOnce(&'a [AtomicU64; N]) -> R) -> R {
        match self.cached_first() {
            // SAFETY: `first` is what `engine::own_cached` returned for this run.
            Some(first) => write(unsafe { self.own_cells(first) }),
            None => self.with_own_slow(write),
        }
    }

    /// The first cell of the calling thread's copy of the run, if the thread's cache has it:
    /// the add path's fast path, for callers with their own cold path ([`own_cells`]
    /// turns it into the copy).
    ///
    /// [`own_cells`]: Self::own_cells
    #[inline(always)]
    pub(crate) fn cached_first(&self) -> Option<*const AtomicU64> {
        // Acquire: pairs with the Release that published the run (`engine::Engine::assign`),
        // so a reused run's clearing happens-before this thread's first load of its cell.
        // (A plain load on x86-64.)
        engine::own_cached(self.location.load(Ordering::Acquire))
    }

    #[cold]
    #[inline(never)]
    fn with_own_slow<'a, R>(&'a self, write: impl FnOnce(&'a [AtomicU64; N]) -> R) -> R {
        let first = engine::own_slow(&self.location, N);
        // SAFETY: see `own_cells`.
        write(unsafe { self.own_cells(first) })
    }

    /// The run's copy that starts at `first`.
    ///
    /// # Safety
    /// `first` must be the first cell of this run in the calling thread's shard's copy of
    /// its chunk (what `engine::own_cached`, [`cached_first`](Self::cached_first) or
    /// `engine::own_slow` returned for this run).
    #[inline(always)]
    pub(crate) unsafe fn own_cells(&self, first: *const AtomicU64) -> &[AtomicU64; N] {
        // SAFETY: the allocator gave the run `N` consecutive cells inside one chunk, so all
        // `N` are inside that live allocation of `AtomicU64`s, which `[AtomicU64; N]` lays
        // out identically. Chunk copies are freed only with the engine (never, outside
        // loom; loom drops it after every counter of the execution), and the run stays this
        // counter's until `drop(&mut self)`, so the reference is valid for `&self`.
        unsafe { &*first.cast::<[AtomicU64; N]>() }
    }
}

impl<const N: usize, S: Shards> Sharded<N, S> {
    /// The run's location; assigns the run if the counter has none yet. Readers assign too:
    /// a counter takes its run at its first use, whatever the use. (Besides being the simpler
    /// rule, this lets loom see a first write race with a first read: the reader's
    /// assignment and the writer's first load of the location conflict.)
    #[inline(always)]
    pub(crate) fn location(&self) -> u64 {
        // Acquire: as in `own`, so a reader sees the cleared cells of a reused run.
        match self.location.load(Ordering::Acquire) {
            0 => engine_of::<S>().assign(&self.location, N),
            location => location,
        }
    }

    /// Calls `f` on the run in every shard that has a copy of its chunk, in shard-index
    /// order. Assigns the run if it has none yet.
    #[inline]
    pub fn for_each_copy<'s>(&'s self, f: impl FnMut(&'s [AtomicU64; N])) {
        self.for_each_copy_at(self.location(), f);
    }

    #[inline]
    fn for_each_copy_at<'s>(&'s self, location: u64, mut f: impl FnMut(&'s [AtomicU64; N])) {
        engine_of::<S>().for_each_copy(location, |first| {
            // SAFETY: `first` starts this run's `N` cells inside a live chunk copy of some
            // shard (the allocator's invariant: a run never crosses a chunk's end); copies
            // are freed only with the engine, and the run stays this counter's while `&self`
            // lives — so the copy is valid for `'s`.
            f(unsafe { &*first.cast::<[AtomicU64; N]>() })
        });
    }

    /// The packed location of the run (0: none yet), without assigning one.
    pub fn current_location(&self) -> u64 {
        self.location.load(Ordering::Relaxed)
    }

    /// The global word of cell `i`.
    #[inline]
    pub fn global(&self, i: usize) -> &AtomicU64 {
        &self.globals[i]
    }

    /// An upper bound of the number of shards that may hold writes. One relaxed load.
    pub(crate) fn shard_bound(&self) -> usize {
        engine_of::<S>().shard_bound(self.location.load(Ordering::Relaxed))
    }

    /// Runs `read` until no set/reset wrote while it ran, and returns its result.
    ///
    /// A read runs while the version is free, and also while a section holds it in the
    /// waiting phase (an exclusive section still waiting for brackets, or a snapshot that
    /// locked out resets), which writes nothing: so a read never waits for a section that
    /// waits for the reader's own `update` (issue 23), and a section that ends without
    /// writing invalidates no read ([`unwritten_since`]).
    #[inline]
    pub(crate) fn read_stable<R>(&self, read: impl Fn() -> R) -> R {
        let mut step = 0;
        loop {
            if let Some(result) = self.read_once(&read) {
                return result;
            }
            wait_step(&mut step);
        }
    }

    /// One try of [`read_stable`](Self::read_stable): `None` if a set/reset was writing
    /// when it began or wrote while `read` ran.
    #[inline]
    fn read_once<R>(&self, read: impl FnOnce() -> R) -> Option<R> {
        // Acquire: pairs with the Release that ends a set/reset, so `read` sees the globals
        // it wrote and shard values at least as new as the ones it counted.
        let before = self.version.load(Ordering::Acquire);
        if before & PHASE == WRITING {
            return None;
        }
        let result = read();
        // Acquire fence: if `read` saw any global written by a set/reset that began writing
        // after `before`, the version load below sees its writing phase or a later version.
        fence(Ordering::Acquire);
        unwritten_since(before, self.version.load(Ordering::Relaxed)).then_some(result)
    }

    /// Runs `write` with the version lock held in its writing phase: one set/reset at a
    /// time, and readers retry around it.
    pub fn write_locked<R>(&self, write: impl FnOnce() -> R) -> R {
        let free = self.lock(WRITING);
        let _unlock = Unlock {
            version: &self.version,
            next: free.wrapping_add(GENERATION),
        };
        // Release fence: a reader that sees a global written below, then runs its acquire
        // fence, sees the writing (or a later) version and retries.
        fence(Ordering::Release);
        write()
    }

    /// Takes the version lock from a free version into `phase` (`WRITING` or `WAITING`);
    /// returns the free version it was taken from. Not while a snapshot has asked for the
    /// lock (`REQUEST`): that snapshot goes first ([`locked_out`](Sharded::locked_out)).
    fn lock(&self, phase: u64) -> u64 {
        let mut step = 0;
        loop {
            let current = self.version.load(Ordering::Relaxed);
            if current & (PHASE | REQUEST) == FREE {
                // Acquire: the previous set/reset's writes happen-before ours.
                if self
                    .version
                    .compare_exchange_weak(
                        current,
                        current.wrapping_add(phase),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return current;
                }
            }
            wait_step(&mut step);
        }
    }

    /// Whether no set/reset or exclusive section is running: the version is free. Acquire:
    /// a caller that sees a free version sees every global and carried word written by the
    /// section that freed it.
    #[inline]
    pub(crate) fn unlocked(&self) -> bool {
        self.version.load(Ordering::Acquire) & PHASE == FREE
    }
}

/// Lazy counters (`crate::LazyCounter`): the sum in cell 0 is counted in the global word by
/// compare-and-swap while the counter has no run, and in the calling thread's copy once a
/// compare-and-swap has failed (contention: another add, or a set, came between the load and
/// the swap) — the first add after that assigns the run. The global word is the sum's base
/// either way, so the switch moves nothing: every add is in the word or in a cell, once.
/// What writes the word under the version lock must then not overwrite a concurrent add:
/// it is written by read-modify-writes only — a set and a take swap it, a raise compares and
/// swaps it — the same steps as an eager counter's, given the run's location without
/// assigning one (`existing_location`). `docs/design.md` §18.
impl<const N: usize> Sharded<N> {
    /// Adds `n` to the sum in cell 0: to the global word while the counter is cold, else to
    /// the calling thread's copy.
    #[inline]
    pub(crate) fn lazy_add(&self, n: u64) {
        // Relaxed: the location only picks the path; an add that sees 0 and succeeds is in
        // the word, whatever the location has become meanwhile.
        if self.location.load(Ordering::Relaxed) == 0 {
            let word = &self.globals[0];
            // Relaxed, both: the sum is read as word + cells, each add in one of them, and the
            // word's modification order orders the adds to it.
            // Weak: a spurious failure (LL/SC targets) only switches the counter early.
            let current = word.load(Ordering::Relaxed);
            if word
                .compare_exchange_weak(
                    current,
                    current.wrapping_add(n),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return;
            }
        }
        self.with_own(|own| add_owned(&own[0], n));
    }

    /// The sum in cell 0, retried around sets and takes, without assigning a run.
    pub(crate) fn lazy_sum(&self) -> u64 {
        self.read_stable(|| {
            self.globals[0]
                .load(Ordering::Relaxed)
                .wrapping_add(self.cells_sum_at(self.existing_location(), 0))
        })
    }

    /// The run's location, 0 if it has none (a cold lazy counter), without assigning one: a
    /// lazy counter's reads and steps, which must not make it sharded.
    fn existing_location(&self) -> u64 {
        // Acquire: as in `location`, so that a reader sees the cleared cells of a reused run.
        self.location.load(Ordering::Acquire)
    }

    /// Makes the sum read `value`; adds before the set are cancelled by it, adds after count
    /// on top.
    pub(crate) fn lazy_set(&self, value: u64) {
        self.write_locked(|| self.set_at(self.existing_location(), 0, value));
    }

    /// Makes the sum read 0 and returns what it read, in one step: every add in exactly one
    /// take or in a later read. The word is swapped, so a cold add that lands on it while
    /// the take runs is in the old word (taken) or on top of the new one (counted after).
    pub(crate) fn lazy_take(&self) -> u64 {
        self.write_locked(|| self.take_at(self.existing_location(), 0))
    }

    sync::model_only! {
        /// `lazy_take` with a load and a store of the word instead of the swap: the loom
        /// suite's negative control (it loses a cold add between the two).
        pub(crate) fn lazy_take_by_load_and_store(&self) -> u64 {
            self.write_locked(|| {
                let cells = self.cells_sum_at(self.existing_location(), 0);
                let old = self.globals[0].load(Ordering::Relaxed);
                self.globals[0].store(cells.wrapping_neg(), Ordering::Relaxed);
                old.wrapping_add(cells)
            })
        }
    }

    /// Makes the sum read at least `value`, never moving it back: a compare-and-swap of the
    /// word, so a cold add that lands meanwhile makes it retry rather than be overwritten.
    pub(crate) fn lazy_raise(&self, value: u64) {
        self.write_locked(|| self.raise_at(self.existing_location(), 0, value));
    }

    /// Whether the counter has a run: it has gone sharded.
    pub(crate) fn has_run(&self) -> bool {
        self.location.load(Ordering::Relaxed) != 0
    }
}

/// The version word: its phase (the low two bits), a snapshot's request (bit 2) and its
/// generation (the rest).
///
/// The phase is `FREE`; `WRITING`, while a set/reset stores its words (readers wait); or
/// `WAITING`, while a section holds the lock and has written nothing: an exclusive section
/// waiting for brackets to close, or a snapshot holding sets and resets off (readers read;
/// limited adds queue). A writing section goes `FREE → (WAITING →) WRITING → FREE` of the
/// next generation; a snapshot's `FREE → WAITING → FREE` keeps the generation. So a reader
/// that saw the same generation before and after its read, not writing, saw no write.
///
/// `REQUEST` is set by a snapshot that waits for the lock: while it is set, no set/reset
/// takes the lock, so a stream of resets cannot keep a snapshot out. The holder's unlock
/// keeps it, and the snapshot that takes the lock clears it.
const PHASE: u64 = 3;
const FREE: u64 = 0;
const WRITING: u64 = 1;
const WAITING: u64 = 3;
const REQUEST: u64 = 4;
const GENERATION: u64 = 8;

/// Whether nothing was written between a reader's two loads of the version, `before` (not
/// in the writing phase) and `after`: the same generation, not in the writing phase. Every
/// section that writes passes through `WRITING` and ends a generation later; one that holds
/// the lock only in the waiting phase (a snapshot's, or an exclusive section's before it
/// writes) changes the phase, never the generation, so a read across it stands.
#[inline]
fn unwritten_since(before: u64, after: u64) -> bool {
    let generation = |version: u64| version & !(PHASE | REQUEST);
    generation(after) == generation(before) && after & PHASE != WRITING
}

/// Frees the version lock (the next generation) when a section ends, even by a panic.
struct Unlock<'a> {
    version: &'a AtomicU64,
    next: u64,
}

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        // A compare-and-swap, not a store: a waiting snapshot may have set `REQUEST` since
        // the lock was taken, and it must stay set. Release: the globals written under the
        // lock (and the shard values read to compute them) happen-before any reader that
        // sees this free version.
        let mut current = self.version.load(Ordering::Relaxed);
        while let Err(now) = self.version.compare_exchange_weak(
            current,
            self.next | (current & REQUEST),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            current = now;
        }
    }
}

impl<const N: usize> Sharded<N> {
    /// Runs `write` with every shard's bracket closed: under the version lock (as
    /// `write_locked`), after waiting for each shard whose owner had opened its bracket (cell
    /// 0 odd: a limited add in flight, or a group `update`) to close it. An owner that opens
    /// its bracket after the lock is taken sees the odd version and waits for this section
    /// (the approximate counters' limited add, `crate::approx`).
    ///
    /// The calling thread's own copy is not waited for: its bracket cannot close while this
    /// thread is here (callers refuse to run inside their own bracket).
    #[track_caller]
    pub(crate) fn write_exclusive<R>(&self, write: impl FnOnce() -> R) -> R {
        self.write_after_waiting(true, || (), |()| write())
    }

    /// A section in two phases: `prepare` in the waiting phase (readers read on; after
    /// waiting for every other shard's open bracket if `brackets`, as `write_exclusive`),
    /// then `write` with what it prepared in the writing phase. Nothing may be written in
    /// the waiting phase. Whatever waits for other threads' brackets or steps runs there, so
    /// a reader never waits for a section that waits for the reader's own `update`.
    #[track_caller]
    pub(crate) fn write_after_waiting<P, R>(
        &self,
        brackets: bool,
        prepare: impl FnOnce() -> P,
        write: impl FnOnce(P) -> R,
    ) -> R {
        refuse_inside_update("a group's reset(), or an approximate field's set(), reset(), limited_add() or limited_sub()");
        let free = self.lock(WAITING);
        let _unlock = Unlock {
            version: &self.version,
            next: free.wrapping_add(GENERATION),
        };
        if brackets {
            // Heavy barrier: pairs with the light barrier between an owner's opening of its
            // bracket and its load of `version` (`approx::Approx::limited`). Either that
            // load sees the locked version, or the loads below see the odd bracket.
            sync::heavy_barrier();
            self.for_each_copy(|copy| {
                if self.is_own(copy) {
                    return;
                }
                let mut step = 0;
                // Acquire: pairs with the Release that closed the bracket, so the cells read
                // by `write` include everything written inside it.
                while copy[0].load(Ordering::Acquire) & 1 == 1 {
                    wait_step(&mut step);
                }
            });
        }
        let prepared = prepare();
        // Relaxed, then a Release fence (as `write_locked`): a reader that sees a global
        // written below, then runs its acquire fence, sees this writing version (or a later
        // one), not the waiting version it may have started from, and retries. A
        // subtraction, not a store, so that a snapshot's `REQUEST` set meanwhile stays.
        self.version.fetch_sub(WAITING - WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        write(prepared)
    }
}

impl<const N: usize, S: Shards> Sharded<N, S> {
    /// The wrapping sum of the sum cell `i`, read once: exact for a caller that holds the
    /// version lock; [`sum`](Self::sum) retries it around set/reset.
    pub(crate) fn raw_sum(&self, i: usize) -> u64 {
        self.globals[i]
            .load(Ordering::Relaxed)
            .wrapping_add(self.cells_sum_at(self.location(), i))
    }

    /// [`raw_sum`](Self::raw_sum) with every cell read as two halves *without* the sequence
    /// check (split-cell builds only): the torn-read test's negative control.
    #[cfg(shardstat_split_word)]
    pub(crate) fn raw_sum_unchecked(&self, i: usize) -> u64 {
        let mut sum = self.globals[i].load(Ordering::Relaxed);
        self.for_each_copy(|cells| {
            sum = sum.wrapping_add(cells[i].load_unchecked());
        });
        sum
    }

    /// The wrapping sum of cell `i` over every shard's copy of the run at `location` (0:
    /// none, the sum is 0), without the global word.
    fn cells_sum_at(&self, location: u64, i: usize) -> u64 {
        let mut sum = 0u64;
        self.for_each_copy_at(location, |cells| {
            sum = sum.wrapping_add(cells[i].load(Ordering::Relaxed));
        });
        sum
    }
}

impl<const N: usize, S: Shards> Sharded<N, S> {
    /// Makes the sum cell `i` read `value`, for a caller that holds the version lock.
    pub(crate) fn set_locked(&self, i: usize, value: u64) {
        self.set_at(self.location(), i, value);
    }

    /// [`set_locked`](Self::set_locked) over the run at `location` (a lazy counter's, which
    /// may have none).
    fn set_at(&self, location: u64, i: usize, value: u64) {
        let cells = self.cells_sum_at(location, i);
        // Relaxed: under the version lock, published by its Release. A swap, not a store,
        // though a store would do (a lazy counter's cold add that comes before it in the
        // word's order is cancelled by it, as every add before a set is): every write that
        // can race a cold add is then a read-modify-write, which loom models (it builds
        // impossible histories for a plain store racing one: tokio-rs/loom#254, seen as a
        // set that vanished); under the lock it costs nothing that matters.
        self.globals[i].swap(value.wrapping_sub(cells), Ordering::Relaxed);
    }

    /// The wrapping sum of the sum cell `i`.
    pub fn sum(&self, i: usize) -> u64 {
        self.read_stable(|| self.raw_sum(i))
    }

    /// Makes the sum cell `i` read `value`: every add counted so far is cancelled through the
    /// global word; no shard is written.
    pub fn set(&self, i: usize, value: u64) {
        self.write_locked(|| self.set_locked(i, value));
    }

    /// Makes the sum cell `i` read 0 and returns what it read, in one step under the version
    /// lock: the value is the global word plus the *same* read of the cells that the new
    /// global word cancels, so an add that this read counted is cancelled by it, and one it
    /// did not count (its store came later in the cell's modification order) counts after
    /// it. Every add is in exactly one take or in the value read after the last one (a
    /// read, then a separate `set(0)`, lost the adds between them: LongAdder's
    /// `sumThenReset`).
    pub(crate) fn take_sum(&self, i: usize) -> u64 {
        self.write_locked(|| self.take_locked(i))
    }

    /// [`take_sum`](Self::take_sum)'s step, for a caller that holds the version lock (an
    /// approximate counter's exclusive section).
    pub(crate) fn take_locked(&self, i: usize) -> u64 {
        self.take_at(self.location(), i)
    }

    /// [`take_locked`](Self::take_locked) over the run at `location` (a lazy counter's,
    /// which may have none).
    fn take_at(&self, location: u64, i: usize) -> u64 {
        let cells = self.cells_sum_at(location, i);
        // Relaxed: under the version lock, whose Acquire (taking) ordered the last
        // set/reset/take's stores before this, and whose Release (freeing) publishes it. A
        // swap: a lazy counter's cold add that lands on the word meanwhile is in the old
        // word (taken) or on top of the new one (counted after), never overwritten.
        self.globals[i]
            .swap(cells.wrapping_neg(), Ordering::Relaxed)
            .wrapping_add(cells)
    }

    /// Makes the sum cell `i` read at least `value`: if it reads less, one set under the
    /// version lock computed from the *same* read of the cells, so adds that land after that
    /// read count on top and the value never goes backwards (a read, then a separate `set`,
    /// cancelled the adds between them).
    pub(crate) fn raise_sum(&self, i: usize, value: u64) {
        self.write_locked(|| self.raise_at(self.location(), i, value));
    }

    /// [`raise_sum`](Self::raise_sum)'s step over the run at `location` (a lazy counter's,
    /// which may have none), for a caller that holds the version lock.
    fn raise_at(&self, location: u64, i: usize, value: u64) {
        let cells = self.cells_sum_at(location, i);
        let word = &self.globals[i];
        // Relaxed: under the version lock, published by its Release. A compare-and-swap: a
        // lazy counter's cold add that lands meanwhile makes it retry, not vanish.
        let mut base = word.load(Ordering::Relaxed);
        while value > base.wrapping_add(cells) {
            match word.compare_exchange_weak(
                base,
                value.wrapping_sub(cells),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => base = now,
            }
        }
    }

    /// The largest value recorded into the extremum at cells `i, i + 1` since its last reset
    /// (0 if none).
    pub(crate) fn best(&self, i: usize) -> u64 {
        self.read_stable(|| {
            let epoch = self.globals[i].load(Ordering::Relaxed);
            let mut best = 0;
            self.for_each_copy(|cells| {
                if let Some(value) = shard_best(&cells[i], &cells[i + 1], epoch) {
                    best = best.max(value);
                }
            });
            best
        })
    }

    /// Retires every value recorded into the extremum at cells `i, i + 1`.
    pub(crate) fn new_epoch(&self, i: usize) {
        self.write_locked(|| bump_epoch(&self.globals[i]));
    }

    /// Retires every value recorded into the extremum at cells `i, i + 1` and returns the
    /// best of them, as one section: a `Max`/`Min` `take`. The epoch `e` (even) becomes
    /// `e + 1` first, then (after the heavy barrier that pairs with `record_best`'s light
    /// one) every shard's value of `e` is read, then the epoch becomes `e + 2`. A record
    /// racing the take either stored before the barrier, and the read sees it, or sees the
    /// new epoch and records again into `e + 2`; and no record overwrites a value of `e`
    /// while the epoch is odd (`start_epoch` waits). So every record is in this take, or in
    /// a later take or read.
    pub(crate) fn take_best(&self, i: usize) -> u64 {
        self.take_best_with::<true>(i)
    }

    /// [`take_best`](Self::take_best); without the odd epoch when `!ODD` (the loom suite's
    /// negative control `take_best_without_odd_epoch`: the epoch moves straight to `e + 2`).
    fn take_best_with<const ODD: bool>(&self, i: usize) -> u64 {
        self.write_locked(|| {
            let global = &self.globals[i];
            // Relaxed: under the version lock (its Acquire ordered the last writer's stores).
            let retired = global.load(Ordering::Relaxed);
            let during = if ODD { 1 } else { EPOCH_STEP };
            global.store(retired.wrapping_add(during), Ordering::Relaxed);
            sync::heavy_barrier();
            let mut best = 0;
            self.for_each_copy(|cells| {
                if let Some(value) = shard_best(&cells[i], &cells[i + 1], retired) {
                    best = best.max(value);
                }
            });
            // Release: pairs with `start_epoch`'s Acquire fence (above).
            global.store(retired.wrapping_add(EPOCH_STEP), Ordering::Release);
            best
        })
    }

    sync::model_only! {
        /// `take_best` with the epoch moved straight to the next even one: a record that
        /// meets the new epoch may overwrite a value the take has yet to read.
        pub(crate) fn take_best_without_odd_epoch(&self, i: usize) -> u64 {
            self.take_best_with::<false>(i)
        }
    }
}

impl<const N: usize> Sharded<N> {
    /// Every cell, combined per `kinds`, with no set/reset and no owner's `update` seen in
    /// part. Sum cells hold their sum, extremum pairs their epoch and value.
    ///
    /// Inlined so that a group's constant `kinds` fold away: the per-shard combine becomes
    /// straight-line adds.
    #[inline]
    #[track_caller]
    pub fn snapshot(&self, kinds: &[CellKind; N]) -> [u64; N] {
        self.snapshot_with(kinds, |raw| *raw)
    }

    /// [`snapshot`](Self::snapshot), with `build` run on the combined cells inside the same
    /// stable read: what `build` loads beside the cells (a group's gauges, which a group reset
    /// stores in its writing phase) is of the same side of every reset as the cells.
    ///
    /// # Liveness
    /// One optimistic read; if a set/reset wrote during it, a second read with the version
    /// lock held in the waiting phase, so that no set/reset can start until it ends (readers
    /// read on meanwhile). Each read waits, per shard, only for that shard's open step, and
    /// visits the shards out of order: every shard that is between steps first, then the
    /// others again, yielding between passes (`read_shards`). So a snapshot is restarted at
    /// most once, however often resets come, and ends once each writer has been seen
    /// between two of its steps (`docs/design.md` §8, "Liveness").
    #[inline]
    #[track_caller]
    pub fn snapshot_with<R>(&self, kinds: &[CellKind; N], build: impl Fn(&[u64; N]) -> R) -> R {
        refuse_inside_update("a group's snapshot()");
        let read = || {
            let globals = std::array::from_fn(|i| match kinds[i] {
                CellKind::Sum | CellKind::Approx | CellKind::Epoch => {
                    self.globals[i].load(Ordering::Relaxed)
                }
                CellKind::Value | CellKind::Seq => 0,
            });
            build(&self.read_shards(kinds, globals))
        };
        if let Some(result) = self.read_once(read) {
            return result;
        }
        self.locked_out(read)
    }

    /// Runs `read` with the version lock held in the waiting phase: no set/reset runs
    /// meanwhile, so `read` is not restarted; other readers read on. Nothing is written, so
    /// the lock is given back at the same version (no reader's read is invalidated).
    ///
    /// Fair to the snapshot: while the lock is held, it sets `REQUEST`, and no set/reset
    /// takes the lock while that is set, so the snapshot is next (a loop of resets kept it
    /// out forever without this).
    #[cold]
    #[inline(never)]
    fn locked_out<R>(&self, read: impl FnOnce() -> R) -> R {
        let mut step = 0;
        let free = loop {
            let current = self.version.load(Ordering::Relaxed);
            if current & PHASE == FREE {
                // Taken from a free version, clearing `REQUEST` (this snapshot's, or another
                // one's, which asks again). Acquire: as in `lock`.
                let free = current & !REQUEST;
                if self
                    .version
                    .compare_exchange_weak(
                        current,
                        free.wrapping_add(WAITING),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    break free;
                }
            } else if current & REQUEST == 0 {
                // Relaxed: the flag orders nothing; it only keeps sets and resets from
                // taking the lock before this snapshot.
                let _ = self.version.compare_exchange_weak(
                    current,
                    current | REQUEST,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                continue;
            }
            wait_step(&mut step);
        };
        let _unlock = Unlock {
            version: &self.version,
            next: free,
        };
        read()
    }

    /// Resets every cell at once: sums to 0, extrema to empty. An owner's `update` is
    /// cancelled wholly or counted wholly after the reset. `also` runs in the same writing
    /// phase: what it stores (a group's gauges) is seen by a snapshot on the same side of
    /// the reset as the cells ([`snapshot_with`](Self::snapshot_with)).
    #[track_caller]
    pub fn reset_all(&self, kinds: &[CellKind; N], also: impl FnOnce()) {
        // What each shard holds, read between steps: in the waiting phase, since it waits for
        // steps in flight (a reader inside one of them must not wait for this reset).
        let count = || self.read_shards(kinds, [0; N]);
        let reset = |counted: [u64; N]| {
            for i in 0..N {
                match kinds[i] {
                    CellKind::Sum | CellKind::Approx => {
                        self.globals[i].store(counted[i].wrapping_neg(), Ordering::Relaxed)
                    }
                    CellKind::Epoch => bump_epoch(&self.globals[i]),
                    CellKind::Value | CellKind::Seq => {}
                }
            }
            also();
        };
        // A group with approximate fields also waits for in-flight limited adds, which work
        // outside `update` brackets' reach otherwise (`write_exclusive`).
        self.write_after_waiting(kinds.contains(&CellKind::Approx), count, reset);
    }

    /// Every cell combined as a snapshot sees it, and a reset of the sums and extrema, as one
    /// section: a group's `take`. Each shard is read between its owner's steps in the
    /// waiting phase (as `reset_all`), and the sums' new bases cancel exactly that read, so
    /// each `update` step's adds are in this take wholly or after it wholly, and every add
    /// in exactly one take or a later read. `build` runs in the writing phase on the cells
    /// as they were (sums with their old bases; each extremum's epoch and the best value of
    /// it), and what it loads beside them (a group's gauges, which keep their values) is of
    /// the same side of every reset.
    #[track_caller]
    pub fn take_all<R>(&self, kinds: &[CellKind; N], build: impl FnOnce(&[u64; N]) -> R) -> R {
        refuse_inside_update("a group's take()");
        let count = || {
            // Relaxed: under the version lock (its Acquire ordered the last writer's stores).
            let epochs = std::array::from_fn(|i| match kinds[i] {
                CellKind::Epoch => self.globals[i].load(Ordering::Relaxed),
                CellKind::Sum | CellKind::Approx | CellKind::Value | CellKind::Seq => 0,
            });
            self.read_shards(kinds, epochs)
        };
        let take = |counted: [u64; N]| {
            let mut held = counted;
            for i in 0..N {
                match kinds[i] {
                    CellKind::Sum | CellKind::Approx => {
                        // Relaxed: under the version lock, published by its Release.
                        let base = self.globals[i].load(Ordering::Relaxed);
                        held[i] = base.wrapping_add(counted[i]);
                        self.globals[i].store(counted[i].wrapping_neg(), Ordering::Relaxed);
                    }
                    CellKind::Epoch => bump_epoch(&self.globals[i]),
                    CellKind::Value | CellKind::Seq => {}
                }
            }
            build(&held)
        };
        self.write_after_waiting(kinds.contains(&CellKind::Approx), count, take)
    }

    /// Every shard's copy combined into `out` per `kinds` (sums added, extrema kept where
    /// the shard's epoch cell equals `out`'s), each copy read between its owner's steps.
    ///
    /// A copy whose step is open is not waited for at once: the first pass combines every
    /// copy that is between steps and keeps the others, and later passes (after a
    /// `wait_step` each: spinning, then yielding the CPU) retry only those. A writer
    /// preempted inside a step thus delays the read by its own wait alone, not each shard
    /// behind it, and the yields let it run.
    #[inline]
    fn read_shards(&self, kinds: &[CellKind; N], mut out: [u64; N]) -> [u64; N] {
        let mut combine = |cells: [u64; N]| {
            for i in 0..N {
                match kinds[i] {
                    CellKind::Sum | CellKind::Approx => out[i] = out[i].wrapping_add(cells[i]),
                    CellKind::Epoch if cells[i] == out[i] => {
                        out[i + 1] = out[i + 1].max(cells[i + 1]);
                    }
                    CellKind::Epoch | CellKind::Value | CellKind::Seq => {}
                }
            }
        };
        debug_assert_eq!(kinds[0], CellKind::Seq, "whole-run reads are for groups");
        let mut pending = Vec::new();
        self.for_each_copy(|copy| match self.read_consistent(copy) {
            Some(cells) => combine(cells),
            None => pending.push(copy),
        });
        let mut step = 0;
        while !pending.is_empty() {
            wait_step(&mut step);
            pending.retain(|copy| match self.read_consistent(copy) {
                Some(cells) => {
                    combine(cells);
                    false
                }
                None => true,
            });
        }
        out
    }

    /// One shard's copy of the run, as of one moment between its owner's `update`s: never
    /// half of one (when cell 0 is a sequence word). `None` if the owner was inside a step
    /// (or began one while the cells were read): `read_shards` comes back to it.
    #[inline]
    fn read_consistent(&self, copy: &[AtomicU64; N]) -> Option<[u64; N]> {
        let before = copy[0].load(Ordering::Acquire);
        if before & 1 == 1 {
            if self.is_own(copy) {
                inside_update("a group's snapshot() or reset()");
            }
            return None;
        }
        // Acquire on each cell, for two reasons. An epoch cell must be read before its value
        // cell (see `record_best`). And it is the seqlock's reader fence: a cell written
        // inside a step is written after the step's release fence, so an acquire load that
        // reads it synchronises with that fence, and the recheck below sees the odd sequence
        // word (no separate fence is needed; `docs/design.md` §9).
        let cells = std::array::from_fn(|i| copy[i].load(Ordering::Acquire));
        (copy[0].load(Ordering::Relaxed) == before).then_some(cells)
    }

    /// Whether `copy` is the calling thread's own. Never takes a shard or a run: a thread
    /// without a shard owns no copy (and taking one here could hand it the very shard whose
    /// odd sequence word it just read from an exiting owner).
    #[cold]
    fn is_own(&self, copy: &[AtomicU64; N]) -> bool {
        engine::own_cached(self.location.load(Ordering::Relaxed))
            .is_some_and(|own| std::ptr::eq(own, copy.as_ptr()))
    }
}

impl<const N: usize, S: Shards> Drop for Sharded<N, S> {
    fn drop(&mut self) {
        let location = self.location.get_mut();
        if location != 0 {
            // `&mut self`: every write to the run happened-before this drop.
            engine_of::<S>().free(location, N);
        }
    }
}

impl<const N: usize, S: Shards> std::fmt::Debug for Sharded<N, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharded")
            .field("location", &self.location.load(Ordering::Relaxed))
            .field("version", &self.version.load(Ordering::Relaxed))
            .field("globals", &self.globals)
            .finish()
    }
}

impl<const N: usize, S: Shards> Default for Sharded<N, S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` so that every write the owner makes to its copy `cells` of a group's run inside
/// it becomes visible to snapshots and resets all at once (`cells[0]` is the sequence word).
/// Must be called by the copy's owner. Nested calls join the outermost one. If `f` panics,
/// the bracket is closed anyway (the writes made so far stay), so readers never wait
/// forever.
#[inline]
pub fn update<R>(seq: &AtomicU64, f: impl FnOnce() -> R) -> R {
    struct Close<'a> {
        seq: &'a AtomicU64,
        even: u64,
    }
    impl Drop for Close<'_> {
        // Out of line, on purpose: inlining it puts the closing store right behind the
        // opening one, and `Histogram::record` then ran at 129 M/s at 2 threads against 169
        // with the call (same run, this AMD machine; docs/performance.md). The call is what
        // the compiler chose before this attribute was written down.
        #[inline(never)]
        fn drop(&mut self) {
            // Release: everything written inside the bracket happens-before a reader that
            // sees the even value.
            sync::store_owned(self.seq, self.even, Ordering::Release);
        }
    }

    // Only the owner writes `seq`, so a plain load sees its latest value.
    let before = sync::load_owned(seq);
    if before & 1 == 1 {
        return f(); // already inside an update on this thread
    }
    sync::store_owned(seq, before.wrapping_add(1), Ordering::Relaxed);
    // Release fence: a reader whose loads see any write made after this point, and that then
    // runs its acquire fence, also sees the odd `seq` and retries.
    fence(Ordering::Release);
    let _close = Close {
        seq,
        even: before.wrapping_add(2),
    };
    f()
}

sync::per_thread! {
    /// How many stat-group `update` closures the calling thread is inside.
    static IN_UPDATE: std::cell::Cell<u32> = std::cell::Cell::new(0);
}

/// A stat group's `update` step (what `stats!` expands `update` to): [`update`], with the
/// calling thread counted as inside a step while `f` runs, so that what could wait for other
/// threads' steps refuses to run there (`refuse_inside_update`).
#[inline]
pub fn group_update<R>(seq: &AtomicU64, f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let _ = IN_UPDATE.try_with(|n| n.set(n.get() - 1));
        }
    }
    IN_UPDATE.with(|n| n.set(n.get() + 1));
    let _leave = Leave;
    update(seq, f)
}

/// Panics if the calling thread is inside a stat group's `update` closure (of any group).
///
/// What calls this may wait for other threads' steps to end: a group's snapshot or reset,
/// an approximate field's set, a limited add or subtract. Inside a step, that wait could be
/// for this very step, or for another thread's step that is itself waiting for this one
/// (`A.update(|_| B.limited…)` on one thread, `B.update(|_| A.limited…)` on another). So
/// it is refused, with a message, whichever group the step belongs to.
#[inline]
#[track_caller]
pub(crate) fn refuse_inside_update(what: &str) {
    if IN_UPDATE.try_with(|n| n.get()).unwrap_or(0) > 0 {
        inside_update(what);
    }
}

/// Panics if the calling thread is inside a stat group's `update` closure and `cell` is a
/// group field's (a group's fields start at cell 1, after its sequence word; a standalone
/// counter's value is cell 0): for the field writes that take the version lock (`set`,
/// `reset`). A group reset holds that lock while it waits for the steps in flight, so such
/// a write inside a step waited for a reset that waited for the step (issue 25). A
/// standalone counter's lock is never held by anything that waits for a step.
#[inline]
#[track_caller]
pub(crate) fn refuse_group_write_inside_update(cell: usize, what: &str) {
    if cell > 0 {
        refuse_inside_update(what);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn inside_update(what: &str) -> ! {
    panic!(
        "shardstat: {what} was called inside a stat group's update() on the same thread; it \
         may wait for the updates in flight (this one, or another thread's that is waiting \
         for this one). Call it outside the update closure"
    )
}

/// Adds `n` to a cell that only the calling thread writes: a plain load and store, no
/// read-modify-write instruction. Relaxed: the cell orders nothing else, and a reader only
/// needs each cell's own modification order (which the single writer makes monotone).
#[inline(always)]
pub fn add_owned(cell: &AtomicU64, n: u64) {
    let value = keep_in_register(sync::load_owned(cell));
    sync::store_owned(cell, value.wrapping_add(n), Ordering::Relaxed);
}

/// Records `v` (already encoded so that larger is better) into an extremum pair of a shard
/// that only the calling thread writes.
///
/// A record that stores (a new best, or the first of an epoch) then checks that the epoch
/// it stored into is still current, and if a take or reset moved it meanwhile, records `v`
/// again into the new epoch. With the take's heavy barrier ([`Sharded::take_best`]) this is
/// a store-buffering pair: either the take's read of the shard sees the store, or the check
/// sees the take's new epoch. So a record racing a take is in that take or after it, never
/// in neither (`docs/design.md` §7, "Takes").
#[inline]
pub(crate) fn record_best(global_epoch: &AtomicU64, epoch: &AtomicU64, value: &AtomicU64, v: u64) {
    // Relaxed: an epoch read here only decides which epoch `v` belongs to. A record that
    // happened-before a reset reads the old epoch (coherence), so it is retired by it.
    let current = global_epoch.load(Ordering::Relaxed);
    if sync::load_owned(epoch) == current && v <= sync::load_owned(value) {
        return; // not a new best: the common case, inline, stores nothing
    }
    store_best::<true>(global_epoch, epoch, value, v, current);
}

/// [`record_best`]'s store, out of line (so the inlined record stays a few loads and
/// compares), with the check after it when `RECHECK` (always, outside the loom suite's
/// negative control `record_best_without_recheck`).
#[inline(never)]
fn store_best<const RECHECK: bool>(
    global_epoch: &AtomicU64,
    epoch: &AtomicU64,
    value: &AtomicU64,
    v: u64,
    mut current: u64,
) {
    loop {
        if sync::load_owned(epoch) == current {
            if v <= sync::load_owned(value) {
                return;
            }
            sync::store_owned(value, v, Ordering::Relaxed);
        } else {
            current = start_epoch(global_epoch, epoch, value, current, v);
        }
        if !RECHECK {
            return;
        }
        // The light barrier, then Relaxed: the store-buffering pair with `take_best`'s
        // odd epoch and heavy barrier (see above). A compiler fence where `membarrier` runs,
        // so the record gains no fence.
        sync::light_barrier();
        let now = global_epoch.load(Ordering::Relaxed);
        if now == current {
            return;
        }
        current = now;
    }
}

sync::model_only! {
    /// `record_best` without the check after a store: a record that stores into an epoch
    /// a take has just retired, after the take read the shard, is in no take.
    pub(crate) fn record_best_without_recheck(
        global_epoch: &AtomicU64,
        epoch: &AtomicU64,
        value: &AtomicU64,
        v: u64,
    ) {
        let current = global_epoch.load(Ordering::Relaxed);
        store_best::<false>(global_epoch, epoch, value, v, current);
    }
}

/// The first record of a new epoch in this shard: the value first, then (Release) the
/// epoch, so a reader that sees the new epoch (Acquire) also sees this value or a later one,
/// never a value of an older epoch. Returns the epoch it stored.
///
/// Epochs are even. An odd global epoch is a take reading the shards' values of the epoch
/// before it ([`Sharded::take_best`]); this shard's value may be one it has yet to read, so
/// the record waits for the take to publish the next even epoch before it overwrites
/// anything (shard epochs are even, so a record meets an odd epoch only here, on this cold
/// path). The take holds nothing a record needs, so the wait lasts the take's read.
#[cold]
#[inline(never)]
fn start_epoch(
    global_epoch: &AtomicU64,
    epoch: &AtomicU64,
    value: &AtomicU64,
    current: u64,
    v: u64,
) -> u64 {
    let mut current = current;
    let mut step = 0;
    while current & 1 == 1 {
        wait_step(&mut step);
        current = global_epoch.load(Ordering::Relaxed);
    }
    // Acquire fence: pairs with the Release store that ended a take (`take_best`), so
    // that take's loads of this shard happen-before the stores below and cannot see them.
    fence(Ordering::Acquire);
    sync::store_owned(value, v, Ordering::Relaxed);
    sync::store_owned(epoch, current, Ordering::Release);
    current
}

/// A shard's stored extremum value if it belongs to epoch `current`.
#[inline]
pub(crate) fn shard_best(epoch: &AtomicU64, value: &AtomicU64, current: u64) -> Option<u64> {
    // Acquire: pairs with `start_epoch`'s Release, so the value loaded after is this
    // epoch's.
    (epoch.load(Ordering::Acquire) == current).then(|| value.load(Ordering::Relaxed))
}

/// How far a reset moves an epoch: epochs are even, and an odd one is a take in progress
/// ([`Sharded::take_best`]).
const EPOCH_STEP: u64 = 2;

/// Advances an epoch word; called only under `write_locked`, so load + store is exclusive.
fn bump_epoch(epoch: &AtomicU64) {
    epoch.store(
        epoch.load(Ordering::Relaxed).wrapping_add(EPOCH_STEP),
        Ordering::Relaxed,
    );
}
