//! [`Counter`]: a monotone `u64` sharded per thread, with its group-field handle
//! ([`CounterField`]) and its local handle ([`LocalCounter`]).

use crate::field::{self, Field, FieldKind, FieldValue, MetricKind, NoStorage};
use crate::sharded::{self, add_owned, Sharded};
use crate::sync::{self, AtomicU64};
use std::fmt;
use std::marker::PhantomData;

/// A monotone 64-bit counter, sharded per thread: `add` costs a plain load and store on a
/// cell that only the calling thread writes.
///
/// Each thread that adds has its own 8-byte cell of the counter, in its arena beside its
/// cells of every other counter ([`crate`] docs, "Memory"). [`get`](Counter::get) sums the
/// cells. Use it where many threads add and few read — bytes sent per channel, pages scanned, requests served. Where adds are
/// rare, or the hot path *reads* the value, a plain [`AtomicU64`](std::sync::atomic::AtomicU64)
/// is smaller and just as fast.
///
/// # Semantics
/// 1. **Exact at rest.** Once every add happened-before a `get` (the adding threads were
///    joined, or handed over through a lock or channel), `get` returns the exact sum,
///    wrapping at `u64::MAX` like [`u64::wrapping_add`].
/// 2. **Nothing lost, nothing counted twice** — under contention; when a thread exits (its
///    count stays in the total, and a new thread that is given the exited thread's shard
///    carries on from it); when threads start while a `get` walks the shards; when a thread
///    panics after adding.
/// 3. **Monotone reads.** Without `set`/`reset`, successive `get`s on one thread never
///    decrease (until the sum wraps).
/// 4. **Exact, race-free `set`/`reset`.** An add concurrent with `set(v)` is counted on top
///    of `v` or not at all — never twice, never in part. With no concurrent adds, `get` after
///    `set(v)` is `v`; every add that starts after `set` returns is counted on top of `v`. A
///    `get` sees a `set` wholly or not at all.
/// 5. **No locked instruction on the add path**, and only the owning thread writes its cell
///    of a live counter: `set` works by adjusting a base, never by writing into shards.
/// 6. **A new counter starts at 0 everywhere**, even where it reuses the cells of a dropped
///    one: dropping a counter clears its cells in every shard (by then nothing writes them).
///
/// # Memory
/// 8 bytes per thread that has added, in that thread's arena. The counter takes its place in
/// every arena at its first use (a counter never used takes none) and gives it back when it
/// is dropped. Shards are
/// reused after a thread exits, so memory follows the peak number of threads alive at once,
/// not the number ever created. The `Counter` itself is 24 bytes.
///
/// # Example
/// ```
/// use shardstat::Counter;
///
/// static PAGES_SENT: Counter = Counter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1000 {
///                 PAGES_SENT.inc();
///             }
///         });
///     }
/// });
/// assert_eq!(PAGES_SENT.get(), 4000);
/// ```
pub struct Counter {
    cells: Sharded<1>,
}

impl Counter {
    sync::const_fn! {
        /// A counter at 0. `const`, so a counter can be a `static`.
        ///
        /// ```
        /// static REQUESTS: shardstat::Counter = shardstat::Counter::new();
        /// assert_eq!(REQUESTS.get(), 0);
        /// ```
        pub fn new() -> Self {
            Counter {
                cells: Sharded::new(),
            }
        }
    }

    /// Adds `n`, wrapping at `u64::MAX`.
    ///
    /// ```
    /// let bytes = shardstat::Counter::new();
    /// bytes.add(4096);
    /// bytes.add(512);
    /// assert_eq!(bytes.get(), 4608);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        self.field().add(n);
    }

    /// Adds 1.
    ///
    /// ```
    /// let syncs = shardstat::Counter::new();
    /// syncs.inc();
    /// assert_eq!(syncs.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The sum of every thread's adds (since the last `set`/`reset`), wrapping.
    ///
    /// Walks one cache line per thread that has added. Adds that happened-before the call are
    /// all included; adds concurrent with it may or may not be.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(2));
    ///     s.spawn(|| c.add(3));
    /// });
    /// assert_eq!(c.get(), 5);
    /// ```
    pub fn get(&self) -> u64 {
        self.field().get()
    }

    /// Makes the counter read `value`, exactly, even while other threads add: each
    /// concurrent add is counted on top of `value` or not at all.
    ///
    /// Walks the shards once; never writes into them.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.add(10);
    /// c.set(100);
    /// c.add(1);
    /// assert_eq!(c.get(), 101);
    /// ```
    pub fn set(&self, value: u64) {
        self.field().set(value);
    }

    /// Makes the counter at least `value`, exactly, even while other threads add: if it
    /// reads less, it becomes `value` plus the adds that land after this call read it; if it
    /// reads `value` or more, nothing changes. It never goes backwards — a reader never sees
    /// it fall — which a [`get`](Counter::get) followed by a [`set`](Counter::set) cannot
    /// promise (adds between the two are cancelled). The `metrics` facade's
    /// `Counter::absolute`.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.add(10);
    /// c.raise_to(25);
    /// assert_eq!(c.get(), 25);
    /// c.raise_to(5); // already above: no change
    /// c.inc();
    /// assert_eq!(c.get(), 26);
    /// ```
    pub fn raise_to(&self, value: u64) {
        self.cells.raise_sum(0, value);
    }

    /// Sets the counter to 0 (exactly as [`set(0)`](Counter::set)).
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.add(7);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops that add many times: it skips the
    /// per-add shard lookup. It cannot leave the thread (it is neither `Send` nor `Sync`).
    ///
    /// Use it while the thread runs, not from a thread-local's destructor: once a thread's
    /// thread-locals are being destroyed, the shard the handle found may already have been
    /// returned, and be another thread's. There, call [`add`](Counter::add), which finds a
    /// shard afresh (and returns it when the destructor ends).
    ///
    /// ```
    /// let pages = shardstat::Counter::new();
    /// let local = pages.local();
    /// for _ in 0..1_000 {
    ///     local.inc();
    /// }
    /// assert_eq!(pages.get(), 1_000);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalCounter<'_> {
        self.field().local()
    }

    /// The counter as cell 0 of its one-cell run: the methods live on the field handle,
    /// shared with stat groups.
    #[inline(always)]
    fn field(&self) -> CounterField<'_, 1> {
        CounterField::new(&self.cells, 0)
    }

    /// The counter's cells, for the crate's tests.
    #[cfg(test)]
    pub(crate) fn sharded(&self) -> &Sharded<1> {
        &self.cells
    }
}

impl Default for Counter {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Counter {
    /// Shows the current value: `Counter { value: 42 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of a [`Counter`] (or of a counter field of a stat group),
/// found once: [`add`](LocalCounter::add) is then a load and a store, nothing more.
///
/// Neither `Send` nor `Sync`: the shard belongs to the thread that made the handle, and
/// only that thread may write it. Moving one to another thread does not compile:
///
/// ```compile_fail,E0277
/// let c = shardstat::Counter::new();
/// let local = c.local();
/// std::thread::scope(|s| {
///     s.spawn(move || local.inc()); // error[E0277]: `*const ()` cannot be sent between threads
/// });
/// ```
///
/// Do not keep one in a thread-local whose destructor runs after the thread has released
/// its shard (another thread may then own it); a `LocalCounter` on the stack,
/// as in the example, is always fine.
///
/// ```
/// use shardstat::Counter;
///
/// let zero_pages = Counter::new();
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let local = zero_pages.local();
///             for _ in 0..500 {
///                 local.inc();
///             }
///         });
///     }
/// });
/// assert_eq!(zero_pages.get(), 1_000);
/// ```
pub struct LocalCounter<'a> {
    cell: &'a AtomicU64,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a> LocalCounter<'a> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64) -> Self {
        LocalCounter {
            cell,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n` to the counter, wrapping.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.local().add(64);
    /// assert_eq!(c.get(), 64);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        add_owned(self.cell, n);
    }

    /// Adds 1 to the counter.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.local().inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// This thread's cell: what this thread (and any exited thread whose shard it took over)
    /// has added in total, before any `set`/`reset` is applied (those adjust the counter's
    /// base, not the cells).
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// let local = c.local();
    /// local.add(3);
    /// assert_eq!(local.shard_value(), 3);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> u64 {
        self.cell.load(crate::sync::Ordering::Relaxed)
    }
}

impl fmt::Debug for LocalCounter<'_> {
    /// Shows this thread's shard: `LocalCounter { shard_value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

/// A [`Counter`] field of a stat group: the same methods as [`Counter`], on the group's
/// shared cells. Returned by the group's accessor method.
///
/// ```
/// use shardstat::{stats, Counter};
/// stats! {
///     #[snapshot = NetSnapshot]
///     #[local = NetLocal]
///     pub struct Net {
///         pub packets: Counter,
///     }
/// }
/// let net = Net::new();
/// net.packets().inc();
/// net.packets().add(2);
/// assert_eq!(net.packets().get(), 3);
/// ```
#[derive(Clone, Copy)]
pub struct CounterField<'a, const N: usize> {
    group: &'a Sharded<N>,
    cell: usize,
}

impl<'a, const N: usize> CounterField<'a, N> {
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize) -> Self {
        CounterField { group, cell }
    }

    /// Adds `n`, wrapping (see [`Counter::add`]).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().add(5);
    /// assert_eq!(g.c().get(), 5);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        let cell = self.cell;
        self.group.with_own(move |cells| add_owned(&cells[cell], n));
    }

    /// Adds 1.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().inc();
    /// assert_eq!(g.c().get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The field's sum over every thread (see [`Counter::get`]).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| g.c().add(2));
    ///     s.spawn(|| g.c().add(3));
    /// });
    /// assert_eq!(g.c().get(), 5);
    /// ```
    pub fn get(&self) -> u64 {
        self.group.sum(self.cell)
    }

    /// Makes this field read `value`, exactly, even under concurrent adds (see
    /// [`Counter::set`]). The other fields are untouched.
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().add(9);
    /// g.c().set(100);
    /// assert_eq!(g.c().get(), 100);
    /// ```
    pub fn set(&self, value: u64) {
        sharded::refuse_group_write_inside_update(self.cell, "a group field's set() or reset()");
        self.group.set(self.cell, value);
    }

    /// Sets this field to 0.
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().add(9);
    /// g.c().reset();
    /// assert_eq!(g.c().get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// The calling thread's shard of this field (see [`Counter::local`]).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// let c = g.c().local();
    /// c.add(4);
    /// assert_eq!(g.c().get(), 4);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalCounter<'a> {
        LocalCounter::new(&self.group.own()[self.cell])
    }
}

impl<const N: usize> fmt::Debug for CounterField<'_, N> {
    /// Shows the field's value: `CounterField { value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CounterField")
            .field("value", &self.get())
            .finish()
    }
}

impl field::sealed::Sealed for Counter {}

impl Field for Counter {
    const METRIC_KIND: MetricKind = MetricKind::Counter;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Sum;
    const WIDTH: usize = 1;
    type Stored = NoStorage;
    type Value = u64;
    type Handle<'a, const N: usize> = CounterField<'a, N>;
    type Local<'a> = LocalCounter<'a>;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        _: &'a NoStorage,
    ) -> CounterField<'a, N> {
        CounterField::new(group, cell)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        _: &'a NoStorage,
    ) -> LocalCounter<'a> {
        LocalCounter::new(&own[cell])
    }
    fn value(raw: &[u64], cell: usize, _: &NoStorage) -> u64 {
        raw[cell]
    }
    fn reset_stored(_: &NoStorage) {}
    const EMPTY: Self::Value = 0;
    fn delta(newer: u64, older: u64) -> u64 {
        newer.wrapping_sub(older)
    }
}
