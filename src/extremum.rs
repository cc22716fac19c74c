//! [`Max`] and [`Min`]: the largest and smallest value recorded, sharded per thread, with
//! an O(1) race-free reset — one generic type, [`Extremum`], with two directions.
//!
//! An extremum is a pair of cells in each shard's arena: an epoch and a value. A reset bumps
//! the global epoch, which retires every shard's value at once without writing any shard.
//! The direction is an encoding, written once here ([`Direction::encode`]): `Max` stores the
//! value, `Min` stores `!value`, and both keep the largest stored value — so both start from
//! all-zero cells, which read as "nothing recorded".
//!
//! This module holds the standalone type, its group-field handle ([`ExtremumField`]) and its
//! local handle ([`LocalExtremum`]).

use crate::field::{self, Field, FieldKind, FieldParts, FieldValue, MetricKind, NoStorage};
use crate::sharded::{self, record_best, shard_best, Sharded};
use crate::sync::{self, AtomicU64, Ordering};
use std::fmt;
use std::marker::PhantomData;

/// Which extreme an [`Extremum`] keeps: [`Largest`] ([`Max`]) or [`Smallest`] ([`Min`]).
/// Sealed.
///
/// ```
/// use shardstat::{Direction, Largest, Smallest};
/// // Both keep the largest *stored* value; `Min` stores the complement.
/// assert_eq!(Largest::encode(7), 7);
/// assert_eq!(Smallest::encode(7), !7);
/// assert_eq!(Smallest::encode(Smallest::encode(7)), 7);
/// assert_eq!((Largest::NAME, Smallest::NAME), ("Max", "Min"));
/// ```
pub trait Direction: sealed::Sealed + Send + Sync + 'static {
    /// The type's name in `Debug` output (`"Max"` or `"Min"`).
    ///
    /// ```
    /// use shardstat::Direction;
    /// assert_eq!(format!("{:?}", shardstat::Min::new()), format!("{} {{ value: {} }}", shardstat::Smallest::NAME, u64::MAX));
    /// ```
    const NAME: &'static str;
    /// What an exporter calls it.
    ///
    /// ```
    /// use shardstat::{group::MetricKind, Direction, Largest};
    /// assert_eq!(Largest::METRIC_KIND, MetricKind::Max);
    /// ```
    const METRIC_KIND: MetricKind;
    /// The stored form of a value, such that the extreme value is the *largest* stored one.
    /// Its own inverse.
    ///
    /// ```
    /// use shardstat::{Direction, Smallest};
    /// // The smaller value has the larger stored form.
    /// assert!(Smallest::encode(3) > Smallest::encode(9));
    /// ```
    fn encode(value: u64) -> u64;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Largest {}
    impl Sealed for super::Smallest {}
}

/// The direction of [`Max`]: keeps the largest value.
///
/// ```
/// let m: shardstat::Extremum<shardstat::Largest> = shardstat::Max::new();
/// m.record(3);
/// m.record(8);
/// assert_eq!(m.get(), 8);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Largest;

/// The direction of [`Min`]: keeps the smallest value.
///
/// ```
/// let m: shardstat::Extremum<shardstat::Smallest> = shardstat::Min::new();
/// m.record(3);
/// m.record(8);
/// assert_eq!(m.get(), 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Smallest;

impl Direction for Largest {
    const NAME: &'static str = "Max";
    const METRIC_KIND: MetricKind = MetricKind::Max;
    #[inline(always)]
    fn encode(value: u64) -> u64 {
        value
    }
}

impl Direction for Smallest {
    const NAME: &'static str = "Min";
    const METRIC_KIND: MetricKind = MetricKind::Min;
    #[inline(always)]
    fn encode(value: u64) -> u64 {
        !value
    }
}

/// The largest `u64` recorded since creation or the last [`reset`](Extremum::reset); 0 if
/// nothing was (QEMU Stat64's `stat64_max`, Java's `LongAccumulator(Long::max)`).
///
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
pub type Max = Extremum<Largest>;

/// The smallest `u64` recorded since creation or the last [`reset`](Extremum::reset);
/// `u64::MAX` if nothing was (QEMU Stat64's `stat64_min`).
///
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
pub type Min = Extremum<Smallest>;

/// The calling thread's cells of a [`Max`] (or of a `Max` field of a stat group).
///
/// ```
/// let m = shardstat::Max::new();
/// let local: shardstat::LocalMax<'_> = m.local();
/// local.record(5);
/// assert_eq!(local.shard_value(), 5);
/// ```
pub type LocalMax<'a> = LocalExtremum<'a, Largest>;

/// The calling thread's cells of a [`Min`] (or of a `Min` field of a stat group).
///
/// ```
/// let m = shardstat::Min::new();
/// let local: shardstat::LocalMin<'_> = m.local();
/// local.record(5);
/// assert_eq!(local.shard_value(), 5);
/// ```
pub type LocalMin<'a> = LocalExtremum<'a, Smallest>;

/// A `Max` field of a stat group, as its accessor returns it.
///
/// ```
/// shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub worst: shardstat::Max } }
/// let g = G::new();
/// let field: shardstat::group::MaxField<'_, 3> = g.worst(); // 3 cells: sequence, epoch, value
/// field.record(9);
/// assert_eq!(field.get(), 9);
/// ```
pub type MaxField<'a, const N: usize> = ExtremumField<'a, Largest, N>;

/// A `Min` field of a stat group, as its accessor returns it.
///
/// ```
/// shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub best: shardstat::Min } }
/// let g = G::new();
/// let field: shardstat::group::MinField<'_, 3> = g.best();
/// field.record(9);
/// assert_eq!(field.get(), 9);
/// ```
pub type MinField<'a, const N: usize> = ExtremumField<'a, Smallest, N>;

/// The extreme value recorded since creation or the last reset, sharded per thread: use it
/// as [`Max`] or [`Min`].
///
/// [`record`](Extremum::record) writes only the calling thread's cells, and only when the
/// value beats that shard's best: recording a value that is not a new extreme is two loads
/// and a compare.
///
/// # Semantics
/// - Exact at rest: once every record happened-before a `get`, `get` is their maximum (for
///   `Max`) or minimum (for `Min`).
/// - Nothing lost when threads exit, start, or panic (as for [`Counter`](crate::Counter)).
/// - Without `reset`, successive `get`s on one thread never move away from the extreme
///   (a `Max` never decreases, a `Min` never increases).
/// - **Race-free reset:** no value recorded before a `reset` ever shows again after it (in
///   any `get` that starts after `reset` returns). A record concurrent with the reset either
///   shows after it or not at all.
/// - A new `Max`/`Min` is empty in every shard, even where it reuses the cells of a dropped
///   one.
///
/// - **Drains:** [`take`](Extremum::take) returns the extreme since the previous take and
///   starts afresh; a record racing it shows in its result or in a later take or `get`,
///   never in neither.
///
/// # Memory
/// 16 bytes (an epoch and a value) per thread that has recorded, in that thread's arena; the
/// `Max`/`Min` itself is 32 bytes.
pub struct Extremum<D: Direction> {
    /// Cell 0: the epoch; cell 1: the encoded value.
    cells: Sharded<2>,
    _direction: PhantomData<fn() -> D>,
}

/// The epoch is cell 0 of the pair, the value cell 1.
const EPOCH: usize = 0;

impl<D: Direction> Extremum<D> {
    sync::const_fn! {
        /// An empty extremum (a `Max` reads 0, a `Min` `u64::MAX`). `const`, so it can be a
        /// `static`.
        ///
        /// ```
        /// static PEAK: shardstat::Max = shardstat::Max::new();
        /// static FASTEST: shardstat::Min = shardstat::Min::new();
        /// assert_eq!((PEAK.get(), FASTEST.get()), (0, u64::MAX));
        /// ```
        pub fn new() -> Self {
            Extremum {
                cells: Sharded::new(),
                _direction: PhantomData,
            }
        }
    }

    /// Records `value`: a `Max` becomes at least `value`, a `Min` at most `value`.
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// for v in [3, 9, 4] {
    ///     m.record(v);
    /// }
    /// assert_eq!(m.get(), 9);
    /// let n = shardstat::Min::new();
    /// for v in [30, 12, 40] {
    ///     n.record(v);
    /// }
    /// assert_eq!(n.get(), 12);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.field().record(value);
    }

    /// The extreme value recorded since the last reset: the largest for a `Max` (0 if none),
    /// the smallest for a `Min` (`u64::MAX` if none).
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

    /// Forgets every value recorded so far: `get` reads empty until something new is
    /// recorded. O(1): no shard is walked or written.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// m.record(1);
    /// m.reset();
    /// assert_eq!(m.get(), u64::MAX);
    /// m.record(7);
    /// assert_eq!(m.get(), 7);
    /// ```
    pub fn reset(&self) {
        self.field().reset();
    }

    /// Returns the extreme value recorded since the previous `take` (or reset) and starts
    /// afresh, as one step: a drain, for exporting the worst (or best) value of each
    /// interval. **No record is lost from both sides**: a record racing the take shows in
    /// this take's result or in a later take or [`get`](Extremum::get) — never in neither,
    /// whatever runs concurrently (records on any number of threads, threads exiting, other
    /// takes, resets). A record may show on both sides, which an extreme value does not
    /// mind. Empty: 0 for a `Max`, `u64::MAX` for a `Min`.
    ///
    /// (A [`get`](Extremum::get) followed by a [`reset`](Extremum::reset) loses a record
    /// that lands between the two.) The take starts a new epoch, then runs one
    /// `membarrier(2)` system call (a `SeqCst` fence where that is unavailable), then reads
    /// each shard's value of the old epoch: microseconds, for a drain that runs once an
    /// interval. A record that stores a new extreme then pays one reload of the epoch word.
    ///
    /// ```
    /// use shardstat::Max;
    ///
    /// static LONGEST_STALL_US: Max = Max::new();
    /// LONGEST_STALL_US.record(120);
    /// LONGEST_STALL_US.record(80);
    /// assert_eq!(LONGEST_STALL_US.take(), 120); // the worst of this interval
    /// LONGEST_STALL_US.record(30);
    /// assert_eq!(LONGEST_STALL_US.take(), 30); // the worst of the next one
    /// assert_eq!(LONGEST_STALL_US.take(), 0); // nothing recorded since
    ///
    /// let fastest_ns = shardstat::Min::new();
    /// fastest_ns.record(450);
    /// assert_eq!(fastest_ns.take(), 450);
    /// assert_eq!(fastest_ns.take(), u64::MAX);
    /// ```
    pub fn take(&self) -> u64 {
        self.field().take()
    }

    /// A handle on the calling thread's cells, for loops. Neither `Send` nor `Sync`.
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
    pub fn local(&self) -> LocalExtremum<'_, D> {
        self.field().local()
    }

    /// The extremum's cells, for the crate's tests.
    #[cfg(test)]
    pub(crate) fn sharded(&self) -> &Sharded<2> {
        &self.cells
    }

    /// The extremum as the pair at cell 0 of its run (the methods live on the field handle,
    /// shared with stat groups).
    #[inline(always)]
    fn field(&self) -> ExtremumField<'_, D, 2> {
        ExtremumField::new(&self.cells, EPOCH)
    }
}

sync::model_only! {
    /// `Max::record` without the check after its store: the loom suite's negative control
    /// (a record racing a take lands in the retired epoch after the take read it).
    pub fn record_without_recheck(max: &Max, value: u64) {
        let cells = &max.cells;
        cells.with_own(|own| {
            sharded::record_best_without_recheck(cells.global(EPOCH), &own[EPOCH], &own[EPOCH + 1], value)
        });
    }

    /// `Max::take` moving the epoch straight to the next even one: the loom suite's negative
    /// control (a record that meets the new epoch overwrites a value the take has yet to
    /// read).
    pub fn take_without_odd_epoch(max: &Max) -> u64 {
        max.cells.take_best_without_odd_epoch(EPOCH)
    }
}

impl<D: Direction> Default for Extremum<D> {
    /// An empty extremum.
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Direction> fmt::Debug for Extremum<D> {
    /// Shows the current value: `Max { value: 9 }`, `Min { value: 12 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(D::NAME).field("value", &self.get()).finish()
    }
}

/// The three words an owning thread needs to record into an extremum.
#[derive(Clone, Copy)]
struct ExtremumCells<'a> {
    global_epoch: &'a AtomicU64,
    epoch: &'a AtomicU64,
    value: &'a AtomicU64,
}

impl<'a> ExtremumCells<'a> {
    /// The cells of the extremum at `cell` in the copy `own` of the calling thread.
    #[inline(always)]
    fn in_copy<const N: usize>(
        group: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
    ) -> Self {
        ExtremumCells {
            global_epoch: group.global(cell),
            epoch: &own[cell],
            value: &own[cell + 1],
        }
    }

    #[inline(always)]
    fn record(self, stored: u64) {
        record_best(self.global_epoch, self.epoch, self.value, stored);
    }

    /// This shard's stored value if it belongs to the current epoch, else 0 (empty).
    fn shard_best(self) -> u64 {
        // Relaxed: a diagnostic read of the calling thread's own cells.
        let current = self.global_epoch.load(Ordering::Relaxed);
        shard_best(self.epoch, self.value, current).unwrap_or(0)
    }
}

/// A [`Max`] or [`Min`] field of a stat group ([`MaxField`], [`MinField`]): the same methods
/// as the standalone type. Its `reset` retires only this field's values (each extremum field
/// has its own epoch).
///
/// ```
/// use shardstat::{stats, Max, Min};
/// stats! {
///     #[snapshot = LatencySnapshot]
///     #[local = LatencyLocal]
///     pub struct Latency {
///         pub worst_us: Max,
///         pub best_us: Min,
///     }
/// }
/// let l = Latency::new();
/// for us in [40, 25] {
///     l.worst_us().record(us);
///     l.best_us().record(us);
/// }
/// assert_eq!((l.worst_us().get(), l.best_us().get()), (40, 25));
/// ```
pub struct ExtremumField<'a, D: Direction, const N: usize> {
    group: &'a Sharded<N>,
    cell: usize,
    _direction: PhantomData<fn() -> D>,
}

impl<D: Direction, const N: usize> Clone for ExtremumField<'_, D, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D: Direction, const N: usize> Copy for ExtremumField<'_, D, N> {}

impl<'a, D: Direction, const N: usize> ExtremumField<'a, D, N> {
    #[inline(always)]
    fn new(group: &'a Sharded<N>, cell: usize) -> Self {
        ExtremumField {
            group,
            cell,
            _direction: PhantomData,
        }
    }

    /// Records `value`.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Max } }
    /// let g = G::new();
    /// g.m().record(7);
    /// assert_eq!(g.m().get(), 7);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        let (group, cell) = (self.group, self.cell);
        group
            .with_own(move |own| ExtremumCells::in_copy(group, own, cell).record(D::encode(value)));
    }

    /// The extreme value recorded since the last reset of this field (or of the group); 0
    /// for an empty `Max`, `u64::MAX` for an empty `Min`.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Min } }
    /// let g = G::new();
    /// assert_eq!(g.m().get(), u64::MAX);
    /// ```
    pub fn get(&self) -> u64 {
        D::encode(self.group.best(self.cell))
    }

    /// Forgets every value recorded into this field. O(1).
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Max } }
    /// let g = G::new();
    /// g.m().record(7);
    /// g.m().reset();
    /// assert_eq!(g.m().get(), 0);
    /// ```
    #[track_caller]
    pub fn reset(&self) {
        sharded::refuse_group_write_inside_update(self.cell, "a group field's reset()");
        self.group.new_epoch(self.cell);
    }

    /// Returns this field's extreme value since its previous take (or reset) and starts it
    /// afresh, as one step (see [`Extremum::take`]: a racing record shows in this take or
    /// after it, never in neither). A group's own `take()` also restarts the field, with a
    /// weaker promise: a record racing it may be retired without showing (module
    /// [`group`](crate::group)).
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread, as [`reset`](Self::reset).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub worst: shardstat::Max } }
    /// let g = G::new();
    /// g.worst().record(7);
    /// g.worst().record(3);
    /// assert_eq!(g.worst().take(), 7);
    /// assert_eq!(g.worst().get(), 0);
    /// ```
    #[track_caller]
    pub fn take(&self) -> u64 {
        sharded::refuse_group_write_inside_update(self.cell, "a group field's take()");
        D::encode(self.group.take_best(self.cell))
    }

    /// The calling thread's cells of this field.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Max } }
    /// let g = G::new();
    /// g.m().local().record(3);
    /// assert_eq!(g.m().get(), 3);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalExtremum<'a, D> {
        LocalExtremum::new(ExtremumCells::in_copy(
            self.group,
            self.group.own(),
            self.cell,
        ))
    }
}

impl<D: Direction, const N: usize> fmt::Debug for ExtremumField<'_, D, N> {
    /// Shows the field's value: `MaxField { value: 40 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&format!("{}Field", D::NAME))
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's cells of a [`Max`] or [`Min`] ([`LocalMax`], [`LocalMin`]), or of
/// such a field of a stat group. Neither `Send` nor `Sync`.
///
/// ```
/// let m = shardstat::Max::new();
/// let local = m.local();
/// local.record(4);
/// assert_eq!(m.get(), 4);
/// ```
pub struct LocalExtremum<'a, D: Direction> {
    cells: ExtremumCells<'a>,
    _direction: PhantomData<fn() -> D>,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a, D: Direction> LocalExtremum<'a, D> {
    #[inline]
    fn new(cells: ExtremumCells<'a>) -> Self {
        LocalExtremum {
            cells,
            _direction: PhantomData,
            _owner_thread: PhantomData,
        }
    }

    /// Records `value` into this thread's cells.
    ///
    /// ```
    /// let m = shardstat::Min::new();
    /// m.local().record(11);
    /// assert_eq!(m.get(), 11);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.cells.record(D::encode(value));
    }

    /// The extreme value this thread recorded since the last reset (empty: 0 for `Max`,
    /// `u64::MAX` for `Min`).
    ///
    /// ```
    /// let m = shardstat::Max::new();
    /// let local = m.local();
    /// assert_eq!(local.shard_value(), 0);
    /// local.record(11);
    /// assert_eq!(local.shard_value(), 11);
    /// ```
    pub fn shard_value(&self) -> u64 {
        D::encode(self.cells.shard_best())
    }
}

impl<D: Direction> fmt::Debug for LocalExtremum<'_, D> {
    /// Shows this thread's cells: `LocalMax { shard_value: 11 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&format!("Local{}", D::NAME))
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

impl<D: Direction> field::sealed::Sealed for Extremum<D> {}

impl<D: Direction> Field for Extremum<D> {
    const METRIC_KIND: MetricKind = D::METRIC_KIND;
    const WIDTH: usize = 2;
    type Value = u64;
    type Handle<'a, const N: usize> = ExtremumField<'a, D, N>;
    type Local<'a> = LocalExtremum<'a, D>;
    const EMPTY: u64 = match D::METRIC_KIND {
        MetricKind::Min => u64::MAX,
        _ => 0,
    };
    fn delta(newer: u64, _older: u64) -> u64 {
        newer
    }
}

impl<D: Direction> FieldParts for Extremum<D> {
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Extremum;
    type Stored = NoStorage;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        _: &'a NoStorage,
    ) -> ExtremumField<'a, D, N> {
        ExtremumField::new(group, cell)
    }
    fn local<'a, const N: usize>(
        group: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        _: &'a NoStorage,
    ) -> LocalExtremum<'a, D> {
        LocalExtremum::new(ExtremumCells::in_copy(group, own, cell))
    }
    fn value(raw: &[u64], cell: usize, _: &NoStorage) -> u64 {
        D::encode(raw[cell + 1])
    }
    fn reset_stored(_: &NoStorage) {}
}
