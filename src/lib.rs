//! Counters for the hottest paths of many-core programs.
//!
//! One shared `AtomicU64` per statistic makes every add drag a cache line between cores:
//! on a 2-core x86-64 machine, two threads doing `fetch_add` on one atomic reach fewer adds
//! per second together than one thread alone. shardstat gives each thread its own *arena* of
//! 8-byte cells, and each counter a cell at the same place in every arena (the layout of
//! Linux's per-CPU allocator). Only the owning thread writes its arena, so an add is a plain
//! load and store with no locked instruction, a thread's counters sit side by side without
//! padding, and a read sums one cell per thread.
//!
//! | type | value | write | read | reset |
//! |---|---|---|---|---|
//! | [`Counter`] | `u64`, wrapping | `add`, `inc` (sharded) | `get`: sum of shards | exact `set`/`reset` |
//! | [`UpDownCounter`] | `i64`, wrapping | `add`, `sub` (sharded) | `get`: sum of shards | exact `set`/`reset` |
//! | [`LazyCounter`] | `u64`, wrapping | `add`, `inc`: a compare-and-swap of one word until two adds collide, then sharded | `get`: the word plus the shards | exact `set`/`reset`, `take` |
//! | [`Max`] / [`Min`] | `u64` | `record` (sharded) | `get`: max/min of shards | O(1) `reset` |
//! | [`Gauge`] | `u64` | `set`, `add`, `fetch_max` (one atomic) | `get` | `set(0)` |
//! | [`Histogram`] | `u64` values | `record` (sharded: bucket and sum in one step) | `snapshot`: count, sum, min, max, quantiles within 1/128 | exact `reset` |
//! | [`ApproxCounter`] / [`ApproxUpDownCounter`] | `u64` / `i64` | `add` (sharded, carrying whole batches); `limited_add` that never overshoots | `approx` (O(1), within `error_bound`), exact `compare`, `get` | exact `set`/`reset` |
//!
//! [`percpu`] has the same counters sharded per **CPU** instead of per thread, through Linux's
//! restartable sequences and the kernel's concurrency ID: memory and reads bounded by the
//! CPUs a process runs on, however many threads it has (per-thread shards where restartable
//! sequences are unavailable).
//!
//! The per-thread counters, [`Max`], [`Min`] and stat groups have a `local()` handle
//! ([`LocalCounter`] and friends) that finds the calling thread's cell once, for loops that
//! add millions of times ([`Histogram`] and the [`percpu`] types have none). [`Max`] and [`Min`] are
//! one generic type, [`Extremum`], in two directions.
//!
//! [`stats!`] declares a **stat group**: a struct of counters sharded together, so a
//! thread's share of the whole struct is one run of consecutive cells, a snapshot reads one
//! run per thread, and `update` makes a multi-field step visible all at once.
//! [`migration::MigrationStats`] is QEMU's migration statistics as such a group, with its
//! rate limit and 100 ms update.
//!
//! Optional Cargo features: `prometheus-client` (`shardstat::prometheus`: registration in a
//! `prometheus_client` registry), `metrics` (`shardstat::metrics`: a sharded `metrics::Recorder`),
//! `serde` (`Serialize` for snapshots).
//!
//! # Semantics
//! Every promise below is documented on the types, tested, and model-checked with loom
//! (`loom-tests/`); `docs/design.md` explains the algorithm and every memory ordering.
//! - **Exact at rest**: once every add happened-before a read, the read is exact.
//! - **Nothing lost, nothing counted twice**: under contention, across thread exit (a new
//!   thread that takes over an exited thread's shard carries on from its count), thread start
//!   during a read, and panics.
//! - **Monotone reads** of a [`Counter`] between resets.
//! - **Exact, race-free `set`/`reset`**: a concurrent add is counted after the set or not at
//!   all, never twice or in part; no value recorded into a [`Max`]/[`Min`] before its
//!   `reset` shows after it.
//! - **No read-modify-write instruction on the add path**, and no thread but the owner
//!   writes its cell of a live counter.
//! - **A new counter starts at 0 everywhere**, even on the cells of a dropped one.
//!
//! # Memory
//! Counters can be created and dropped at run time, in any number: a counter takes its
//! cells at its first use (a `static` costs nothing until then), 8 bytes per thread that
//! writes it, and gives them back when dropped. Each thread's arena costs about 2–4 KiB
//! before any counter (its first chunk of cells); arenas are reused when threads exit.
//! [`engine_stats`] reports what the engine holds.
//!
//! # When a plain atomic is better
//! A sharded counter costs 8 bytes per thread that writes it, and a read walks every thread
//! that has written a counter near it. If few threads write, adds are rare, or the hot path
//! *reads* the value on every operation, use an `AtomicU64`.
//!
//! # Example
//! ```
//! use shardstat::{Counter, Max};
//!
//! static BYTES_SENT: Counter = Counter::new();
//! static LARGEST_PACKET: Max = Max::new();
//!
//! std::thread::scope(|s| {
//!     for channel in 0..4u64 {
//!         s.spawn(move || {
//!             let bytes = BYTES_SENT.local(); // find this thread's shard once
//!             for packet in 0..1000 {
//!                 let len = 4096 + channel * 10 + packet % 3;
//!                 bytes.add(len);
//!                 LARGEST_PACKET.record(len);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(LARGEST_PACKET.get(), 4096 + 30 + 2);
//! let sent = BYTES_SENT.get();
//! BYTES_SENT.reset(); // exact, even if other threads were still adding
//! assert_eq!(BYTES_SENT.get(), 0);
//! # assert!(sent > 4 * 1000 * 4096);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod sync;

mod approx;
mod counter;
mod engine;
mod extremum;
#[cfg(feature = "prometheus-client")]
mod families;
mod field;
mod gauge;
pub mod group;
mod histogram;
mod lazy;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod migration;
pub mod percpu;
#[cfg(feature = "prometheus-client")]
pub mod prometheus;
mod sharded;
mod stats_macro;
#[cfg(feature = "metrics")]
mod thread_cache;

pub use approx::{
    ApproxCounter, ApproxUpDownCounter, GenericApproxCounter, GenericLocalApproxCounter,
    LocalApproxCounter, LocalApproxUpDownCounter,
};
pub use counter::{
    Counter, CounterValue, GenericCounter, GenericLocalCounter, LocalCounter, LocalUpDownCounter,
    UpDownCounter,
};
pub use engine::{engine_stats, EngineStats};
pub use extremum::{
    Direction, Extremum, Largest, LocalExtremum, LocalMax, LocalMin, Max, Min, Smallest,
};
pub use gauge::Gauge;
pub use histogram::{Bucket, Histogram, HistogramSnapshot};
pub use lazy::LazyCounter;

/// Items the `stats!` macro expands to, and internals the loom suite's negative controls
/// are built from. Not part of the public API: no semver promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::field::FieldParts;
    pub use crate::sharded::{add_owned, group_update, update, CellKind, Sharded};
    pub use crate::stats_macro::{cell_kinds, cell_of, copy_bytes, field_name, FieldNameIsFree};
    pub use crate::sync::AtomicU64;
    pub use crate::sync::SPLIT_CELLS;
    #[cfg(feature = "serde")]
    pub use serde;

    /// Engine internals: its self-check (for the tests), and the loom suite's negative
    /// controls (loom builds only).
    pub mod engine {
        pub use crate::engine::check;
        crate::sync::model_only! {
            pub use crate::engine::release_without_clearing;
        }
    }

    /// The torn-read test's negative control: an up-down counter read without the sequence
    /// check that keeps split cells whole (split-cell builds only).
    #[cfg(shardstat_split_word)]
    pub mod torn_read {
        pub use crate::counter::get_without_sequence_check;
    }

    /// The per-CPU stress test's and the loom suite's negative control: a per-CPU add
    /// without its restartable section.
    pub mod percpu {
        /// A plain load and store on the calling CPU's cell of `counter`, *without* a
        /// restartable sequence: a thread preempted between the two overwrites the adds made
        /// meanwhile on that CPU.
        pub fn unrestartable_add(counter: &crate::percpu::Counter, n: u64) {
            crate::percpu::unrestartable_add(counter, n);
        }
    }

    /// Histogram internals for the loom suite's negative controls (loom builds only).
    pub mod histogram {
        crate::sync::model_only! {
            pub use crate::histogram::record_unbracketed;
        }
    }

    /// `LazyCounter` internals for the loom suite's negative controls (loom builds only).
    pub mod lazy {
        crate::sync::model_only! {
            pub use crate::lazy::{make_sharded, take_by_load_and_store};
        }
    }

    /// `Max`/`Min` internals for the loom suite's negative controls (loom builds only).
    pub mod extremum {
        crate::sync::model_only! {
            pub use crate::extremum::{record_without_recheck, take_without_odd_epoch};
        }
    }

    /// Approximate-counter internals for the loom suite's negative controls (loom builds
    /// only).
    pub mod approx {
        crate::sync::model_only! {
            pub use crate::approx::carry::{limited_add_trusting_approx, limited_add_with_any_limit_lock_free};
        }
    }
}

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
