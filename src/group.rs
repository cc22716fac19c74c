//! Stat groups: structs of counters sharded together, declared with [`stats!`].
//!
//! Sharding each field of a statistics struct on its own costs one padded shard per field
//! per thread, and one cache line per field on every read. A group is one [`Core`] whose
//! slots are the fields, so each thread's shard of the *whole* group is one densely packed,
//! padded block — the way Linux's per-CPU allocator packs per-CPU variables — and a snapshot
//! reads one block per thread. Eleven counters (QEMU's migration counters) take 96 bytes:
//! one 128-byte shard per thread on x86-64 instead of 11 × 128.
//!
//! This module holds the field handle types the macro's accessors return, and the [`Field`]
//! trait that maps each field type to them. See [`stats!`] for the macro itself.
//!
//! [`stats!`]: crate::stats

use crate::core::{Block, Core, SlotKind};
use crate::extremum::ExtremumCells;
use crate::{
    Counter, Gauge, LocalCounter, LocalMax, LocalMin, LocalUpDownCounter, Max, Min, UpDownCounter,
};
use std::fmt;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Counter {}
    impl Sealed for crate::UpDownCounter {}
    impl Sealed for crate::Max {}
    impl Sealed for crate::Min {}
    impl Sealed for crate::Gauge {}
}

/// How a field is stored in a group.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// One sum slot (`Counter`, `UpDownCounter`).
    Sum,
    /// An epoch slot and a value slot (`Max`, `Min`).
    Extremum,
    /// No slot: a plain atomic beside the shards (`Gauge`).
    Unsharded,
}

/// A type that can be a field of a [`stats!`](crate::stats) group: [`Counter`],
/// [`UpDownCounter`], [`Max`], [`Min`] or [`Gauge`]. Sealed: the group layout depends on
/// knowing every kind.
///
/// The associated types say what each part of a group gives for the field: the group's
/// accessor method returns a [`Handle`](Field::Handle) (with the same methods as the
/// standalone type), the local handle has a [`Local`](Field::Local), and the snapshot a
/// [`Value`](Field::Value).
///
/// ```
/// use shardstat::group::Field;
/// // A group's `Counter` field reads as a `u64` in a snapshot, a `Max` too, an
/// // `UpDownCounter` as an `i64`.
/// let _: <shardstat::Counter as Field>::Value = 0u64;
/// let _: <shardstat::UpDownCounter as Field>::Value = -1i64;
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `stats!` group",
    label = "not a shardstat field type",
    note = "a group's fields must be `Counter`, `UpDownCounter`, `Max`, `Min` or `Gauge` \
            (import them from `shardstat`)"
)]
pub trait Field: sealed::Sealed {
    #[doc(hidden)]
    const KIND: FieldKind;
    /// How many 64-bit cells the field takes in each thread's shard.
    const WIDTH: usize;
    /// What the group keeps beside its shards for this field (a [`Gauge`]'s atomic; `()`
    /// for sharded fields).
    #[doc(hidden)]
    type Stored: Send + Sync;
    #[doc(hidden)]
    #[cfg(not(loom))]
    const STORED: Self::Stored;
    #[doc(hidden)]
    #[cfg(loom)]
    fn stored() -> Self::Stored;
    /// The field's value in a snapshot.
    type Value: Copy + fmt::Debug + Default + PartialEq + Eq + std::hash::Hash;
    /// What the group's accessor method returns.
    type Handle<'a, const N: usize>;
    /// The field in a local handle.
    type Local<'a>;
    #[doc(hidden)]
    fn handle<'a, const N: usize>(
        core: &'a Core<N>,
        slot: usize,
        stored: &'a Self::Stored,
    ) -> Self::Handle<'a, N>;
    #[doc(hidden)]
    fn local<'a, const N: usize>(
        core: &'a Core<N>,
        shard: &'a Block<N>,
        slot: usize,
        stored: &'a Self::Stored,
    ) -> Self::Local<'a>;
    #[doc(hidden)]
    fn value(raw: &[u64], slot: usize, stored: &Self::Stored) -> Self::Value;
    #[doc(hidden)]
    fn reset_stored(stored: &Self::Stored);
    /// `newer − older` for a sum (wrapping), the newer value for anything else: what a
    /// snapshot's `Sub` gives per field, for rates.
    fn delta(newer: Self::Value, older: Self::Value) -> Self::Value;
    /// What kind of metric the field is, for exporters.
    const METRIC_KIND: MetricKind;
    /// A snapshot value as an exporter's value.
    #[doc(hidden)]
    fn field_value(value: Self::Value) -> FieldValue;
}

impl Field for Counter {
    const METRIC_KIND: MetricKind = MetricKind::Counter;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Sum;
    const WIDTH: usize = 1;
    type Stored = ();
    #[cfg(not(loom))]
    const STORED: () = ();
    #[cfg(loom)]
    fn stored() {}
    type Value = u64;
    type Handle<'a, const N: usize> = CounterField<'a, N>;
    type Local<'a> = LocalCounter<'a>;
    fn handle<'a, const N: usize>(
        core: &'a Core<N>,
        slot: usize,
        _: &'a (),
    ) -> CounterField<'a, N> {
        CounterField { core, slot }
    }
    fn local<'a, const N: usize>(
        _: &'a Core<N>,
        shard: &'a Block<N>,
        slot: usize,
        _: &'a (),
    ) -> LocalCounter<'a> {
        LocalCounter::new(shard.cell(slot))
    }
    fn value(raw: &[u64], slot: usize, _: &()) -> u64 {
        raw[slot]
    }
    fn reset_stored(_: &()) {}
    fn delta(newer: u64, older: u64) -> u64 {
        newer.wrapping_sub(older)
    }
}

impl Field for UpDownCounter {
    const METRIC_KIND: MetricKind = MetricKind::UpDownCounter;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Signed(value)
    }
    const KIND: FieldKind = FieldKind::Sum;
    const WIDTH: usize = 1;
    type Stored = ();
    #[cfg(not(loom))]
    const STORED: () = ();
    #[cfg(loom)]
    fn stored() {}
    type Value = i64;
    type Handle<'a, const N: usize> = UpDownCounterField<'a, N>;
    type Local<'a> = LocalUpDownCounter<'a>;
    fn handle<'a, const N: usize>(
        core: &'a Core<N>,
        slot: usize,
        _: &'a (),
    ) -> UpDownCounterField<'a, N> {
        UpDownCounterField { core, slot }
    }
    fn local<'a, const N: usize>(
        _: &'a Core<N>,
        shard: &'a Block<N>,
        slot: usize,
        _: &'a (),
    ) -> LocalUpDownCounter<'a> {
        LocalUpDownCounter::new(shard.cell(slot))
    }
    fn value(raw: &[u64], slot: usize, _: &()) -> i64 {
        raw[slot] as i64
    }
    fn reset_stored(_: &()) {}
    fn delta(newer: i64, older: i64) -> i64 {
        newer.wrapping_sub(older)
    }
}

impl Field for Max {
    const METRIC_KIND: MetricKind = MetricKind::Max;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Extremum;
    const WIDTH: usize = 2;
    type Stored = ();
    #[cfg(not(loom))]
    const STORED: () = ();
    #[cfg(loom)]
    fn stored() {}
    type Value = u64;
    type Handle<'a, const N: usize> = MaxField<'a, N>;
    type Local<'a> = LocalMax<'a>;
    fn handle<'a, const N: usize>(core: &'a Core<N>, slot: usize, _: &'a ()) -> MaxField<'a, N> {
        MaxField { core, slot }
    }
    fn local<'a, const N: usize>(
        core: &'a Core<N>,
        shard: &'a Block<N>,
        slot: usize,
        _: &'a (),
    ) -> LocalMax<'a> {
        LocalMax::new(ExtremumCells::in_shard(core, shard, slot))
    }
    fn value(raw: &[u64], slot: usize, _: &()) -> u64 {
        raw[slot + 1]
    }
    fn reset_stored(_: &()) {}
    fn delta(newer: u64, _older: u64) -> u64 {
        newer
    }
}

impl Field for Min {
    const METRIC_KIND: MetricKind = MetricKind::Min;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Extremum;
    const WIDTH: usize = 2;
    type Stored = ();
    #[cfg(not(loom))]
    const STORED: () = ();
    #[cfg(loom)]
    fn stored() {}
    type Value = u64;
    type Handle<'a, const N: usize> = MinField<'a, N>;
    type Local<'a> = LocalMin<'a>;
    fn handle<'a, const N: usize>(core: &'a Core<N>, slot: usize, _: &'a ()) -> MinField<'a, N> {
        MinField { core, slot }
    }
    fn local<'a, const N: usize>(
        core: &'a Core<N>,
        shard: &'a Block<N>,
        slot: usize,
        _: &'a (),
    ) -> LocalMin<'a> {
        LocalMin::new(ExtremumCells::in_shard(core, shard, slot))
    }
    fn value(raw: &[u64], slot: usize, _: &()) -> u64 {
        !raw[slot + 1]
    }
    fn reset_stored(_: &()) {}
    fn delta(newer: u64, _older: u64) -> u64 {
        newer
    }
}

impl Field for Gauge {
    const METRIC_KIND: MetricKind = MetricKind::Gauge;
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Unsharded;
    const WIDTH: usize = 0;
    type Stored = Gauge;
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)] // a fresh gauge for each group
    const STORED: Gauge = Gauge::new();
    #[cfg(loom)]
    fn stored() -> Gauge {
        Gauge::new()
    }
    type Value = u64;
    type Handle<'a, const N: usize> = &'a Gauge;
    type Local<'a> = &'a Gauge;
    fn handle<'a, const N: usize>(_: &'a Core<N>, _: usize, stored: &'a Gauge) -> &'a Gauge {
        stored
    }
    fn local<'a, const N: usize>(
        _: &'a Core<N>,
        _: &'a Block<N>,
        _: usize,
        stored: &'a Gauge,
    ) -> &'a Gauge {
        stored
    }
    fn value(_: &[u64], _: usize, stored: &Gauge) -> u64 {
        stored.get()
    }
    fn reset_stored(stored: &Gauge) {
        stored.set(0);
    }
    fn delta(newer: u64, _older: u64) -> u64 {
        newer
    }
}

/// What kind of metric a group field is, for exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A [`Counter`]: monotone between resets.
    Counter,
    /// An [`UpDownCounter`].
    UpDownCounter,
    /// A [`Max`].
    Max,
    /// A [`Min`].
    Min,
    /// A [`Gauge`].
    Gauge,
}

/// A group field's value, for exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// The value of a `Counter`, `Max`, `Min` or `Gauge` field.
    Unsigned(u64),
    /// The value of an `UpDownCounter` field.
    Signed(i64),
}

/// A group field's name, doc comment and kind, for exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// The field's name.
    pub name: &'static str,
    /// The field's doc comment, as written (empty if it has none).
    pub help: &'static str,
    /// What kind of metric it is.
    pub kind: MetricKind,
}

/// Implemented by every [`stats!`](crate::stats) group: the fields' names, doc comments and
/// kinds, and their values from one snapshot. Exporters (the `prometheus-client` feature)
/// are written against it.
///
/// ```
/// use shardstat::group::{FieldValue, Group, MetricKind};
/// use shardstat::{stats, Counter, UpDownCounter};
///
/// stats! {
///     #[snapshot = S]
///     #[local = L]
///     pub struct Queue {
///         /// Jobs taken.
///         pub taken: Counter,
///         /// Jobs waiting.
///         pub depth: UpDownCounter,
///     }
/// }
/// assert_eq!(Queue::FIELDS[0].name, "taken");
/// assert_eq!(Queue::FIELDS[0].help.trim(), "Jobs taken.");
/// assert_eq!(Queue::FIELDS[1].kind, MetricKind::UpDownCounter);
/// let q = Queue::new();
/// q.depth().sub(2);
/// assert_eq!(q.field_values(), [FieldValue::Unsigned(0), FieldValue::Signed(-2)]);
/// ```
pub trait Group: Send + Sync {
    /// The group's type name.
    const NAME: &'static str;
    /// Every field, in declaration order.
    const FIELDS: &'static [FieldInfo];
    /// Every field's value, in declaration order, from one snapshot.
    fn field_values(&self) -> Vec<FieldValue>;
}

/// The first slot of field number `index`, given every field's width.
#[doc(hidden)]
pub const fn slot_of(widths: &[usize], index: usize) -> usize {
    let mut slot = 0;
    let mut i = 0;
    while i < index {
        slot += widths[i];
        i += 1;
    }
    slot
}

/// What each of the `N` slots holds, given every field's kind.
#[doc(hidden)]
pub const fn slot_kinds<const N: usize>(fields: &[FieldKind]) -> [SlotKind; N] {
    let mut kinds = [SlotKind::Sum; N];
    let mut slot = 0;
    let mut i = 0;
    while i < fields.len() {
        match fields[i] {
            FieldKind::Sum => {
                kinds[slot] = SlotKind::Sum;
                slot += 1;
            }
            FieldKind::Extremum => {
                kinds[slot] = SlotKind::Epoch;
                kinds[slot + 1] = SlotKind::Value;
                slot += 2;
            }
            FieldKind::Unsharded => {}
        }
        i += 1;
    }
    assert!(slot == N, "slot count mismatch");
    kinds
}

/// The bytes one thread's shard of a group with `N` slots takes.
#[doc(hidden)]
pub const fn shard_bytes<const N: usize>() -> usize {
    std::mem::size_of::<crossbeam_utils::CachePadded<Block<N>>>()
}

/// A [`Counter`] field of a stat group: the same methods as [`Counter`], on the group's
/// shared shards. Returned by the group's accessor method.
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
    core: &'a Core<N>,
    slot: usize,
}

impl<'a, const N: usize> CounterField<'a, N> {
    pub(crate) fn new(core: &'a Core<N>, slot: usize) -> Self {
        CounterField { core, slot }
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
        crate::core::add_owned(self.core.shard().cell(self.slot), n);
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
        self.core.sum(self.slot)
    }

    /// Makes this field read `value`, exactly, even under concurrent adds (see
    /// [`Counter::set`]). The other fields are untouched.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().add(9);
    /// g.c().set(100);
    /// assert_eq!(g.c().get(), 100);
    /// ```
    pub fn set(&self, value: u64) {
        self.core.set(self.slot, value);
    }

    /// Sets this field to 0.
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
        LocalCounter::new(self.core.shard().cell(self.slot))
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
    core: &'a Core<N>,
    slot: usize,
}

impl<'a, const N: usize> UpDownCounterField<'a, N> {
    pub(crate) fn new(core: &'a Core<N>, slot: usize) -> Self {
        UpDownCounterField { core, slot }
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
        crate::core::add_owned(self.core.shard().cell(self.slot), n as u64);
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
        self.core.sum(self.slot) as i64
    }

    /// Makes this field read `value`, exactly, even under concurrent adds.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub d: shardstat::UpDownCounter } }
    /// let g = G::new();
    /// g.d().set(-8);
    /// assert_eq!(g.d().get(), -8);
    /// ```
    pub fn set(&self, value: i64) {
        self.core.set(self.slot, value as u64);
    }

    /// Sets this field to 0.
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
        LocalUpDownCounter::new(self.core.shard().cell(self.slot))
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

/// A [`Max`] field of a stat group: the same methods as [`Max`]. Its `reset` retires only
/// this field's values (each extremum field has its own epoch).
///
/// ```
/// use shardstat::{stats, Max};
/// stats! {
///     #[snapshot = LatencySnapshot]
///     #[local = LatencyLocal]
///     pub struct Latency {
///         pub worst_us: Max,
///     }
/// }
/// let l = Latency::new();
/// l.worst_us().record(40);
/// l.worst_us().record(25);
/// assert_eq!(l.worst_us().get(), 40);
/// ```
#[derive(Clone, Copy)]
pub struct MaxField<'a, const N: usize> {
    core: &'a Core<N>,
    slot: usize,
}

impl<'a, const N: usize> MaxField<'a, N> {
    pub(crate) fn new(core: &'a Core<N>, slot: usize) -> Self {
        MaxField { core, slot }
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
        ExtremumCells::of(self.core, self.slot).record(value);
    }

    /// The largest value recorded since the last reset of this field (or of the group),
    /// or 0.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Max } }
    /// let g = G::new();
    /// assert_eq!(g.m().get(), 0);
    /// ```
    pub fn get(&self) -> u64 {
        self.core.best(self.slot)
    }

    /// Forgets every value recorded into this field. O(1).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Max } }
    /// let g = G::new();
    /// g.m().record(7);
    /// g.m().reset();
    /// assert_eq!(g.m().get(), 0);
    /// ```
    pub fn reset(&self) {
        self.core.new_epoch(self.slot);
    }

    /// The calling thread's shard of this field.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Max } }
    /// let g = G::new();
    /// g.m().local().record(3);
    /// assert_eq!(g.m().get(), 3);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalMax<'a> {
        LocalMax::new(ExtremumCells::of(self.core, self.slot))
    }
}

impl<const N: usize> fmt::Debug for MaxField<'_, N> {
    /// Shows the field's value: `MaxField { value: 40 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxField")
            .field("value", &self.get())
            .finish()
    }
}

/// A [`Min`] field of a stat group: the same methods as [`Min`].
///
/// ```
/// use shardstat::{stats, Min};
/// stats! {
///     #[snapshot = RttSnapshot]
///     #[local = RttLocal]
///     pub struct Rtt {
///         pub best_us: Min,
///     }
/// }
/// let r = Rtt::new();
/// r.best_us().record(40);
/// r.best_us().record(25);
/// assert_eq!(r.best_us().get(), 25);
/// ```
#[derive(Clone, Copy)]
pub struct MinField<'a, const N: usize> {
    core: &'a Core<N>,
    slot: usize,
}

impl<'a, const N: usize> MinField<'a, N> {
    pub(crate) fn new(core: &'a Core<N>, slot: usize) -> Self {
        MinField { core, slot }
    }

    /// Records `value`.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Min } }
    /// let g = G::new();
    /// g.m().record(7);
    /// assert_eq!(g.m().get(), 7);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        ExtremumCells::of(self.core, self.slot).record(!value);
    }

    /// The smallest value recorded since the last reset, or `u64::MAX`.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Min } }
    /// let g = G::new();
    /// assert_eq!(g.m().get(), u64::MAX);
    /// ```
    pub fn get(&self) -> u64 {
        !self.core.best(self.slot)
    }

    /// Forgets every value recorded into this field. O(1).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Min } }
    /// let g = G::new();
    /// g.m().record(7);
    /// g.m().reset();
    /// assert_eq!(g.m().get(), u64::MAX);
    /// ```
    pub fn reset(&self) {
        self.core.new_epoch(self.slot);
    }

    /// The calling thread's shard of this field.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub m: shardstat::Min } }
    /// let g = G::new();
    /// g.m().local().record(3);
    /// assert_eq!(g.m().get(), 3);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalMin<'a> {
        LocalMin::new(ExtremumCells::of(self.core, self.slot))
    }
}

impl<const N: usize> fmt::Debug for MinField<'_, N> {
    /// Shows the field's value: `MinField { value: 25 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinField")
            .field("value", &self.get())
            .finish()
    }
}
