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

#[doc(hidden)]
pub use crate::approx::Carried;
pub use crate::approx::{ApproxCounterField, ApproxUpDownCounterField, GenericApproxCounterField};
pub use crate::counter::{CounterField, GenericCounterField, UpDownCounterField};
pub use crate::extremum::{ExtremumField, MaxField, MinField};
pub use crate::field::{Field, FieldValue, MetricKind};
#[doc(hidden)]
pub use crate::field::{FieldKind, NoStorage};

use crate::sharded::CellKind;

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

/// The first cell of field number `index`, given every field's width: cell 0 is the
/// group's sequence word, the fields follow in declaration order.
#[doc(hidden)]
pub const fn cell_of(widths: &[usize], index: usize) -> usize {
    let mut cell = 1;
    let mut i = 0;
    while i < index {
        cell += widths[i];
        i += 1;
    }
    cell
}

/// What each of the `N` cells of a group's run holds, given every field's kind.
#[doc(hidden)]
pub const fn cell_kinds<const N: usize>(fields: &[FieldKind]) -> [CellKind; N] {
    let mut kinds = [CellKind::Sum; N];
    kinds[0] = CellKind::Seq;
    let mut cell = 1;
    let mut i = 0;
    while i < fields.len() {
        match fields[i] {
            FieldKind::Sum => {
                kinds[cell] = CellKind::Sum;
                cell += 1;
            }
            FieldKind::Approx => {
                kinds[cell] = CellKind::Approx;
                cell += 1;
            }
            FieldKind::Extremum => {
                kinds[cell] = CellKind::Epoch;
                kinds[cell + 1] = CellKind::Value;
                cell += 2;
            }
            FieldKind::Unsharded => {}
        }
        i += 1;
    }
    assert!(cell == N, "cell count mismatch");
    kinds
}

/// The bytes one thread's copy of a group of `N` cells takes in its arena.
#[doc(hidden)]
pub const fn copy_bytes<const N: usize>() -> usize {
    N * std::mem::size_of::<u64>()
}

/// A field's name as written, without the `r#` of a raw identifier (`r#type` is `type`):
/// what exporters, `Debug` and `serde` call the field.
#[doc(hidden)]
pub const fn field_name(written: &'static str) -> &'static str {
    match written.as_bytes() {
        [b'r', b'#', rest @ ..] => match core::str::from_utf8(rest) {
            Ok(name) => name,
            Err(_) => written,
        },
        _ => written,
    }
}

/// Implemented by no type: `stats!` asks for it of a field named like one of the group's
/// own methods, so that the compiler's message names the field.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot name a field of a `stats!` group",
    label = "a group already has a method of this name",
    note = "a group's own methods are `new`, `local`, `snapshot` and `reset`: rename the field"
)]
pub trait FieldNameIsFree {}
