//! [`UpDownCounter`]: a signed `i64` sharded per thread, and its [`LocalUpDownCounter`].

use crate::core::{add_owned, Core};
use crate::group::UpDownCounterField;
use crate::sync::AtomicU64;
use std::fmt;
use std::marker::PhantomData;

/// A signed 64-bit counter that goes up and down, sharded per thread (the signed use of
/// Java's `LongAdder` and Linux's `percpu_counter`): in-flight requests, queued bytes,
/// outstanding pages.
///
/// Shards hold two's-complement deltas, so one thread may add what another subtracts. It
/// has the same semantics and costs as [`Counter`](crate::Counter) — exact at rest, nothing
/// lost or counted twice, exact race-free `set`/`reset`, no locked instruction on `add` —
/// except that reads are not monotone, and the sum wraps at `i64::MAX`/`i64::MIN` like
/// [`i64::wrapping_add`].
///
/// While adds and subtracts race with a read, the read may see a subtract before the add it
/// pairs with, just as a single atomic read between them would.
///
/// # Example
/// ```
/// use shardstat::UpDownCounter;
///
/// static IN_FLIGHT: UpDownCounter = UpDownCounter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..100 {
///                 IN_FLIGHT.inc();
///                 IN_FLIGHT.dec();
///             }
///             IN_FLIGHT.add(2);
///         });
///     }
/// });
/// assert_eq!(IN_FLIGHT.get(), 8);
/// ```
pub struct UpDownCounter {
    core: Core<1>,
}

impl UpDownCounter {
    crate::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`.
        ///
        /// ```
        /// static QUEUED: shardstat::UpDownCounter = shardstat::UpDownCounter::new();
        /// assert_eq!(QUEUED.get(), 0);
        /// ```
        pub fn new() -> Self {
            UpDownCounter { core: Core::new() }
        }
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.add(5);
    /// c.add(-7);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        self.field().add(n);
    }

    /// Subtracts `n`, wrapping.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.sub(3);
    /// assert_eq!(c.get(), -3);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.dec();
    /// assert_eq!(c.get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// The sum of every thread's adds and subtracts (since the last `set`/`reset`).
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(10));
    ///     s.spawn(|| c.sub(4));
    /// });
    /// assert_eq!(c.get(), 6);
    /// ```
    pub fn get(&self) -> i64 {
        self.field().get()
    }

    /// Makes the counter read `value`, exactly, even while other threads add: each
    /// concurrent add is counted on top of `value` or not at all.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.add(10);
    /// c.set(-5);
    /// c.add(1);
    /// assert_eq!(c.get(), -4);
    /// ```
    pub fn set(&self, value: i64) {
        self.field().set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.add(7);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops: it skips the per-add lookup.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// let local = c.local();
    /// local.add(10);
    /// local.sub(3);
    /// assert_eq!(c.get(), 7);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalUpDownCounter<'_> {
        self.field().local()
    }

    /// The counter as slot 0 of its one-slot core (the methods live on the field handle).
    #[inline]
    fn field(&self) -> UpDownCounterField<'_, 1> {
        UpDownCounterField::new(&self.core, 0)
    }
}

impl Default for UpDownCounter {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for UpDownCounter {
    /// Shows the current value: `UpDownCounter { value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpDownCounter")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`UpDownCounter`] (or of such a field of a stat
/// group). Neither `Send` nor `Sync`.
///
/// ```
/// let c = shardstat::UpDownCounter::new();
/// let local = c.local();
/// local.inc();
/// local.inc();
/// local.dec();
/// assert_eq!(c.get(), 1);
/// ```
pub struct LocalUpDownCounter<'a> {
    cell: &'a AtomicU64,
    _owner_thread: PhantomData<*const ()>,
}

impl<'a> LocalUpDownCounter<'a> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64) -> Self {
        LocalUpDownCounter {
            cell,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n` (which may be negative).
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().add(-2);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        add_owned(self.cell, n as u64);
    }

    /// Subtracts `n`.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().sub(2);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts 1.
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// c.local().dec();
    /// assert_eq!(c.get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// This thread's shard: its own net adds (before any `set`/`reset` is applied).
    ///
    /// ```
    /// let c = shardstat::UpDownCounter::new();
    /// let local = c.local();
    /// local.sub(4);
    /// assert_eq!(local.shard_value(), -4);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> i64 {
        self.cell.load(crate::sync::Ordering::Relaxed) as i64
    }
}

impl fmt::Debug for LocalUpDownCounter<'_> {
    /// Shows this thread's shard: `LocalUpDownCounter { shard_value: -4 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalUpDownCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}
