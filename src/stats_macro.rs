//! The `stats!` macro.

/// Declares a **stat group**: a struct of counters sharded together, so that each thread's
/// share of the whole group is one run of consecutive cells in its arena.
///
/// ```
/// use shardstat::{stats, Counter, Gauge, Max};
///
/// stats! {
///     /// What one migration channel did.
///     #[snapshot = ChannelSnapshot]
///     #[local = ChannelLocal]
///     pub struct ChannelStats {
///         /// Pages sent.
///         pub pages: Counter,
///         /// Bytes sent.
///         pub bytes: Counter,
///         /// The largest packet, in bytes.
///         pub largest_packet: Max,
///         /// Bytes per second, set by the rate thread.
///         pub rate: Gauge,
///     }
/// }
///
/// static STATS: ChannelStats = ChannelStats::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             let local = STATS.local(); // this thread's shard, found once for all fields
///             for _ in 0..100 {
///                 // A consistent step: snapshots see all of it or none of it.
///                 local.update(|l| {
///                     l.pages.inc();
///                     l.bytes.add(4096);
///                     l.largest_packet.record(4096);
///                 });
///             }
///         });
///     }
/// });
/// let before = STATS.snapshot();
/// assert_eq!(before.pages, 400);
/// assert_eq!(before.bytes, 400 * 4096);
/// STATS.pages().add(10); // per-field access, as on a standalone Counter
/// let delta = STATS.snapshot() - before; // Sub: per-field differences, for rates
/// assert_eq!(delta.pages, 10);
/// STATS.reset(); // the whole group, exactly, even under concurrent updates
/// assert_eq!(STATS.snapshot(), ChannelSnapshot::default());
/// ```
///
/// # Syntax
/// Doc comments, then `#[snapshot = Name]` and `#[local = Name]` naming the two companion
/// types, then a struct whose fields are [`Counter`](crate::Counter),
/// [`UpDownCounter`](crate::UpDownCounter), [`Max`](crate::Max), [`Min`](crate::Min) or
/// [`Gauge`](crate::Gauge), each with optional doc comments and a visibility. Anything else
/// is a compile error that says what is wrong: an unknown field type ("`Foo` cannot be a
/// field of a `stats!` group"), a duplicate field ("field `x` is already declared"), or a
/// missing or misplaced `#[snapshot]`/`#[local]`.
///
/// ```compile_fail,E0277
/// // error[E0277]: `String` cannot be a field of a `stats!` group
/// shardstat::stats! {
///     #[snapshot = S]
///     #[local = L]
///     pub struct G {
///         pub name: String,
///     }
/// }
/// ```
///
/// ```compile_fail,E0124
/// // error[E0124]: field `pages` is already declared
/// use shardstat::Counter;
/// shardstat::stats! {
///     #[snapshot = S]
///     #[local = L]
///     pub struct G {
///         pub pages: Counter,
///         pub pages: Counter,
///     }
/// }
/// ```
///
/// ```compile_fail
/// // error: stats!: name the companion types before the struct: `#[snapshot = Name]` ...
/// use shardstat::Counter;
/// shardstat::stats! {
///     pub struct G {
///         pub pages: Counter,
///     }
/// }
/// ```
///
/// A field named like one of the group's own methods (`new`, `local`, `snapshot`, `reset`,
/// `take`) is refused: the first error names the field (rustc points at the `stats!`
/// invocation, not at the field's line), then the duplicate method's:
///
/// ```compile_fail,E0277
/// // error[E0277]: `new` cannot name a field of a `stats!` group
/// use shardstat::Counter;
/// shardstat::stats! {
///     #[snapshot = S]
///     #[local = L]
///     pub struct G {
///         pub new: Counter,
///     }
/// }
/// ```
///
/// A raw identifier names the field without its `r#` (`r#type` is exported, shown and
/// serialised as `type`), and an empty group is allowed.
///
/// The local handle belongs to its thread:
///
/// ```compile_fail,E0277
/// use shardstat::Counter;
/// shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub pages: Counter } }
/// let g = G::new();
/// let local = g.local();
/// std::thread::scope(|s| {
///     s.spawn(move || local.pages.inc()); // error[E0277]: `*const ()` cannot be sent
/// });
/// ```
///
/// # What it generates
/// For `pub struct G { pub f: Counter, … }` with `#[snapshot = S]` and `#[local = L]`:
/// - `G::new()` — `const`, so a group can be a `static` — and `Default`, and a `Debug`
///   that shows a snapshot.
/// - `G::f(&self)`, one accessor per field with the standalone type's methods (a
///   [`CounterField`](crate::group::CounterField) for a `Counter` field, `&Gauge` for a
///   `Gauge`, …).
/// - `G::local(&self) -> L<'_>`: the calling thread's shard, found once for all fields.
///   `L` has one public field per group field ([`LocalCounter`](crate::LocalCounter),
///   [`LocalMax`](crate::LocalMax), …, `&Gauge`) and `update(|l| …)`, which makes the
///   writes inside it visible to snapshots all at once. `L` is neither `Send` nor `Sync`.
/// - `G::snapshot(&self) -> S`: every field at once. `S` is a plain struct of values
///   (`u64`, or `i64` for an `UpDownCounter`) with `Debug`, `Clone`, `Copy`, `PartialEq`,
///   `Eq`, `Hash`, `Default`, and `Sub` (`newer - older`: differences for counters, the
///   newer value for `Max`/`Min`/`Gauge`). Its fields are always `pub`.
/// - `G::reset(&self)`: every field back to empty, with the standalone types' race-free
///   promise for each field, and each concurrent `update` step's counter adds cancelled
///   wholly or counted wholly after the reset.
/// - `G::BYTES_PER_THREAD`: the size of one thread's copy of the group's cells.
///
/// # Semantics
/// Each field has its standalone type's semantics (exact at rest, nothing lost, race-free
/// `set`/`reset`, no locked instruction on the add path), and in addition:
/// - **Consistent steps.** Writes inside one `update` are seen by `snapshot` and `reset`
///   all together or not at all: a snapshot never shows half a step (the per-shard
///   sequence count of Linux's `u64_stats_sync`). Readers retry; writers never wait (save
///   a `Max`/`Min` field's record that starts a new epoch while that field's own `take()`
///   reads: it waits for the read). If
///   the closure panics, the writes it made stay, and the step ends.
/// - **Snapshots see a reset wholly or not at all.**
/// - **A group reset racing with a step** cancels the step's `Counter`/`UpDownCounter`
///   adds wholly or counts them wholly after it. A `Max`/`Min` record inside that racing
///   step is kept or retired on its own (the step may read the extremum's epoch before the
///   reset advances it, yet after the reset has read the step's shard); as for a standalone
///   `Max`, no value recorded before the reset ever shows after it. Making the two agree
///   would need the writer to wait or to fence, which the add path never does.
/// - `Gauge` fields are plain atomics beside the shards: their writes are not part of an
///   `update` step, and a snapshot reads them after the sharded fields.
/// - Calling `snapshot()` or `reset()` of a group inside that group's `update` on the same
///   thread panics (it would wait for the step it is part of).
///
/// # Memory
/// `8 × (1 + cells)` bytes per writing thread, in that thread's arena, where a
/// `Counter`/`UpDownCounter` takes 1 cell, `Max`/`Min` 2, a `Gauge` none, and the 1 is the
/// group's sequence word. The run starts on a 64-byte boundary, so a group of up to 7 cells
/// is one cache line, and up to 15 two. Taken at the group's first use, given back when
/// it is dropped.
#[macro_export]
macro_rules! stats {
    (
        $(#[doc = $doc:literal])*
        #[snapshot = $snap:ident]
        #[local = $local:ident]
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $fvis:vis $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        $vis struct $name {
            __cells: $crate::__private::Sharded<{ $crate::__stats_cells!($($ty),*) }>,
            $( $field: <$ty as $crate::__private::FieldParts>::Stored, )*
        }

        #[doc = concat!("A copy of every field of [`", stringify!($name), "`], taken at once by [`", stringify!($name), "::snapshot`].")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $snap {
            $(
                $(#[doc = $fdoc])*
                pub $field: <$ty as $crate::group::Field>::Value,
            )*
        }

        #[doc = concat!("The calling thread's shard of [`", stringify!($name), "`], found once for every field; from [`", stringify!($name), "::local`]. Neither `Send` nor `Sync`.")]
        $vis struct $local<'a> {
            $(
                $(#[doc = $fdoc])*
                $fvis $field: <$ty as $crate::group::Field>::Local<'a>,
            )*
            __own: &'a [$crate::__private::AtomicU64; $crate::__stats_cells!($($ty),*)],
            __owner_thread: ::core::marker::PhantomData<*const ()>,
        }

        $( $crate::__stats_reserved!($field $field); )*

        const _: () = {
            #[allow(non_camel_case_types, dead_code)]
            enum __Field { $( $field, )* }

            const __CELLS: usize = $crate::__stats_cells!($($ty),*);
            const __WIDTHS: &[usize] = &[ $( <$ty as $crate::group::Field>::WIDTH, )* ];
            const __KINDS: [$crate::__private::CellKind; __CELLS] =
                $crate::__private::cell_kinds::<__CELLS>(&[ $( <$ty as $crate::__private::FieldParts>::KIND, )* ]);

            const fn __cell(field: __Field) -> usize {
                $crate::__private::cell_of(__WIDTHS, field as usize)
            }

            // A private group need not use every generated item.
            #[allow(dead_code)]
            impl $name {
                $crate::__const_fn! {
                    #[doc = concat!("An empty [`", stringify!($name), "`]: every field at 0 (`Min` at `u64::MAX`). `const`, so the group can be a `static`; nothing is allocated until a thread writes.")]
                    pub fn new() -> Self {
                        $name {
                            __cells: $crate::__private::Sharded::new(),
                            $( $field: <<$ty as $crate::__private::FieldParts>::Stored>::new(), )*
                        }
                    }
                }

                /// The bytes one thread's copy of this group takes in its arena: 8 per cell,
                /// the sequence word included.
                pub const BYTES_PER_THREAD: usize = $crate::__private::copy_bytes::<__CELLS>();

                $(
                    $(#[doc = $fdoc])*
                    #[inline]
                    $fvis fn $field(&self) -> <$ty as $crate::group::Field>::Handle<'_, __CELLS> {
                        <$ty as $crate::__private::FieldParts>::handle(&self.__cells, __cell(__Field::$field), &self.$field)
                    }
                )*

                /// The calling thread's shard of every field, found once: for loops, and for
                /// consistent multi-field steps (`update`).
                #[inline]
                pub fn local(&self) -> $local<'_> {
                    let own = self.__cells.own();
                    $local {
                        $( $field: <$ty as $crate::__private::FieldParts>::local(&self.__cells, own, __cell(__Field::$field), &self.$field), )*
                        __own: own,
                        __owner_thread: ::core::marker::PhantomData,
                    }
                }

                /// Every field at once: no `update` step is seen in part, and a concurrent
                /// `reset` is seen wholly or not at all. Reads one shard per writing thread.
                ///
                /// Completes while writers keep stepping: it is restarted at most once by
                /// resets, and waits for each writer only until it is between two steps.
                #[track_caller]
                pub fn snapshot(&self) -> $snap {
                    self.__cells.snapshot_with(&__KINDS, |raw| $snap {
                        $( $field: <$ty as $crate::__private::FieldParts>::value(raw, __cell(__Field::$field), &self.$field), )*
                    })
                }

                /// Resets every field (counters to 0, `Max` to 0, `Min` to `u64::MAX`, gauges
                /// to 0), exactly: each concurrent add is cancelled or counted after the reset,
                /// never twice or in part, and a concurrent `update` step's counter adds are
                /// cancelled or counted together. The gauges are reset in the same step, so a
                /// snapshot sees the whole reset or none of it.
                #[track_caller]
                pub fn reset(&self) {
                    self.__cells.reset_all(&__KINDS, || {
                        $( <$ty as $crate::__private::FieldParts>::reset_stored(&self.$field); )*
                    });
                }

                /// A snapshot, and a reset of every counter and extremum field, as one step:
                /// a drain for delta export. Every add is in exactly one take or in a later
                /// snapshot, and each `update` step's adds land wholly in one take. Gauges
                /// keep their values (the snapshot shows them); `Max`/`Min` fields restart
                /// empty, as at a `reset` (a record racing the take may be retired
                /// without being in it; a field's own `take()` keeps every record).
                #[track_caller]
                pub fn take(&self) -> $snap {
                    self.__cells.take_all(&__KINDS, |raw| $snap {
                        $( $field: <$ty as $crate::__private::FieldParts>::value(raw, __cell(__Field::$field), &self.$field), )*
                    })
                }
            }

            impl<'a> $local<'a> {
                /// Runs `step` so that every write it makes to this thread's shard becomes
                /// visible to `snapshot` and `reset` all at once. Writers never wait (save an
                /// extremum field's record during that field's `take()`); nested
                /// calls join the outer step. Returns what `step` returns.
                #[inline]
                pub fn update<R>(&self, step: impl FnOnce(&Self) -> R) -> R {
                    $crate::__private::group_update(&self.__own[0], || step(self))
                }
            }

            impl ::core::default::Default for $name {
                fn default() -> Self {
                    Self::new()
                }
            }

            impl ::core::fmt::Debug for $name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let snapshot = self.snapshot();
                    f.debug_struct(stringify!($name))
                        $( .field($crate::__private::field_name(stringify!($field)), &snapshot.$field) )*
                        .finish()
                }
            }

            impl ::core::fmt::Debug for $local<'_> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(stringify!($local))
                        $( .field($crate::__private::field_name(stringify!($field)), &self.$field) )*
                        .finish()
                }
            }

            impl ::core::fmt::Debug for $snap {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(stringify!($snap))
                        $( .field($crate::__private::field_name(stringify!($field)), &self.$field) )*
                        .finish()
                }
            }

            impl ::core::default::Default for $snap {
                /// Every field empty (0, `u64::MAX` for a `Min`): the snapshot of a new or
                /// just-reset group.
                fn default() -> Self {
                    $snap {
                        $( $field: <$ty as $crate::group::Field>::EMPTY, )*
                    }
                }
            }

            impl ::core::ops::Sub for $snap {
                type Output = $snap;
                /// Per field: the difference for counters (wrapping), the newer value for
                /// `Max`, `Min` and `Gauge` fields.
                fn sub(self, older: $snap) -> $snap {
                    $snap {
                        $( $field: <$ty as $crate::group::Field>::delta(self.$field, older.$field), )*
                    }
                }
            }

            impl $crate::group::Group for $name {
                const NAME: &'static str = stringify!($name);
                const FIELDS: &'static [$crate::group::FieldInfo] = &[
                    $(
                        $crate::group::FieldInfo {
                            name: $crate::__private::field_name(stringify!($field)),
                            // One doc line per line: exporters join them with spaces.
                            help: concat!("" $(, $fdoc, "\n")*),
                            kind: <$ty as $crate::group::Field>::METRIC_KIND,
                        },
                    )*
                ];
                fn field_values(&self) -> ::std::vec::Vec<$crate::group::FieldValue> {
                    let snapshot = self.snapshot();
                    ::std::vec![
                        $( <$ty as $crate::__private::FieldParts>::field_value(snapshot.$field), )*
                    ]
                }
            }

            $crate::__stats_serde!($snap { $($field),* });
        };
    };

    (
        $(#[doc = $doc:literal])*
        #[local = $local:ident]
        #[snapshot = $snap:ident]
        $($rest:tt)*
    ) => {
        ::core::compile_error!(
            "stats!: write `#[snapshot = Name]` before `#[local = Name]`"
        );
    };

    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $($rest:tt)*
    ) => {
        ::core::compile_error!(
            "stats!: name the companion types before the struct: `#[snapshot = Name]` \
             (the plain struct of values) then `#[local = Name]` (the per-thread handle)"
        );
    };

    ($($anything:tt)*) => {
        ::core::compile_error!(
            "stats!: expected doc comments, `#[snapshot = Name]`, `#[local = Name]`, then \
             `pub struct Name { field: Counter, ... }` with fields of type Counter, \
             UpDownCounter, Max, Min or Gauge, each with only doc comments as attributes"
        );
    };
}

/// The number of cells a group's run takes: its sequence word and its fields' cells.
#[doc(hidden)]
#[macro_export]
macro_rules! __stats_cells {
    ($($ty:ty),*) => {
        1 $( + <$ty as $crate::group::Field>::WIDTH )*
    };
}

/// `serde::Serialize` for a snapshot, when shardstat's `serde` feature is on.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __stats_serde {
    ($snap:ident { $($field:ident),* }) => {};
}

#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __stats_serde {
    ($snap:ident { $($field:ident),* }) => {
        impl $crate::__private::serde::Serialize for $snap {
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: $crate::__private::serde::Serializer,
            {
                use $crate::__private::serde::ser::SerializeStruct as _;
                // A sum, not `[...].len()`: an empty group has no element to type the array.
                let fields = 0usize $( + { let _ = stringify!($field); 1 } )*;
                let mut s = serializer.serialize_struct(stringify!($snap), fields)?;
                $( s.serialize_field($crate::__private::field_name(stringify!($field)), &self.$field)?; )*
                s.end()
            }
        }
    };
}

/// Refuses a field named like one of the group's own methods (`new`, `local`, `snapshot`,
/// `reset`, `take`) with a message that names it: the field's own name becomes a type that lacks
/// `FieldNameIsFree`.
#[doc(hidden)]
#[macro_export]
macro_rules! __stats_reserved {
    // The name twice: matched as a literal, then passed on as the user's token (keeping its
    // span). A bound in a `where` clause is checked before the group's methods are, so this
    // error comes before the duplicate method's.
    (new $field:ident) => { $crate::__stats_reserved!(@refuse $field); };
    (local $field:ident) => { $crate::__stats_reserved!(@refuse $field); };
    (snapshot $field:ident) => { $crate::__stats_reserved!(@refuse $field); };
    (reset $field:ident) => { $crate::__stats_reserved!(@refuse $field); };
    (take $field:ident) => { $crate::__stats_reserved!(@refuse $field); };
    (@refuse $field:ident) => {
        const _: () = {
            #[allow(non_camel_case_types, dead_code)]
            struct $field;
            #[allow(dead_code)]
            struct Refuse
            where
                $field: $crate::__private::FieldNameIsFree;
        };
    };
    ($name:ident $field:ident) => {};
}

// ---- what the expansion calls, through `__private` ----------------------------------------

use crate::field::FieldKind;
use crate::sharded::CellKind;

/// The first cell of field number `index`, given every field's width: cell 0 is the
/// group's sequence word, the fields follow in declaration order.
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
pub const fn copy_bytes<const N: usize>() -> usize {
    N * std::mem::size_of::<u64>()
}

/// A field's name as written, without the `r#` of a raw identifier (`r#type` is `type`):
/// what exporters, `Debug` and `serde` call the field.
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot name a field of a `stats!` group",
    label = "a group already has a method of this name",
    note = "a group's own methods are `new`, `local`, `snapshot`, `reset` and `take`: rename the field"
)]
pub trait FieldNameIsFree {}
