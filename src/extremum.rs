//! [`Max`] and [`Min`]: the largest and smallest value recorded, sharded per thread, with
//! a race-free reset.
//!
//! Both are an extremum pair in a [`Core`]: per shard an epoch cell and a value cell. A
//! reset bumps the global epoch, which retires every shard's value at once without writing
//! any shard. `Min` stores `!v` and takes the largest, so both start from all-zero shards.

use crate::core::{record_best, Core};
use crate::group::{MaxField, MinField};
use crate::sync::AtomicU64;
use std::fmt;
use std::marker::PhantomData;

/// Slot 0 holds the epoch, slot 1 the value.
const EPOCH: usize = 0;

/// The three words an owning thread needs to record into an extremum.
#[derive(Clone, Copy)]
pub(crate) struct ExtremumCells<'a> {
    global_epoch: &'a AtomicU64,
    epoch: &'a AtomicU64,
    value: &'a AtomicU64,
}

impl<'a> ExtremumCells<'a> {
    #[inline]
    pub(crate) fn of<const N: usize>(core: &'a Core<N>, slot: usize) -> Self {
        Self::in_shard(core, core.shard(), slot)
    }

    /// The cells of the extremum at `slot` in a shard the caller already holds.
    #[inline]
    pub(crate) fn in_shard<const N: usize>(
        core: &'a Core<N>,
        shard: &'a crate::core::Block<N>,
        slot: usize,
    ) -> Self {
        ExtremumCells {
            global_epoch: core.global(slot),
            epoch: shard.cell(slot),
            value: shard.cell(slot + 1),
        }
    }

    #[inline]
    pub(crate) fn record(self, stored: u64) {
        record_best(self.global_epoch, self.epoch, self.value, stored);
    }

    /// This shard's stored value if it belongs to the current epoch, else 0 (empty).
    fn shard_best(self) -> u64 {
        use crate::sync::Ordering;
        let current = self.global_epoch.load(Ordering::Relaxed);
        if self.epoch.load(Ordering::Acquire) == current {
            self.value.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

/// The largest `u64` recorded since creation or the last [`reset`](Max::reset); 0 if
/// nothing was (QEMU Stat64's `stat64_max`, Java's `LongAccumulator(Long::max)`).
///
/// [`record`](Max::record) writes only the calling thread's shard, and only when the value
/// beats that shard's best: recording a value that is not a new maximum is two loads and a
/// compare.
///
/// # Semantics
/// - Exact at rest: once every record happened-before a `get`, `get` is their maximum.
/// - Nothing lost when threads exit, start, or panic (as for [`Counter`](crate::Counter)).
/// - Without `reset`, successive `get`s on one thread never decrease.
/// - **Race-free reset:** no value recorded before a `reset` ever shows again after it
///   (in any `get` that starts after `reset` returns). A record concurrent with the reset
///   either shows after it or not at all.
///
/// # Example
/// ```
/// use shardstat::Max;
///
/// static LONGEST_STALL_US: Max = Max::new();
///
/// std::thread::scope(|s| {
///     s.spawn(|| LONGEST_STALL_US.record(120));
///     s.spawn(|| LONGEST_STALL_US.record(80));
/// });
/// assert_eq!(LONGEST_STALL_US.get(), 120);
/// LONGEST_STALL_US.reset();
/// assert_eq!(LONGEST_STALL_US.get(), 0);
/// ```
pub struct Max {
    core: Core<2>,
}

impl Max {
    crate::const_fn! {
        /// An empty `Max` (reads 0). `const`, so it can be a `static`.
        ///
        /// ```
        /// static PEAK: shardstat::Max = shardstat::Max::new();
        /// assert_eq!(PEAK.get(), 0);
        /// ```
        pub fn new() -> Self {
            Max { core: Core::new() }
        }
    }

    /// Records `value`: the `Max` becomes at least `value`.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// m.record(3);
    /// m.record(9);
    /// m.record(4);
    /// assert_eq!(m.get(), 9);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.field().record(value);
    }

    /// The largest value recorded since the last reset, or 0 if none.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// assert_eq!(m.get(), 0);
    /// m.record(5);
    /// assert_eq!(m.get(), 5);
    /// ```
    pub fn get(&self) -> u64 {
        self.field().get()
    }

    /// Forgets every value recorded so far: `get` reads 0 until something new is recorded.
    /// O(1): no shard is walked or written.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// m.record(50);
    /// m.reset();
    /// m.record(7);
    /// assert_eq!(m.get(), 7);
    /// ```
    pub fn reset(&self) {
        self.field().reset();
    }

    /// A handle on the calling thread's shard, for loops. Neither `Send` nor `Sync`.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// let local = m.local();
    /// for latency in [3, 17, 5] {
    ///     local.record(latency);
    /// }
    /// assert_eq!(m.get(), 17);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalMax<'_> {
        self.field().local()
    }

    /// The extremum as the pair at slot 0 of its core (the methods live on the field
    /// handle, shared with stat groups).
    #[inline]
    fn field(&self) -> MaxField<'_, 2> {
        MaxField::new(&self.core, EPOCH)
    }
}

impl Default for Max {
    /// An empty `Max` (reads 0).
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Max {
    /// Shows the current value: `Max { value: 9 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Max").field("value", &self.get()).finish()
    }
}

/// The smallest `u64` recorded since creation or the last [`reset`](Min::reset);
/// `u64::MAX` if nothing was (QEMU Stat64's `stat64_min`).
///
/// The same design, costs and semantics as [`Max`]: recording a value that is not a new
/// minimum is two loads and a compare, and no value recorded before a `reset` ever shows
/// again after it.
///
/// # Example
/// ```
/// use shardstat::Min;
///
/// let fastest_ns = Min::new();
/// std::thread::scope(|s| {
///     s.spawn(|| fastest_ns.record(900));
///     s.spawn(|| fastest_ns.record(450));
/// });
/// assert_eq!(fastest_ns.get(), 450);
/// fastest_ns.reset();
/// assert_eq!(fastest_ns.get(), u64::MAX);
/// ```
pub struct Min {
    core: Core<2>,
}

impl Min {
    crate::const_fn! {
        /// An empty `Min` (reads `u64::MAX`). `const`, so it can be a `static`.
        ///
        /// ```
        /// static FASTEST: shardstat::Min = shardstat::Min::new();
        /// assert_eq!(FASTEST.get(), u64::MAX);
        /// ```
        pub fn new() -> Self {
            Min { core: Core::new() }
        }
    }

    /// Records `value`: the `Min` becomes at most `value`.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// m.record(30);
    /// m.record(12);
    /// m.record(40);
    /// assert_eq!(m.get(), 12);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.field().record(value);
    }

    /// The smallest value recorded since the last reset, or `u64::MAX` if none.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// assert_eq!(m.get(), u64::MAX);
    /// m.record(5);
    /// assert_eq!(m.get(), 5);
    /// ```
    pub fn get(&self) -> u64 {
        self.field().get()
    }

    /// Forgets every value recorded so far: `get` reads `u64::MAX` until something new is
    /// recorded. O(1).
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// m.record(1);
    /// m.reset();
    /// m.record(7);
    /// assert_eq!(m.get(), 7);
    /// ```
    pub fn reset(&self) {
        self.field().reset();
    }

    /// A handle on the calling thread's shard, for loops. Neither `Send` nor `Sync`.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// let local = m.local();
    /// for rtt in [30, 12, 19] {
    ///     local.record(rtt);
    /// }
    /// assert_eq!(m.get(), 12);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalMin<'_> {
        self.field().local()
    }

    /// The extremum as the pair at slot 0 of its core (the methods live on the field
    /// handle, shared with stat groups).
    #[inline]
    fn field(&self) -> MinField<'_, 2> {
        MinField::new(&self.core, EPOCH)
    }
}

impl Default for Min {
    /// An empty `Min` (reads `u64::MAX`).
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Min {
    /// Shows the current value: `Min { value: 12 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Min").field("value", &self.get()).finish()
    }
}

/// The calling thread's shard of a [`Max`] (or of a `Max` field of a stat group).
/// Neither `Send` nor `Sync`.
///
/// ```
/// let m = shardstat::Max::new();
/// let local = m.local();
/// local.record(4);
/// assert_eq!(m.get(), 4);
/// ```
pub struct LocalMax<'a> {
    cells: ExtremumCells<'a>,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a> LocalMax<'a> {
    #[inline]
    pub(crate) fn new(cells: ExtremumCells<'a>) -> Self {
        LocalMax {
            cells,
            _owner_thread: PhantomData,
        }
    }

    /// Records `value` into this thread's shard.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// m.local().record(11);
    /// assert_eq!(m.get(), 11);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.cells.record(value);
    }

    /// The largest value this thread recorded since the last reset, or 0 if none.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// let local = m.local();
    /// assert_eq!(local.shard_value(), 0);
    /// local.record(11);
    /// assert_eq!(local.shard_value(), 11);
    /// ```
    pub fn shard_value(&self) -> u64 {
        self.cells.shard_best()
    }
}

impl fmt::Debug for LocalMax<'_> {
    /// Shows this thread's shard: `LocalMax { shard_value: 11 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalMax")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

/// The calling thread's shard of a [`Min`] (or of a `Min` field of a stat group).
/// Neither `Send` nor `Sync`.
///
/// ```
/// let m = shardstat::Min::new();
/// let local = m.local();
/// local.record(4);
/// assert_eq!(m.get(), 4);
/// ```
pub struct LocalMin<'a> {
    cells: ExtremumCells<'a>,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a> LocalMin<'a> {
    #[inline]
    pub(crate) fn new(cells: ExtremumCells<'a>) -> Self {
        LocalMin {
            cells,
            _owner_thread: PhantomData,
        }
    }

    /// Records `value` into this thread's shard.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// m.local().record(11);
    /// assert_eq!(m.get(), 11);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.cells.record(!value);
    }

    /// The smallest value this thread recorded since the last reset, or `u64::MAX` if none.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// let local = m.local();
    /// assert_eq!(local.shard_value(), u64::MAX);
    /// local.record(11);
    /// assert_eq!(local.shard_value(), 11);
    /// ```
    pub fn shard_value(&self) -> u64 {
        !self.cells.shard_best()
    }
}

impl fmt::Debug for LocalMin<'_> {
    /// Shows this thread's shard: `LocalMin { shard_value: 4 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalMin")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}
