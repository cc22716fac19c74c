//! [`UpDownCounter`]: a signed `i64` sharded per thread, with its group-field handle
//! ([`UpDownCounterField`]) and its local handle ([`LocalUpDownCounter`]).

use crate::field::{self, Field, FieldKind, FieldValue, MetricKind, NoStorage};
use crate::sharded::{self, add_owned, Sharded};
use crate::sync::{self, AtomicU64};
use std::fmt;
use std::marker::PhantomData;

/// A signed 64-bit counter that goes up and down, sharded per thread (the signed use of
/// Java's `LongAdder` and Linux's `percpu_counter`): in-flight requests, queued bytes,
/// outstanding pages.
///
/// Shards hold two's-complement deltas, so one thread may add what another subtracts. It
/// has the same semantics and costs as [`Counter`](crate::Counter) — exact at rest, nothing
/// lost or counted twice, exact race-free `set`/`reset`, no locked instruction on `add` —
/// except that reads are not monotone, and the sum wraps at `i64::MAX`/`i64::MIN` like
/// [`i64::wrapping_add`].
///
/// While adds and subtracts race with a read, the read may see a subtract before the add it
/// pairs with, just as a single atomic read between them would.
///
/// # Example
/// ```
/// use shardstat::UpDownCounter;
///
/// static IN_FLIGHT: UpDownCounter = UpDownCounter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..100 {
///                 IN_FLIGHT.inc();
///                 IN_FLIGHT.dec();
///             }
///             IN_FLIGHT.add(2);
///         });
///     }
/// });
/// assert_eq!(IN_FLIGHT.get(), 8);
/// ```
pub struct UpDownCounter {
    cells: Sharded<1>,
}

impl UpDownCounter {
    sync::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`.
        ///
        /// ```
        /// static QUEUED: shardstat::UpDownCounter = shardstat::UpDownCounter::new();
        /// assert_eq!(QUEUED.get(), 0);
        /// ```
        pub fn new() -> Self {
            UpDownCounter {
                cells: Sharded::new(),
            }
        }
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
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
    /// let c = shardstat::UpDownCounter::new();
    /// c.sub(3);
    /// assert_eq!(c.get(), -3);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.dec();
    /// assert_eq!(c.get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// The sum of every thread's adds and subtracts (since the last `set`/`reset`).
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(10));
    ///     s.spawn(|| c.sub(4));
    /// });
    /// assert_eq!(c.get(), 6);
    /// ```
    pub fn get(&self) -> i64 {
        self.field().get()
    }

    /// Makes the counter read `value`, exactly, even while other threads add: each
    /// concurrent add is counted on top of `value` or not at all.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.add(10);
    /// c.set(-5);
    /// c.add(1);
    /// assert_eq!(c.get(), -4);
    /// ```
    pub fn set(&self, value: i64) {
        self.field().set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.add(7);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops: it skips the per-add lookup.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// let local = c.local();
    /// local.add(10);
    /// local.sub(3);
    /// assert_eq!(c.get(), 7);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalUpDownCounter<'_> {
        self.field().local()
    }

    /// The counter's cells, for the crate's tests.
    #[cfg(test)]
    pub(crate) fn sharded(&self) -> &Sharded<1> {
        &self.cells
    }

    /// The counter as cell 0 of its one-cell run (the methods live on the field handle).
    #[inline]
    /// [`get`](Self::get) with each shard's cell read as two 32-bit halves and no sequence
    /// check: on a target without 64-bit atomics, what a reader that skipped the check would
    /// see (a torn value while a write crosses 2^32). Only for the torn-read test's negative
    /// control; split-cell builds only (`shardstat::__private::SPLIT_CELLS`).
    #[doc(hidden)]
    #[cfg(shardstat_split_word)]
    pub fn __get_without_sequence_check(&self) -> i64 {
        self.cells.raw_sum_unchecked(0) as i64
    }

    fn field(&self) -> UpDownCounterField<'_, 1> {
        UpDownCounterField::new(&self.cells, 0)
    }
}

impl Default for UpDownCounter {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for UpDownCounter {
    /// Shows the current value: `UpDownCounter { value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpDownCounter")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`UpDownCounter`] (or of such a field of a stat
/// group). Neither `Send` nor `Sync`.
///
/// ```
/// let c = shardstat::UpDownCounter::new();
/// let local = c.local();
/// local.inc();
/// local.inc();
/// local.dec();
/// assert_eq!(c.get(), 1);
/// ```
pub struct LocalUpDownCounter<'a> {
    cell: &'a AtomicU64,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a> LocalUpDownCounter<'a> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64) -> Self {
        LocalUpDownCounter {
            cell,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n` (which may be negative).
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().add(-2);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        add_owned(self.cell, n as u64);
    }

    /// Subtracts `n`.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().sub(2);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().dec();
    /// assert_eq!(c.get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// This thread's shard: its own net adds (before any `set`/`reset` is applied).
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// let local = c.local();
    /// local.sub(4);
    /// assert_eq!(local.shard_value(), -4);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> i64 {
        self.cell.load(crate::sync::Ordering::Relaxed) as i64
    }
}

impl fmt::Debug for LocalUpDownCounter<'_> {
    /// Shows this thread's shard: `LocalUpDownCounter { shard_value: -4 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalUpDownCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

/// An [`UpDownCounter`] field of a stat group: the same methods as [`UpDownCounter`].
///
/// ```
/// use shardstat::{stats, UpDownCounter};
/// stats! {
///     #[snapshot = QueueSnapshot]
///     #[local = QueueLocal]
///     pub struct Queue {
///         pub depth: UpDownCounter,
///     }
/// }
/// let q = Queue::new();
/// q.depth().add(3);
/// q.depth().sub(5);
/// assert_eq!(q.depth().get(), -2);
/// ```
#[derive(Clone, Copy)]
pub struct UpDownCounterField<'a, const N: usize> {
    group: &'a Sharded<N>,
    cell: usize,
}

impl<'a, const N: usize> UpDownCounterField<'a, N> {
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize) -> Self {
        UpDownCounterField { group, cell }
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().add(-4);
    /// assert_eq!(g.d().get(), -4);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        let cell = self.cell;
        self.group
            .with_own(move |cells| add_owned(&cells[cell], n as u64));
    }

    /// Subtracts `n`, wrapping.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().sub(4);
    /// assert_eq!(g.d().get(), -4);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Adds 1.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().inc();
    /// assert_eq!(g.d().get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts 1.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().dec();
    /// assert_eq!(g.d().get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// The field's sum over every thread.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| g.d().add(10));
    ///     s.spawn(|| g.d().sub(3));
    /// });
    /// assert_eq!(g.d().get(), 7);
    /// ```
    pub fn get(&self) -> i64 {
        self.group.sum(self.cell) as i64
    }

    /// Makes this field read `value`, exactly, even under concurrent adds.
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().set(-8);
    /// assert_eq!(g.d().get(), -8);
    /// ```
    pub fn set(&self, value: i64) {
        sharded::refuse_group_write_inside_update(self.cell, "a group field's set() or reset()");
        self.group.set(self.cell, value as u64);
    }

    /// Sets this field to 0.
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().add(8);
    /// g.d().reset();
    /// assert_eq!(g.d().get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// The calling thread's shard of this field.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().local().dec();
    /// assert_eq!(g.d().get(), -1);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalUpDownCounter<'a> {
        LocalUpDownCounter::new(&self.group.own()[self.cell])
    }
}

impl<const N: usize> fmt::Debug for UpDownCounterField<'_, N> {
    /// Shows the field's value: `UpDownCounterField { value: -2 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpDownCounterField")
            .field("value", &self.get())
            .finish()
    }
}

impl field::sealed::Sealed for UpDownCounter {}

impl Field for UpDownCounter {
    const METRIC_KIND: MetricKind = MetricKind::UpDownCounter;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Signed(value)
    }
    const KIND: FieldKind = FieldKind::Sum;
    const WIDTH: usize = 1;
    type Stored = NoStorage;
    type Value = i64;
    type Handle<'a, const N: usize> = UpDownCounterField<'a, N>;
    type Local<'a> = LocalUpDownCounter<'a>;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        _: &'a NoStorage,
    ) -> UpDownCounterField<'a, N> {
        UpDownCounterField::new(group, cell)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        _: &'a NoStorage,
    ) -> LocalUpDownCounter<'a> {
        LocalUpDownCounter::new(&own[cell])
    }
    fn value(raw: &[u64], cell: usize, _: &NoStorage) -> i64 {
        raw[cell] as i64
    }
    fn reset_stored(_: &NoStorage) {}
    const EMPTY: Self::Value = 0;
    fn delta(newer: i64, older: i64) -> i64 {
        newer.wrapping_sub(older)
    }
}
