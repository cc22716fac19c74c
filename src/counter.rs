//! The exact sharded counters: one generic type, [`GenericCounter`], over the value it counts
//! in, and its two uses — [`Counter`] (monotone, `u64`) and [`UpDownCounter`] (signed,
//! `i64`) — with their group-field handles ([`GenericCounterField`]) and local handles
//! ([`GenericLocalCounter`]). Both store the same thing, a `u64` cell per thread (an
//! `i64` as its two's-complement bits); only the methods that make sense for one sign
//! (`raise_to` for the monotone one, `sub`/`dec` for the signed one) are written for it
//! alone.

use crate::field::{self, Field, FieldKind, FieldParts, FieldValue, MetricKind, NoStorage};
use crate::sharded::{self, add_owned, Sharded};
use crate::sync::{self, AtomicU64};
use std::fmt;
use std::marker::PhantomData;

/// Seals [`CounterValue`], and carries what the generic code (here and in `approx/`) needs
/// of each value type.
pub(crate) mod sealed {
    use crate::field::{FieldValue, MetricKind};

    pub trait Value: Copy {
        /// The names `Debug` prints: the standalone type, its local handle, its field handle.
        const NAMES: [&'static str; 3];
        /// The same for the approximate counter of this sign.
        const APPROX_NAMES: [&'static str; 3];
        const METRIC_KIND: MetricKind;
        /// Whether the value is signed: how an approximate counter's words read (its domain).
        const SIGNED: bool;
        const ZERO: Self;
        const ONE: Self;
        /// The value as a cell holds it (an `i64` as its two's-complement bits).
        fn to_cell(self) -> u64;
        fn from_cell(cell: u64) -> Self;
        fn field_value(self) -> FieldValue;
        /// An add of `self` as a magnitude and a direction (`true`: down), as the carrying
        /// add takes it.
        fn magnitude_and_sign(self) -> (u64, bool);
        fn to_i128(self) -> i128;
        /// An approximate counter's `approx()` from its low end in `i128`.
        fn from_low_end(low: i128) -> Self;
        /// `v` clamped to the type's range.
        fn saturating_from(v: i128) -> Self;
    }

    impl Value for u64 {
        const NAMES: [&'static str; 3] = ["Counter", "LocalCounter", "CounterField"];
        const APPROX_NAMES: [&'static str; 3] =
            ["ApproxCounter", "LocalApproxCounter", "ApproxCounterField"];
        const METRIC_KIND: MetricKind = MetricKind::Counter;
        const SIGNED: bool = false;
        const ZERO: Self = 0;
        const ONE: Self = 1;
        #[inline(always)]
        fn to_cell(self) -> u64 {
            self
        }
        #[inline(always)]
        fn from_cell(cell: u64) -> Self {
            cell
        }
        fn field_value(self) -> FieldValue {
            FieldValue::Unsigned(self)
        }
        #[inline(always)]
        fn magnitude_and_sign(self) -> (u64, bool) {
            (self, false)
        }
        #[inline(always)]
        fn to_i128(self) -> i128 {
            i128::from(self)
        }
        #[inline(always)]
        fn from_low_end(low: i128) -> Self {
            // Below 0 only while uncarried remainders exceed a value just set; the exact value
            // is a `u64`, so 0 is the tighter lower bound.
            Self::saturating_from(low)
        }
        #[inline(always)]
        fn saturating_from(v: i128) -> Self {
            u64::try_from(v.max(0)).unwrap_or(u64::MAX)
        }
    }

    impl Value for i64 {
        const NAMES: [&'static str; 3] =
            ["UpDownCounter", "LocalUpDownCounter", "UpDownCounterField"];
        const APPROX_NAMES: [&'static str; 3] = [
            "ApproxUpDownCounter",
            "LocalApproxUpDownCounter",
            "ApproxUpDownCounterField",
        ];
        const METRIC_KIND: MetricKind = MetricKind::UpDownCounter;
        const SIGNED: bool = true;
        const ZERO: Self = 0;
        const ONE: Self = 1;
        #[inline(always)]
        fn to_cell(self) -> u64 {
            self as u64
        }
        #[inline(always)]
        fn from_cell(cell: u64) -> Self {
            cell as i64
        }
        fn field_value(self) -> FieldValue {
            FieldValue::Signed(self)
        }
        #[inline(always)]
        fn magnitude_and_sign(self) -> (u64, bool) {
            (self.unsigned_abs(), self < 0)
        }
        #[inline(always)]
        fn to_i128(self) -> i128 {
            i128::from(self)
        }
        #[inline(always)]
        fn from_low_end(low: i128) -> Self {
            // Below `i64::MIN` near it (the words may sit a bound below the value); above
            // `i64::MAX - 2^58` the value reads as wrapped (module docs of `approx`).
            i64::try_from(low).unwrap_or(i64::MIN)
        }
        #[inline(always)]
        fn saturating_from(v: i128) -> Self {
            v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        }
    }
}

/// What a [`GenericCounter`] counts in: `u64` ([`Counter`]) or `i64` ([`UpDownCounter`]).
/// Sealed: the two are all there is.
///
/// ```
/// fn total<V: shardstat::CounterValue>(c: &shardstat::GenericCounter<V>) -> V {
///     c.get()
/// }
/// let sent = shardstat::Counter::new();
/// sent.add(3);
/// assert_eq!(total(&sent), 3u64);
/// let queued = shardstat::UpDownCounter::new();
/// queued.sub(2);
/// assert_eq!(total(&queued), -2i64);
/// ```
pub trait CounterValue:
    sealed::Value + fmt::Debug + Default + PartialEq + Eq + std::hash::Hash + Send + Sync + 'static
{
}

impl CounterValue for u64 {}
impl CounterValue for i64 {}

/// A monotone 64-bit counter, sharded per thread: `add` costs a plain load and store on a
/// cell that only the calling thread writes.
///
/// Each thread that adds has its own 8-byte cell of the counter, in its arena beside its
/// cells of every other counter ([`crate`] docs, "Memory"). [`get`](GenericCounter::get) sums
/// the cells. Use it where many threads add and few read — bytes sent per channel, pages
/// scanned, requests served. Where adds are rare, or the hot path *reads* the value, a plain
/// [`AtomicU64`](std::sync::atomic::AtomicU64) is smaller and just as fast.
///
/// Its methods are [`GenericCounter`]'s (this is `GenericCounter<u64>`), and
/// [`raise_to`](GenericCounter::raise_to).
///
/// # Semantics
/// 1. **Exact at rest.** Once every add happened-before a `get` (the adding threads were
///    joined, or handed over through a lock or channel), `get` returns the exact sum,
///    wrapping at `u64::MAX` like [`u64::wrapping_add`].
/// 2. **Nothing lost, nothing counted twice** — under contention; when a thread exits (its
///    count stays in the total, and a new thread that is given the exited thread's shard
///    carries on from it); when threads start while a `get` walks the shards; when a thread
///    panics after adding.
/// 3. **Monotone reads.** Without `set`/`reset`, successive `get`s on one thread never
///    decrease (until the sum wraps).
/// 4. **Exact, race-free `set`/`reset`.** An add concurrent with `set(v)` is counted on top
///    of `v` or not at all — never twice, never in part. With no concurrent adds, `get` after
///    `set(v)` is `v`; every add that starts after `set` returns is counted on top of `v`. A
///    `get` sees a `set` wholly or not at all.
/// 5. **No locked instruction on the add path**, and only the owning thread writes its cell
///    of a live counter: `set` works by adjusting a base, never by writing into shards.
/// 6. **A new counter starts at 0 everywhere**, even where it reuses the cells of a dropped
///    one: dropping a counter clears its cells in every shard (by then nothing writes them).
///
/// # Memory
/// 8 bytes per thread that has added, in that thread's arena. The counter takes its place in
/// every arena at its first use (a counter never used takes none) and gives it back when it
/// is dropped. Shards are reused after a thread exits, so memory follows the peak number of
/// threads alive at once, not the number ever created. The `Counter` itself is 24 bytes.
///
/// # Example
/// ```
/// use shardstat::Counter;
///
/// static PAGES_SENT: Counter = Counter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1000 {
///                 PAGES_SENT.inc();
///             }
///         });
///     }
/// });
/// assert_eq!(PAGES_SENT.get(), 4000);
/// ```
pub type Counter = GenericCounter<u64>;

/// A signed 64-bit counter that goes up and down, sharded per thread (the signed use of
/// Java's `LongAdder` and Linux's `percpu_counter`): in-flight requests, queued bytes,
/// outstanding pages.
///
/// Shards hold two's-complement deltas, so one thread may add what another subtracts. It
/// has the same semantics and costs as [`Counter`] — exact at rest, nothing lost or counted
/// twice, exact race-free `set`/`reset`, no locked instruction on `add` — except that reads
/// are not monotone, and the sum wraps at `i64::MAX`/`i64::MIN` like [`i64::wrapping_add`].
///
/// While adds and subtracts race with a read, the read may see a subtract before the add it
/// pairs with, just as a single atomic read between them would.
///
/// Its methods are [`GenericCounter`]'s (this is `GenericCounter<i64>`, so `add` takes an
/// `i64`), and [`sub`](GenericCounter::sub) and [`dec`](GenericCounter::dec).
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
pub type UpDownCounter = GenericCounter<i64>;

/// The calling thread's shard of a [`Counter`] (or of a `Counter` field of a stat group): see
/// [`GenericLocalCounter`].
///
/// ```
/// let c = shardstat::Counter::new();
/// let local: shardstat::LocalCounter<'_> = c.local();
/// local.add(2);
/// assert_eq!(c.get(), 2);
/// ```
pub type LocalCounter<'a> = GenericLocalCounter<'a, u64>;

/// The calling thread's shard of an [`UpDownCounter`] (or of such a field of a stat group):
/// see [`GenericLocalCounter`].
///
/// ```
/// let c = shardstat::UpDownCounter::new();
/// let local: shardstat::LocalUpDownCounter<'_> = c.local();
/// local.inc();
/// local.inc();
/// local.dec();
/// assert_eq!(c.get(), 1);
/// ```
pub type LocalUpDownCounter<'a> = GenericLocalCounter<'a, i64>;

/// A [`Counter`] field of a stat group: see [`GenericCounterField`].
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
/// fn count_two<const N: usize>(packets: shardstat::group::CounterField<'_, N>) {
///     packets.add(2);
/// }
/// let net = Net::new();
/// count_two(net.packets());
/// assert_eq!(net.packets().get(), 2);
/// ```
pub type CounterField<'a, const N: usize> = GenericCounterField<'a, u64, N>;

/// An [`UpDownCounter`] field of a stat group: see [`GenericCounterField`].
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
pub type UpDownCounterField<'a, const N: usize> = GenericCounterField<'a, i64, N>;

/// An exact counter sharded per thread, counting in `V`: use it as [`Counter`] (`u64`,
/// monotone) or [`UpDownCounter`] (`i64`, up and down), whose docs say what it promises.
///
/// ```
/// let c = shardstat::Counter::new();
/// c.add(2);
/// assert_eq!(c.get(), 2);
/// ```
pub struct GenericCounter<V: CounterValue> {
    cells: Sharded<1>,
    _value: PhantomData<V>,
}

impl<V: CounterValue> GenericCounter<V> {
    sync::const_fn! {
        /// A counter at 0. `const`, so a counter can be a `static`.
        ///
        /// ```
        /// static REQUESTS: shardstat::Counter = shardstat::Counter::new();
        /// assert_eq!(REQUESTS.get(), 0);
        /// ```
        pub fn new() -> Self {
            GenericCounter {
                cells: Sharded::new(),
                _value: PhantomData,
            }
        }
    }

    /// Adds `n` (negative `n` subtracts, on an [`UpDownCounter`]), wrapping.
    ///
    /// ```
    /// let bytes = shardstat::Counter::new();
    /// bytes.add(4096);
    /// bytes.add(512);
    /// assert_eq!(bytes.get(), 4608);
    ///
    /// let queued = shardstat::UpDownCounter::new();
    /// queued.add(5);
    /// queued.add(-7);
    /// assert_eq!(queued.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: V) {
        self.field().add(n);
    }

    /// Adds 1.
    ///
    /// ```
    /// let syncs = shardstat::Counter::new();
    /// syncs.inc();
    /// assert_eq!(syncs.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// The sum of every thread's adds (since the last `set`/`reset`), wrapping.
    ///
    /// Walks one cache line per thread that has added. Adds that happened-before the call are
    /// all included; adds concurrent with it may or may not be.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(2));
    ///     s.spawn(|| c.add(3));
    /// });
    /// assert_eq!(c.get(), 5);
    /// ```
    pub fn get(&self) -> V {
        self.field().get()
    }

    /// Makes the counter read `value`, exactly, even while other threads add: each
    /// concurrent add is counted on top of `value` or not at all.
    ///
    /// Walks the shards once; never writes into them.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.add(10);
    /// c.set(100);
    /// c.add(1);
    /// assert_eq!(c.get(), 101);
    /// ```
    pub fn set(&self, value: V) {
        self.field().set(value);
    }

    /// Sets the counter to 0 (exactly as `set(0)`).
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.add(7);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(V::ZERO);
    }

    /// Returns the value and leaves the counter at 0, as one step: a drain, for exporting
    /// deltas (statsd, OpenTelemetry's delta temporality, a per-interval flush). **Every add
    /// is counted exactly once** — in one `take`, or in what the counter reads after the
    /// last one — whatever runs concurrently: adds on any number of threads, threads
    /// starting and exiting, other `take`s, `set`, `reset`.
    ///
    /// It is a [`set(0)`](GenericCounter::set) that returns what it removed, from the same
    /// read of the shards: no shard is written, so an add racing it counts in this take or
    /// after it. (Java's `LongAdder.sumThenReset` sums the cells, then zeroes them one by
    /// one, and loses an add that lands between the two; a [`get`](GenericCounter::get)
    /// followed by a [`reset`](GenericCounter::reset) loses the adds between them the same
    /// way.) Costs what a `set` costs: one walk of the shards under the counter's version
    /// lock.
    ///
    /// ```
    /// use shardstat::Counter;
    ///
    /// static SENT: Counter = Counter::new();
    /// let mut total = 0;
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| (0..10_000).for_each(|_| SENT.inc()));
    ///     }
    ///     for _ in 0..10 {
    ///         total += SENT.take(); // this interval's delta, while the threads add
    ///     }
    /// });
    /// total += SENT.take();
    /// assert_eq!(total, 40_000); // every add in exactly one delta
    /// assert_eq!(SENT.get(), 0);
    /// ```
    pub fn take(&self) -> V {
        self.field().take()
    }

    /// A handle on the calling thread's shard, for loops that add many times: it skips the
    /// per-add shard lookup. It cannot leave the thread (it is neither `Send` nor `Sync`).
    ///
    /// Use it while the thread runs, not from a thread-local's destructor: once a thread's
    /// thread-locals are being destroyed, the shard the handle found may already have been
    /// returned, and be another thread's. There, call [`add`](GenericCounter::add), which
    /// finds a shard afresh (and returns it when the destructor ends).
    ///
    /// ```
    /// let pages = shardstat::Counter::new();
    /// let local = pages.local();
    /// for _ in 0..1_000 {
    ///     local.inc();
    /// }
    /// assert_eq!(pages.get(), 1_000);
    /// ```
    #[inline]
    pub fn local(&self) -> GenericLocalCounter<'_, V> {
        self.field().local()
    }

    /// The counter as cell 0 of its one-cell run: the methods live on the field handle,
    /// shared with stat groups.
    #[inline(always)]
    fn field(&self) -> GenericCounterField<'_, V, 1> {
        GenericCounterField::new(&self.cells, 0)
    }

    /// The counter's cells, for the crate's tests.
    #[cfg(test)]
    pub(crate) fn sharded(&self) -> &Sharded<1> {
        &self.cells
    }
}

impl Counter {
    /// Makes the counter at least `value`, exactly, even while other threads add: if it
    /// reads less, it becomes `value` plus the adds that land after this call read it; if it
    /// reads `value` or more, nothing changes. It never goes backwards — a reader never sees
    /// it fall — which a [`get`](GenericCounter::get) followed by a
    /// [`set`](GenericCounter::set) cannot promise (adds between the two are cancelled). The
    /// `metrics` facade's `Counter::absolute`. [`Counter`] only.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.add(10);
    /// c.raise_to(25);
    /// assert_eq!(c.get(), 25);
    /// c.raise_to(5); // already above: no change
    /// c.inc();
    /// assert_eq!(c.get(), 26);
    /// ```
    pub fn raise_to(&self, value: u64) {
        self.cells.raise_sum(0, value);
    }
}

impl UpDownCounter {
    /// Subtracts `n`, wrapping. [`UpDownCounter`] only.
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

    /// Subtracts 1. [`UpDownCounter`] only.
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
}

/// [`UpDownCounter::get`] with each shard's cell read as two 32-bit halves and no sequence
/// check: on a target without 64-bit atomics, what a reader that skipped the check would
/// see (a torn value while a write crosses 2^32). Only for the torn-read test's negative
/// control, through `__private::torn_read`; split-cell builds only.
#[cfg(shardstat_split_word)]
pub fn get_without_sequence_check(counter: &UpDownCounter) -> i64 {
    counter.cells.raw_sum_unchecked(0) as i64
}

impl<V: CounterValue> Default for GenericCounter<V> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<V: CounterValue> fmt::Debug for GenericCounter<V> {
    /// Shows the current value: `Counter { value: 42 }`, `UpDownCounter { value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::NAMES[0])
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of a [`Counter`] or [`UpDownCounter`] (or of such a field of
/// a stat group), found once: [`add`](GenericLocalCounter::add) is then a load and a store,
/// nothing more. Named [`LocalCounter`] and [`LocalUpDownCounter`].
///
/// Neither `Send` nor `Sync`: the shard belongs to the thread that made the handle, and
/// only that thread may write it. Moving one to another thread does not compile:
///
/// ```compile_fail,E0277
/// let c = shardstat::Counter::new();
/// let local = c.local();
/// std::thread::scope(|s| {
///     s.spawn(move || local.inc()); // error[E0277]: `*const u64` cannot be sent between threads
/// });
/// ```
///
/// Do not keep one in a thread-local whose destructor runs after the thread has released
/// its shard (another thread may then own it); a local handle on the stack, as in the
/// example, is always fine.
///
/// ```
/// use shardstat::Counter;
///
/// let zero_pages = Counter::new();
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let local = zero_pages.local();
///             for _ in 0..500 {
///                 local.inc();
///             }
///         });
///     }
/// });
/// assert_eq!(zero_pages.get(), 1_000);
/// ```
pub struct GenericLocalCounter<'a, V: CounterValue> {
    cell: &'a AtomicU64,
    _owner_thread: PhantomData<*const V>,
}

impl<'a, V: CounterValue> GenericLocalCounter<'a, V> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64) -> Self {
        GenericLocalCounter {
            cell,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n` to the counter, wrapping (see [`GenericCounter::add`]).
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.local().add(64);
    /// assert_eq!(c.get(), 64);
    /// ```
    #[inline]
    pub fn add(&self, n: V) {
        add_owned(self.cell, n.to_cell());
    }

    /// Adds 1 to the counter.
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// c.local().inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// This thread's cell: what this thread (and any exited thread whose shard it took over)
    /// has added in total, before any `set`/`reset` is applied (those adjust the counter's
    /// base, not the cells).
    ///
    /// ```
    /// let c = shardstat::Counter::new();
    /// let local = c.local();
    /// local.add(3);
    /// assert_eq!(local.shard_value(), 3);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> V {
        V::from_cell(self.cell.load(crate::sync::Ordering::Relaxed))
    }
}

impl<'a> LocalUpDownCounter<'a> {
    /// Subtracts `n`, wrapping. [`LocalUpDownCounter`] only.
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

    /// Subtracts 1. [`LocalUpDownCounter`] only.
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
}

impl<V: CounterValue> fmt::Debug for GenericLocalCounter<'_, V> {
    /// Shows this thread's shard: `LocalCounter { shard_value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::NAMES[1])
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

/// A [`Counter`] or [`UpDownCounter`] field of a stat group: the same methods as the
/// standalone type, on the group's shared cells. Returned by the group's accessor method;
/// named [`CounterField`] and [`UpDownCounterField`].
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
pub struct GenericCounterField<'a, V: CounterValue, const N: usize> {
    group: &'a Sharded<N>,
    cell: usize,
    _value: PhantomData<V>,
}

impl<V: CounterValue, const N: usize> Clone for GenericCounterField<'_, V, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V: CounterValue, const N: usize> Copy for GenericCounterField<'_, V, N> {}

impl<'a, V: CounterValue, const N: usize> GenericCounterField<'a, V, N> {
    #[inline(always)]
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize) -> Self {
        GenericCounterField {
            group,
            cell,
            _value: PhantomData,
        }
    }

    /// Adds `n`, wrapping (see [`GenericCounter::add`]).
    #[inline]
    pub fn add(&self, n: V) {
        let (cell, n) = (self.cell, n.to_cell());
        self.group.with_own(move |cells| add_owned(&cells[cell], n));
    }

    /// Adds 1 (see [`GenericCounter::inc`]).
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// The field's sum over every thread (see [`GenericCounter::get`]).
    pub fn get(&self) -> V {
        V::from_cell(self.group.sum(self.cell))
    }

    /// Makes this field read `value`, exactly, even under concurrent adds (see
    /// [`GenericCounter::set`]). The other fields are untouched.
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().add(9);
    /// g.c().set(100);
    /// assert_eq!(g.c().get(), 100);
    /// ```
    #[track_caller]
    pub fn set(&self, value: V) {
        sharded::refuse_group_write_inside_update(self.cell, "a group field's set() or reset()");
        self.group.set(self.cell, value.to_cell());
    }

    /// Sets this field to 0 (see [`GenericCounter::reset`]).
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread: it takes the group's version
    /// lock, which a group `reset` holds while it waits for that very step.
    #[track_caller]
    pub fn reset(&self) {
        self.set(V::ZERO);
    }

    /// Returns this field's value and leaves it at 0, as one step: every add is counted in
    /// exactly one take or in a later read (see [`GenericCounter::take`]). The other fields
    /// are untouched.
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread, as [`set`](Self::set).
    ///
    /// ```
    /// # shardstat::stats! { #[snapshot = S] #[local = L] pub struct G { pub c: shardstat::Counter } }
    /// let g = G::new();
    /// g.c().add(9);
    /// assert_eq!(g.c().take(), 9);
    /// g.c().inc();
    /// assert_eq!(g.c().take(), 1);
    /// assert_eq!(g.c().get(), 0);
    /// ```
    #[track_caller]
    pub fn take(&self) -> V {
        sharded::refuse_group_write_inside_update(self.cell, "a group field's take()");
        V::from_cell(self.group.take_sum(self.cell))
    }

    /// The calling thread's shard of this field (see [`GenericCounter::local`]).
    #[inline]
    pub fn local(&self) -> GenericLocalCounter<'a, V> {
        GenericLocalCounter::new(&self.group.own()[self.cell])
    }
}

impl<const N: usize> UpDownCounterField<'_, N> {
    /// Subtracts `n`, wrapping. [`UpDownCounterField`] only.
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

    /// Subtracts 1. [`UpDownCounterField`] only.
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
}

impl<V: CounterValue, const N: usize> fmt::Debug for GenericCounterField<'_, V, N> {
    /// Shows the field's value: `CounterField { value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::NAMES[2])
            .field("value", &self.get())
            .finish()
    }
}

impl<V: CounterValue> field::sealed::Sealed for GenericCounter<V> {}

impl<V: CounterValue> Field for GenericCounter<V> {
    const METRIC_KIND: MetricKind = V::METRIC_KIND;
    const WIDTH: usize = 1;
    type Value = V;
    type Handle<'a, const N: usize> = GenericCounterField<'a, V, N>;
    type Local<'a> = GenericLocalCounter<'a, V>;
    const EMPTY: V = V::ZERO;
    fn delta(newer: V, older: V) -> V {
        V::from_cell(newer.to_cell().wrapping_sub(older.to_cell()))
    }
}

impl<V: CounterValue> FieldParts for GenericCounter<V> {
    fn field_value(value: V) -> FieldValue {
        value.field_value()
    }
    const KIND: FieldKind = FieldKind::Sum;
    type Stored = NoStorage;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        _: &'a NoStorage,
    ) -> GenericCounterField<'a, V, N> {
        GenericCounterField::new(group, cell)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        _: &'a NoStorage,
    ) -> GenericLocalCounter<'a, V> {
        GenericLocalCounter::new(&own[cell])
    }
    fn value(raw: &[u64], cell: usize, _: &NoStorage) -> V {
        V::from_cell(raw[cell])
    }
    fn reset_stored(_: &NoStorage) {}
}
