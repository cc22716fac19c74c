//! [`Gauge`]: one atomic holding a last value (also a stat-group field kind: a group keeps
//! it beside its cells).

use crate::field::{self, Field, FieldKind, FieldParts, FieldValue, MetricKind};
use crate::sharded::Sharded;
use crate::sync::{self, AtomicU64, Ordering};
use std::fmt;

/// A `u64` that one owner sets and anyone reads: a last value, not a running total (QEMU's
/// `dirty_pages_rate`, `dirty_bytes_last_sync`, the rate-limit window).
///
/// # Why it is not sharded
/// Sharding pays off when many threads *add*: the adds then commute and can be summed
/// later. A gauge is *set*: the newest value replaces the others, and per-thread shards
/// could not say which one is newest without a shared clock, which would put the contended
/// cache line back. A gauge is also written rarely (once per sync, once per 100 ms) and read
/// as one value, so one [`AtomicU64`](std::sync::atomic::AtomicU64) — one load to read, one
/// store to set — is both the cheapest and the only exact design. If many threads add to it
/// often, it is a [`Counter`](crate::Counter) or an
/// [`UpDownCounter`](crate::UpDownCounter), not a gauge.
///
/// All operations are `Relaxed`: a gauge reports a value; it does not publish other data. To
/// hand data over between threads, use a lock or a channel beside it.
///
/// On targets without 64-bit atomics (32-bit PowerPC, MIPS, ARMv6), the word is two 32-bit
/// halves: every write (`set`, `add`, `fetch_max`, …) takes one of 64 striped sequence locks
/// for the few instructions it needs, and a read retries if a write overlapped it — a read
/// never returns half of one value and half of another (`docs/design.md` §15; QEMU's
/// `Stat64` takes a lock there too).
/// [`add`](Gauge::add) and [`sub`](Gauge::sub) wrap around, like
/// [`AtomicU64::fetch_add`](std::sync::atomic::AtomicU64::fetch_add).
///
/// # Example
/// ```
/// use shardstat::Gauge;
///
/// static DIRTY_PAGES_RATE: Gauge = Gauge::new();
///
/// DIRTY_PAGES_RATE.set(12_000);
/// assert_eq!(DIRTY_PAGES_RATE.get(), 12_000);
/// ```
pub struct Gauge {
    value: AtomicU64,
}

impl Gauge {
    sync::const_fn! {
        /// A gauge at 0. `const`, so it can be a `static`.
        ///
        /// ```
        /// static RATE_LIMIT: shardstat::Gauge = shardstat::Gauge::new();
        /// assert_eq!(RATE_LIMIT.get(), 0);
        /// ```
        pub fn new() -> Self {
            Gauge {
                value: AtomicU64::new(0),
            }
        }
    }

    sync::const_fn! {
        /// A gauge at `value`. `const`, so it can be a `static`.
        ///
        /// ```
        /// static PAGE_SIZE: shardstat::Gauge = shardstat::Gauge::with_value(4096);
        /// assert_eq!(PAGE_SIZE.get(), 4096);
        /// ```
        pub fn with_value(value: u64) -> Self {
            Gauge {
                value: AtomicU64::new(value),
            }
        }
    }

    /// Replaces the value.
    ///
    /// ```
    /// let g = shardstat::Gauge::new();
    /// g.set(7);
    /// g.set(3);
    /// assert_eq!(g.get(), 3);
    /// ```
    #[inline]
    pub fn set(&self, value: u64) {
        self.value.store(value, Ordering::Relaxed);
    }

    /// The last value set (or the result of the last `add`/`sub`/`fetch_max`).
    ///
    /// ```
    /// let g = shardstat::Gauge::with_value(5);
    /// assert_eq!(g.get(), 5);
    /// ```
    #[inline]
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Adds `n`, wrapping at `u64::MAX`; one atomic read-modify-write.
    ///
    /// ```
    /// let g = shardstat::Gauge::with_value(5);
    /// g.add(2);
    /// assert_eq!(g.get(), 7);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n`, wrapping below 0; one atomic read-modify-write.
    ///
    /// ```
    /// let g = shardstat::Gauge::with_value(5);
    /// g.sub(2);
    /// assert_eq!(g.get(), 3);
    /// ```
    #[inline]
    pub fn sub(&self, n: u64) {
        self.value.fetch_sub(n, Ordering::Relaxed);
    }

    /// Raises the value to `value` if it is larger, and returns the previous value.
    ///
    /// ```
    /// let g = shardstat::Gauge::with_value(5);
    /// assert_eq!(g.fetch_max(9), 5);
    /// assert_eq!(g.fetch_max(2), 9);
    /// assert_eq!(g.get(), 9);
    /// ```
    #[inline]
    pub fn fetch_max(&self, value: u64) -> u64 {
        self.value.fetch_max(value, Ordering::Relaxed)
    }
}

impl Default for Gauge {
    /// A gauge at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl From<u64> for Gauge {
    /// A gauge at `value`.
    fn from(value: u64) -> Self {
        Gauge::with_value(value)
    }
}

impl fmt::Debug for Gauge {
    /// Shows the current value: `Gauge { value: 7 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}

impl field::sealed::Sealed for Gauge {}

/// A group keeps a `Gauge` field beside its cells (its `Stored` is the gauge itself).
impl Field for Gauge {
    const METRIC_KIND: MetricKind = MetricKind::Gauge;
    const WIDTH: usize = 0;
    type Value = u64;
    type Handle<'a, const N: usize> = &'a Gauge;
    type Local<'a> = &'a Gauge;
    const EMPTY: Self::Value = 0;
    fn delta(newer: u64, _older: u64) -> u64 {
        newer
    }
}

impl FieldParts for Gauge {
    fn field_value(value: Self::Value) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = FieldKind::Unsharded;
    type Stored = Gauge;
    fn handle<'a, const N: usize>(_: &'a Sharded<N>, _: usize, stored: &'a Gauge) -> &'a Gauge {
        stored
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        _: &'a [AtomicU64; N],
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
}
