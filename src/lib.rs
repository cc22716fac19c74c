//! Counters for the hottest paths of many-core programs.
//!
//! One shared `AtomicU64` per statistic makes every add drag a cache line between cores:
//! on a 2-core x86-64 machine, two threads doing `fetch_add` on one atomic reach fewer adds
//! per second together than one thread alone. shardstat gives each thread its own
//! cache-line-padded shard of every counter. Only the owning thread writes a shard, so an
//! add is a plain load and store with no locked instruction; a read sums the shards.
//!
//! | type | value | write | read | reset |
//! |---|---|---|---|---|
//! | [`Counter`] | `u64`, wrapping | `add`, `inc` (sharded) | `get`: sum of shards | exact `set`/`reset` |
//! | [`UpDownCounter`] | `i64`, wrapping | `add`, `sub` (sharded) | `get`: sum of shards | exact `set`/`reset` |
//! | [`Max`] / [`Min`] | `u64` | `record` (sharded) | `get`: max/min of shards | O(1) `reset` |
//! | [`Gauge`] | `u64` | `set`, `add`, `fetch_max` (one atomic) | `get` | `set(0)` |
//!
//! Each sharded type has a `local()` handle ([`LocalCounter`] and friends) that finds the
//! calling thread's shard once, for loops that add millions of times.
//!
//! [`stats!`] declares a **stat group**: a struct of counters sharded together, so a
//! thread's share of the whole struct is one padded block, a snapshot reads one block per
//! thread, and `update` makes a multi-field step visible all at once.
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
//!   thread that reuses an exited thread's slot carries on from its count), thread start
//!   during a read, and panics.
//! - **Monotone reads** of a [`Counter`] between resets.
//! - **Exact, race-free `set`/`reset`**: a concurrent add is counted after the set or not at
//!   all, never twice or in part; no value recorded into a [`Max`]/[`Min`] before its
//!   `reset` shows after it.
//! - **No read-modify-write instruction on the add path**, and no thread but the owner
//!   writes a shard.
//!
//! # When a plain atomic is better
//! A sharded counter costs one 128-byte shard per thread that writes it, and a read walks
//! them all. If few threads write, adds are rare, or the hot path *reads* the value on every
//! operation, use an `AtomicU64`.
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

/// Declares a function `const` in normal builds and plain under `cfg(loom)`, whose atomics
/// have no `const fn new`.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident ($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        $vis const fn $name($($args)*) -> $ret $body

        #[cfg(loom)]
        $(#[$attr])*
        $vis fn $name($($args)*) -> $ret $body
    };
}
pub(crate) use const_fn;

mod core;
mod counter;
mod extremum;
mod gauge;
pub mod group;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod migration;
#[cfg(feature = "prometheus-client")]
pub mod prometheus;
mod shards;
mod stats_macro;
mod sync;
mod thread_id;
mod up_down;

pub use counter::{Counter, LocalCounter};
pub use extremum::{LocalMax, LocalMin, Max, Min};
pub use gauge::Gauge;
pub use up_down::{LocalUpDownCounter, UpDownCounter};

/// Items the `stats!` macro expands to. Not part of the public API: no semver promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::core::{Block, Core, SlotKind};
    #[cfg(feature = "serde")]
    pub use serde;
}

/// Deliberately broken variants for the loom suite's negative controls. Only under
/// `cfg(loom)`; no semver promise.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_controls;

#[cfg(all(test, not(loom)))]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
