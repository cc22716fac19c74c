//! Stat groups: structs of counters sharded together, declared with [`stats!`].
//!
//! A group is one run of cells in the engine (see `docs/design.md` §2): its sequence word
//! first, then each sharded field's cells, so each thread's copy of the *whole* group is a
//! few consecutive words of its arena — the way Linux's per-CPU allocator packs per-CPU
//! variables — a multi-field step touches one or two cache lines, and a snapshot reads one
//! copy per thread. QEMU's migration statistics (13 cells and the sequence word) take 112
//! bytes per thread.
//!
//! This module holds the [`Field`] trait that maps each field type to what the group gives
//! for it, the [`Group`] trait exporters are written against, and the layout helpers the
//! macro expands to. Each field type's handle lives with the type (`CounterField` with
//! [`Counter`](crate::Counter), and so on). See [`stats!`] for the macro itself.
//!
//! [`stats!`]: crate::stats

pub use crate::approx::{ApproxCounterField, ApproxUpDownCounterField, GenericApproxCounterField};
pub use crate::counter::{CounterField, GenericCounterField, UpDownCounterField};
pub use crate::extremum::{ExtremumField, MaxField, MinField};
pub use crate::field::{Field, FieldValue, MetricKind};

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
