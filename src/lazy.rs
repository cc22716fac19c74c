//! [`LazyCounter`]: a counter whose memory follows contention — one word until two adds
//! collide, sharded per thread after.

use crate::sharded::Sharded;
use crate::sync;
use std::fmt;

/// A monotone 64-bit counter that starts as one word and shards itself under contention:
/// memory that follows contention.
///
/// While no two adds have collided, an add is a compare-and-swap of the counter's own word
/// (about what `AtomicU64::fetch_add` costs), and the counter holds no per-thread cell. The
/// first compare-and-swap that fails — another add, or a `set`/`take`, came between its
/// load and its swap — makes it sharded: that add and every later one go to the calling
/// thread's cell, as a [`Counter`](crate::Counter)'s do (a load and a store, no locked
/// instruction), at 8 bytes per thread that adds. It never goes back.
///
/// Use it where most counters are cold: the `metrics` recorder's keys use it, so a key that
/// one thread increments now and then costs its 24 bytes and nothing per thread. A counter
/// known to be hot (a `static` in a loop on many threads) is better eager: a
/// [`Counter`](crate::Counter) never pays the compare-and-swap.
///
/// # Semantics
/// As [`Counter`](crate::Counter)'s, including across the switch: every add is counted
/// exactly once (in the word or in a cell; the switch moves nothing), exact at rest,
/// monotone reads, exact race-free [`set`](LazyCounter::set), [`raise_to`](LazyCounter::raise_to)
/// that never moves it back, and [`take`](LazyCounter::take) with every add in exactly one
/// take or a later read. Reads never make it sharded.
///
/// ```
/// use shardstat::LazyCounter;
///
/// static REQUESTS: LazyCounter = LazyCounter::new();
/// REQUESTS.add(2); // one compare-and-swap of its word
/// assert_eq!(REQUESTS.get(), 2);
/// assert!(!REQUESTS.is_sharded());
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| (0..10_000).for_each(|_| REQUESTS.inc()));
///     }
/// });
/// assert_eq!(REQUESTS.get(), 40_002); // sharded or not, every add once
/// ```
pub struct LazyCounter {
    cells: Sharded<1>,
}

impl LazyCounter {
    sync::const_fn! {
        /// A counter at 0, one word, no cells. `const`, so it can be a `static`.
        ///
        /// ```
        /// static HITS: shardstat::LazyCounter = shardstat::LazyCounter::new();
        /// assert_eq!(HITS.get(), 0);
        /// ```
        pub fn new() -> Self {
            LazyCounter { cells: Sharded::new() }
        }
    }

    /// Adds `n` (wrapping): a compare-and-swap of the word while the counter is cold, the
    /// calling thread's cell once it is sharded.
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.add(5);
    /// assert_eq!(c.get(), 5);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        self.cells.lazy_add(n);
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The value: the word plus every thread's cell (none while cold). Never makes the
    /// counter sharded.
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.add(3);
    /// assert_eq!((c.get(), c.is_sharded()), (3, false));
    /// ```
    pub fn get(&self) -> u64 {
        self.cells.lazy_sum()
    }

    /// Makes the counter read `value`: adds before it are cancelled, adds after it count on
    /// top (as [`Counter::set`](crate::Counter::set)).
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.add(9);
    /// c.set(100);
    /// c.add(1);
    /// assert_eq!(c.get(), 101);
    /// ```
    pub fn set(&self, value: u64) {
        self.cells.lazy_set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.add(9);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// Returns the value and leaves 0, as one step: every add is in exactly one take or in
    /// a later read, whatever runs concurrently (as [`Counter::take`](crate::Counter::take)).
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.add(4);
    /// assert_eq!((c.take(), c.get()), (4, 0));
    /// ```
    pub fn take(&self) -> u64 {
        self.cells.lazy_take()
    }

    /// Makes the counter at least `value` in one step, never moving it back; adds that
    /// land after it count on top (as [`Counter::raise_to`](crate::Counter::raise_to), the
    /// `metrics` facade's `absolute`).
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.raise_to(10);
    /// c.raise_to(4); // below: nothing changes
    /// c.add(1);
    /// assert_eq!(c.get(), 11);
    /// ```
    pub fn raise_to(&self, value: u64) {
        self.cells.lazy_raise(value);
    }

    /// Whether a collision has made the counter sharded (it then holds a cell per thread
    /// that added since).
    ///
    /// ```
    /// let c = shardstat::LazyCounter::new();
    /// c.inc();
    /// assert!(!c.is_sharded()); // one thread, no collision
    /// ```
    pub fn is_sharded(&self) -> bool {
        self.cells.has_run()
    }
}

impl Default for LazyCounter {
    /// A counter at 0: [`LazyCounter::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LazyCounter {
    /// Shows the value and whether it is sharded: `LazyCounter { value: 3, sharded: false }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyCounter")
            .field("value", &self.get())
            .field("sharded", &self.is_sharded())
            .finish()
    }
}

sync::model_only! {
    /// Makes `counter` sharded now, as its first collision would (the run assigned, the
    /// calling thread's copy made): for the loom models of a sharded lazy counter, which
    /// cannot force a compare-and-swap to fail.
    pub fn make_sharded(counter: &LazyCounter) {
        counter.cells.with_own(|_| ());
    }

    /// `LazyCounter::take` with a load and a store of the word instead of a swap: the loom
    /// suite's negative control (a cold add between the two is in neither).
    pub fn take_by_load_and_store(counter: &LazyCounter) -> u64 {
        counter.cells.lazy_take_by_load_and_store()
    }
}
