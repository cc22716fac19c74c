//! What a type must give to be a field of a stat group: the [`Field`] trait, which each
//! field type implements in its own module, and the exporters' view of a field
//! ([`MetricKind`], [`FieldValue`]). Re-exported from [`crate::group`].

use crate::sharded::Sharded;
use crate::sync::AtomicU64;
use std::fmt;

/// Seals [`Field`]: each field type implements it in its own module.
pub(crate) mod sealed {
    pub trait Sealed {}
}

/// How a field is stored in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// One sum cell (`Counter`, `UpDownCounter`).
    Sum,
    /// One sum cell whose batches are carried into a word beside the group
    /// (`ApproxCounter`, `ApproxUpDownCounter`).
    Approx,
    /// An epoch cell and a value cell (`Max`, `Min`).
    Extremum,
    /// No cell: a plain atomic beside the arenas (`Gauge`).
    Unsharded,
}

/// A type that can be a field of a [`stats!`](crate::stats) group: [`Counter`](crate::Counter),
/// [`UpDownCounter`](crate::UpDownCounter), [`ApproxCounter`](crate::ApproxCounter),
/// [`ApproxUpDownCounter`](crate::ApproxUpDownCounter), [`Max`](crate::Max),
/// [`Min`](crate::Min) or [`Gauge`](crate::Gauge). Sealed: the group layout depends on
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
    note = "a group's fields must be `Counter`, `UpDownCounter`, `ApproxCounter`, \
            `ApproxUpDownCounter`, `Max`, `Min` or `Gauge` (import them from `shardstat`)",
    note = "per-CPU counters (`shardstat::percpu`) cannot be group fields: a group's `update` \
            step writes several cells, and a restartable sequence commits exactly one store"
)]
pub trait Field: sealed::Sealed {
    /// How many 8-byte cells the field takes in each thread's copy of the group.
    const WIDTH: usize;
    /// The field's value in a snapshot.
    type Value: Copy + fmt::Debug + Default + PartialEq + Eq + std::hash::Hash;
    /// What the group's accessor method returns.
    type Handle<'a, const N: usize>;
    /// The field in a local handle.
    type Local<'a>;
    /// `newer − older` for a sum (wrapping), the newer value for anything else: what a
    /// snapshot's `Sub` gives per field, for rates.
    fn delta(newer: Self::Value, older: Self::Value) -> Self::Value;
    /// What the field reads with nothing recorded — new, or just reset: 0, or `u64::MAX`
    /// for a `Min`. A snapshot's `Default` is made of these, so it equals the snapshot of a
    /// new or reset group.
    const EMPTY: Self::Value;
    /// What kind of metric the field is, for exporters.
    const METRIC_KIND: MetricKind;
}

/// How the `stats!` macro lays out a [`Field`] and builds its handles: the half of a field
/// type that is not API (sharded-slab's pattern: a public trait, and the crate's extension
/// beside it). Reached only through `__private`, for the macro's expansion.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `stats!` group",
    label = "not a shardstat field type",
    note = "a group's fields must be `Counter`, `UpDownCounter`, `ApproxCounter`, \
            `ApproxUpDownCounter`, `Max`, `Min` or `Gauge` (import them from `shardstat`)"
)]
pub trait FieldParts: Field {
    /// How the field is stored in a group.
    const KIND: FieldKind;
    /// What the group keeps beside its cells for this field (a [`Gauge`](crate::Gauge)'s
    /// atomic; `NoStorage` for sharded fields). Its inherent `new()` is `const`, so a
    /// group's `new()` can be.
    type Stored: Send + Sync;
    /// The group accessor's handle on the field at `cell`.
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        stored: &'a Self::Stored,
    ) -> Self::Handle<'a, N>;
    /// The field in a local handle whose copy is `own`.
    fn local<'a, const N: usize>(
        group: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        stored: &'a Self::Stored,
    ) -> Self::Local<'a>;
    /// The field's value from a snapshot's raw cells.
    fn value(raw: &[u64], cell: usize, stored: &Self::Stored) -> Self::Value;
    /// What a group `reset` does to the stored part.
    fn reset_stored(stored: &Self::Stored);
    /// A snapshot value as an exporter's value.
    fn field_value(value: Self::Value) -> FieldValue;
}

/// What a group keeps beside its cells for a sharded field: nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStorage;

impl NoStorage {
    /// Nothing.
    pub const fn new() -> Self {
        NoStorage
    }
}

/// What kind of metric a group field is, for exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A [`Counter`](crate::Counter): monotone between resets.
    Counter,
    /// An [`UpDownCounter`](crate::UpDownCounter).
    UpDownCounter,
    /// A [`Max`](crate::Max).
    Max,
    /// A [`Min`](crate::Min).
    Min,
    /// A [`Gauge`](crate::Gauge).
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
