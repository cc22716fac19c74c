//! The approximate counters: one generic type, [`GenericApproxCounter`], over the value it
//! counts in, and its two uses — [`ApproxCounter`] (`u64`) and [`ApproxUpDownCounter`]
//! (`i64`) — with their group fields and local handles. What only the signed one has
//! (`sub`, `limited_sub`) is written for it alone.

use super::*;

/// A monotone `u64` counter sharded per thread, like [`Counter`](crate::Counter), that also
/// answers in O(1) loads: [`approx`](GenericApproxCounter::approx) (a value at most
/// [`error_bound`](GenericApproxCounter::error_bound) below the exact one),
/// [`compare`](GenericApproxCounter::compare) (exact, reading the shards only near the
/// threshold) and [`limited_add`](GenericApproxCounter::limited_add) (adds only if the total
/// stays within a limit, never overshooting) — Linux's `percpu_counter_read`,
/// `__percpu_counter_compare` and `percpu_counter_limited_add`.
///
/// `BATCH` (a power of two, 2 to 2^32; 1024 by default) trades the bound for traffic: each
/// thread's cell carries its whole batches into a shared word, once per `BATCH` it adds, and
/// the bound is `shards × (BATCH − 1)`. Pick it well above the typical add, and so that the
/// bound is small next to the thresholds you compare against.
///
/// Its methods are [`GenericApproxCounter`]'s (this is `GenericApproxCounter<u64, BATCH>`).
///
/// # Semantics
/// Everything [`Counter`](crate::Counter) promises (exact at rest, nothing lost, exact
/// race-free `set`/`reset`, no locked instruction on an add that does not cross a batch), and:
/// 1. **`approx_range()` holds the exact value** at the moment of its read, under any
///    concurrency (each add in flight counted or not); `approx()` is its start and never
///    exceeds the exact value; at rest `approx() ≤ get() ≤ approx() + error_bound()`. (Two
///    separate calls, `approx()` then `error_bound()`, do not bracket a moving value.)
/// 2. **`compare(v)` is exact**: it returns what `get().cmp(&v)` would, reading the shards
///    only when `v` is within the bound of the approximate value.
/// 3. **`limited_add(n, limit)` never overshoots**: it adds only if the exact total stays
///    `≤ limit`, under any concurrency with other limited adds, whatever their limits; it
///    refuses only if the total at some moment during the call left no room. It is
///    lock-free (no precise sum) while its limit is the counter's last one (module docs,
///    "One limit per direction") and the total is far from it.
/// 4. `set`/`reset` stay exact; the approximate value follows them.
///
/// 5. Called inside a stat group's `update` (any group's), `set`, `reset` and `limited_add`
///    panic with a message (module docs, "Inside an `update`"); reads work anywhere.
///
/// Approximate reads assume the value stays below 2^64 − 2^58 (module docs, "The range"):
/// only `add` and `set` can take it past that; `get` stays exact there.
///
/// # Memory
/// 16 bytes per thread that has added (its cell and the bracket word limited adds use), and
/// the counter itself is 256 bytes (the carried words have a cache line of their own).
///
/// # A batch that is not a power of two
/// is refused at compile time — by `cargo check` for a `static` (its initializer is
/// evaluated then), and by `cargo build` elsewhere (a generic constant is evaluated when the
/// code is generated, which `cargo check` does not do): one error, naming the value and the
/// powers of two around it, then a note at the line that made the counter.
///
/// ```compile_fail,E0080
/// // error[E0080]: evaluation panicked: shardstat: an approximate counter's BATCH must be a
/// //     power of two from 2 to 2^32; the nearest are 512 (2^9) and 1024 (2^10)
/// //   = note: evaluation of `shardstat::approx::words::Batch::<1000>::CHECK` failed here
/// let c = shardstat::ApproxCounter::<1000>::new();
/// # c.inc();
/// ```
///
/// # Example
/// ```
/// use shardstat::ApproxCounter;
///
/// // A quota of 1 MiB, charged by many threads.
/// static USED: ApproxCounter<4096> = ApproxCounter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| while USED.limited_add(1000, 1 << 20) {});
///     }
/// });
/// let used = USED.get();
/// assert!(used <= 1 << 20 && used + 1000 > 1 << 20, "filled, never past the limit");
/// assert!(USED.approx() <= used && used <= USED.approx() + USED.error_bound());
/// assert!(USED.exceeds(1_000_000));
/// ```
pub type ApproxCounter<const BATCH: u64 = 1024> = GenericApproxCounter<u64, BATCH>;

/// A signed `i64` counter sharded per thread, like [`UpDownCounter`](crate::UpDownCounter),
/// with the O(1) reads of [`ApproxCounter`]: [`approx`](GenericApproxCounter::approx),
/// [`compare`](GenericApproxCounter::compare), and limits on both sides —
/// [`limited_add`](GenericApproxCounter::limited_add) (stays `≤ max`) and
/// [`limited_sub`](GenericApproxCounter::limited_sub) (stays `≥ min`): a semaphore, a byte
/// budget, a pool that must not go below empty.
///
/// The same semantics as [`ApproxCounter`] (the bound is again `shards × (BATCH − 1)`, above
/// `approx()`), on `i64` values that wrap like [`i64::wrapping_add`], in both directions
/// (`approx_range()` holds the exact value while values fall too, when `low` moves first).
/// Approximate reads cover `i64::MIN ..= i64::MAX − 2^58`: near `i64::MIN` the approximate
/// word may lie below it and is read so; above `i64::MAX − 2^58` (only `add` and `set` go
/// there) they read the value as wrapped. Limited adds and subtracts never pass their limit,
/// up to `i64::MAX` and down to `i64::MIN`.
///
/// Its methods are [`GenericApproxCounter`]'s (this is `GenericApproxCounter<i64, BATCH>`,
/// so `add` takes an `i64`), and [`sub`](GenericApproxCounter::sub) and
/// [`limited_sub`](GenericApproxCounter::limited_sub).
///
/// # Example
/// ```
/// use shardstat::ApproxUpDownCounter;
///
/// // Free buffer space: taken by many threads, never below 0.
/// let free = ApproxUpDownCounter::<256>::new();
/// free.set(10_000);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| while free.limited_sub(300, 0) {});
///     }
/// });
/// let left = free.get();
/// assert!((0..300).contains(&left), "drained, never below empty");
/// free.add(600); // buffers returned
/// assert!(free.limited_add(100, 10_000) && !free.limited_add(10_000, 10_000));
/// ```
pub type ApproxUpDownCounter<const BATCH: u64 = 1024> = GenericApproxCounter<i64, BATCH>;

/// The calling thread's shard of an [`ApproxCounter`]: see [`GenericLocalApproxCounter`].
///
/// ```
/// let c = shardstat::ApproxCounter::<1024>::new();
/// let local: shardstat::LocalApproxCounter<'_, 1024> = c.local();
/// local.add(64);
/// assert_eq!(c.get(), 64);
/// ```
pub type LocalApproxCounter<'a, const BATCH: u64> = GenericLocalApproxCounter<'a, u64, BATCH>;

/// The calling thread's shard of an [`ApproxUpDownCounter`]: see
/// [`GenericLocalApproxCounter`].
///
/// ```
/// let c = shardstat::ApproxUpDownCounter::<1024>::new();
/// let local: shardstat::LocalApproxUpDownCounter<'_, 1024> = c.local();
/// local.add(5);
/// local.sub(8);
/// assert_eq!(c.get(), -3);
/// ```
pub type LocalApproxUpDownCounter<'a, const BATCH: u64> = GenericLocalApproxCounter<'a, i64, BATCH>;

/// An [`ApproxCounter`] field of a stat group: see [`GenericApproxCounterField`].
///
/// ```
/// use shardstat::{stats, ApproxCounter};
/// stats! {
///     #[snapshot = IoSnapshot]
///     #[local = IoLocal]
///     pub struct Io {
///         pub bytes: ApproxCounter<4096>,
///     }
/// }
/// let io = Io::new();
/// io.bytes().add(10_000);
/// assert_eq!(io.bytes().approx(), 8192);
/// assert!(io.bytes().limited_add(100, 20_000));
/// assert_eq!(io.snapshot().bytes, 10_100);
/// ```
pub type ApproxCounterField<'a, const N: usize, const BATCH: u64> =
    GenericApproxCounterField<'a, u64, N, BATCH>;

/// An [`ApproxUpDownCounter`] field of a stat group: see [`GenericApproxCounterField`].
///
/// ```
/// use shardstat::{stats, ApproxUpDownCounter};
/// stats! {
///     #[snapshot = PoolSnapshot]
///     #[local = PoolLocal]
///     pub struct Pool {
///         pub free: ApproxUpDownCounter<64>,
///     }
/// }
/// let pool = Pool::new();
/// pool.free().set(100);
/// assert!(pool.free().limited_sub(60, 0));
/// assert!(!pool.free().limited_sub(60, 0));
/// assert_eq!(pool.snapshot().free, 40);
/// ```
pub type ApproxUpDownCounterField<'a, const N: usize, const BATCH: u64> =
    GenericApproxCounterField<'a, i64, N, BATCH>;

/// An approximate counter counting in `V`: use it as [`ApproxCounter`] (`u64`) or
/// [`ApproxUpDownCounter`] (`i64`), whose docs say what it promises.
///
/// ```
/// let c = shardstat::ApproxCounter::<1024>::new();
/// c.add(2);
/// assert_eq!(c.get(), 2);
/// ```
pub struct GenericApproxCounter<V: CounterValue, const BATCH: u64 = 1024> {
    pub(super) cells: Sharded<2>,
    pub(super) carried: Carried,
    _value: PhantomData<V>,
}

impl<V: CounterValue, const BATCH: u64> GenericApproxCounter<V, BATCH> {
    sync::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`. A `BATCH` that is not a power of
        /// two from 2 to 2^32 is a compile error.
        ///
        /// ```
        /// static BYTES: shardstat::ApproxCounter<65536> = shardstat::ApproxCounter::new();
        /// assert_eq!(BYTES.approx(), 0);
        /// ```
        pub fn new() -> Self {
            let () = Batch::<BATCH>::CHECK;
            GenericApproxCounter {
                cells: Sharded::new(),
                carried: Carried::new(),
                _value: PhantomData,
            }
        }
    }

    /// The counter as cell 1 of its run (cell 0 is the bracket word of limited adds).
    #[inline(always)]
    pub(super) fn field(&self) -> GenericApproxCounterField<'_, V, 2, BATCH> {
        GenericApproxCounterField::new(&self.cells, 1, &self.carried)
    }

    /// Adds `n` (negative `n` subtracts, on an [`ApproxUpDownCounter`]), wrapping. A load
    /// and a store, plus two atomic adds on the shared carried words once per `BATCH` this
    /// thread adds.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(4096);
    /// assert_eq!(c.get(), 4096);
    ///
    /// let d = shardstat::ApproxUpDownCounter::<1024>::new();
    /// d.add(5);
    /// d.add(-7);
    /// assert_eq!(d.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: V) {
        self.field().add(n);
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// The exact sum of every thread's adds (see [`GenericCounter::get`](crate::GenericCounter::get)):
    /// walks one cell per thread that has added.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(2));
    ///     s.spawn(|| c.add(3));
    /// });
    /// assert_eq!(c.get(), 5);
    /// ```
    pub fn get(&self) -> V {
        self.field().get()
    }

    /// A value at most [`error_bound`](Self::error_bound) below the exact one, and never
    /// above it: three loads, whatever the number of threads.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000); // four whole batches carried, 904 left in this thread's cell
    /// assert_eq!(c.approx(), 4096);
    /// assert!(c.approx() <= c.get() && c.get() <= c.approx() + c.error_bound());
    ///
    /// let d = shardstat::ApproxUpDownCounter::<1024>::new();
    /// d.add(-5000); // the cell is -5000 = -5 × 1024 + 120: -5120 carried
    /// assert_eq!(d.approx(), -5120);
    /// ```
    #[inline]
    pub fn approx(&self) -> V {
        self.field().approx()
    }

    /// How far the exact value can be above [`approx`](Self::approx) **at rest** (no add in
    /// flight): `(BATCH − 1) ×` the shards that may hold an uncarried remainder. One load.
    ///
    /// While adds run, `approx()` and `error_bound()` are two reads at two moments, and an
    /// add that carries between them (or is halfway through its carry) can put the exact
    /// value above `approx() + error_bound()`. To bracket a moving value, read both ends at
    /// once with [`approx_range`](Self::approx_range).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// assert_eq!(c.error_bound(), 0, "no thread has added");
    /// c.inc();
    /// assert!(c.error_bound() >= 1023);
    /// ```
    #[inline]
    pub fn error_bound(&self) -> u64 {
        self.field().error_bound()
    }

    /// Both ends of where the exact value is, from **one** read (the base and both carried
    /// words together, a few loads): at that moment `range.start() ≤ exact ≤ range.end()`,
    /// counting each add in flight or not — under any concurrency, in both directions. The
    /// start is [`approx`](Self::approx); the end is at most
    /// [`error_bound`](Self::error_bound) above it at rest, and further while carries are in
    /// flight.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000); // four whole batches carried, 904 in this thread's cell
    /// let range = c.approx_range();
    /// assert_eq!(*range.start(), 4096);
    /// assert!(range.contains(&c.get()));
    /// ```
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<V> {
        self.field().approx_range()
    }

    /// `get().cmp(&v)`, exactly, at the cost of [`approx`](Self::approx) unless `v` is
    /// within the bound of it.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(10_000);
    /// assert_eq!(c.compare(5), Ordering::Greater); // decided by approx() alone
    /// assert_eq!(c.compare(10_000), Ordering::Equal); // near: reads the shards
    /// assert_eq!(c.compare(1 << 40), Ordering::Less);
    /// ```
    #[inline]
    pub fn compare(&self, v: V) -> Cmp {
        self.field().compare(v)
    }

    /// Whether the exact value is above `limit` (`compare(limit) == Greater`).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(100);
    /// assert!(c.exceeds(99));
    /// assert!(!c.exceeds(100));
    /// ```
    #[inline]
    pub fn exceeds(&self, limit: V) -> bool {
        self.compare(limit) == Cmp::Greater
    }

    /// Adds `n` only if the total then stays `≤ limit`; returns whether it added. Never
    /// overshoots, whatever other threads' limited adds do; refuses only when there was no
    /// room. Lock-free far from the limit (module docs of [`ApproxCounter`]); near it, takes
    /// the counter's lock and sums the shards.
    ///
    /// ```
    /// let quota = shardstat::ApproxCounter::<1024>::new();
    /// assert!(quota.limited_add(600, 1000));
    /// assert!(!quota.limited_add(600, 1000), "would reach 1200");
    /// assert!(quota.limited_add(400, 1000), "exactly at the limit is allowed");
    /// assert_eq!(quota.get(), 1000);
    /// ```
    #[inline]
    #[track_caller]
    pub fn limited_add(&self, n: u64, limit: V) -> bool {
        self.field().limited_add(n, limit)
    }

    /// Makes the counter read `value`, exactly (see
    /// [`GenericCounter::set`](crate::GenericCounter::set)); in-flight limited adds finish
    /// first, so none of them decides from the old value.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000);
    /// c.set(10);
    /// assert_eq!(c.get(), 10);
    /// assert!(c.approx() <= 10 && 10 <= c.approx() + c.error_bound());
    /// ```
    #[track_caller]
    pub fn set(&self, value: V) {
        self.field().set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000);
    /// c.reset();
    /// assert_eq!((c.get(), c.compare(0)), (0, std::cmp::Ordering::Equal));
    /// ```
    #[track_caller]
    pub fn reset(&self) {
        self.set(V::ZERO);
    }

    /// Returns the value and leaves the counter at 0, as one step: every add is counted in
    /// exactly one take or in a later read (see
    /// [`GenericCounter::take`](crate::GenericCounter::take)); in-flight limited adds finish
    /// first, as for [`set`](Self::set).
    ///
    /// # Panics
    /// Inside any stat group's `update` on the same thread (it may wait for steps).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000);
    /// assert_eq!(c.take(), 5000);
    /// assert_eq!((c.get(), c.compare(0)), (0, std::cmp::Ordering::Equal));
    /// ```
    #[track_caller]
    pub fn take(&self) -> V {
        self.field().take()
    }

    /// A handle on the calling thread's shard, for loops that add many times (see
    /// [`GenericCounter::local`](crate::GenericCounter::local)).
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// let local = c.local();
    /// for _ in 0..3000 {
    ///     local.inc();
    /// }
    /// assert_eq!((c.get(), c.approx()), (3000, 2048));
    /// ```
    #[inline]
    pub fn local(&self) -> GenericLocalApproxCounter<'_, V, BATCH> {
        self.field().local()
    }
}

impl<const BATCH: u64> ApproxUpDownCounter<BATCH> {
    /// Subtracts `n`, wrapping. [`ApproxUpDownCounter`] only.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.sub(3);
    /// assert_eq!(c.get(), -3);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.field().sub(n);
    }

    /// Subtracts `n` only if the total then stays `≥ min`; returns whether it subtracted.
    /// Never undershoots; lock-free far from `min`. [`ApproxUpDownCounter`] only.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.set(5);
    /// assert!(!c.limited_sub(6, 0), "would go below 0");
    /// assert!(c.limited_sub(5, 0));
    /// assert_eq!(c.get(), 0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn limited_sub(&self, n: u64, min: i64) -> bool {
        self.field().limited_sub(n, min)
    }
}

impl<V: CounterValue, const BATCH: u64> Default for GenericApproxCounter<V, BATCH> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<V: CounterValue, const BATCH: u64> fmt::Debug for GenericApproxCounter<V, BATCH> {
    /// Shows the exact value and the batch: `ApproxCounter { value: 42, batch: 1024 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::APPROX_NAMES[0])
            .field("value", &self.get())
            .field("batch", &BATCH)
            .finish()
    }
}

/// An [`ApproxCounter`] or [`ApproxUpDownCounter`] field of a stat group: the same methods,
/// on the group's cells (its limited adds use the group's sequence word as their bracket).
/// Named [`ApproxCounterField`] and [`ApproxUpDownCounterField`]; each method's example is
/// on the standalone type's.
///
/// ```
/// use shardstat::{stats, ApproxCounter};
/// stats! {
///     #[snapshot = IoSnapshot]
///     #[local = IoLocal]
///     pub struct Io {
///         pub bytes: ApproxCounter<4096>,
///     }
/// }
/// let io = Io::new();
/// io.bytes().add(10_000);
/// assert!(io.bytes().limited_add(100, 20_000));
/// assert_eq!(io.bytes().get(), 10_100);
/// ```
pub struct GenericApproxCounterField<'a, V: CounterValue, const N: usize, const BATCH: u64> {
    pub(super) group: &'a Sharded<N>,
    pub(super) cell: usize,
    pub(super) carried: &'a Carried,
    _value: PhantomData<V>,
}

impl<V: CounterValue, const N: usize, const BATCH: u64> Clone
    for GenericApproxCounterField<'_, V, N, BATCH>
{
    fn clone(&self) -> Self {
        *self
    }
}
impl<V: CounterValue, const N: usize, const BATCH: u64> Copy
    for GenericApproxCounterField<'_, V, N, BATCH>
{
}

impl<'a, V: CounterValue, const N: usize, const BATCH: u64>
    GenericApproxCounterField<'a, V, N, BATCH>
{
    #[inline(always)]
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        GenericApproxCounterField {
            group,
            cell,
            carried,
            _value: PhantomData,
        }
    }

    #[inline(always)]
    pub(super) fn core(self) -> Approx<'a, V, N, BATCH> {
        Approx::new(self.group, self.cell, self.carried)
    }

    #[doc = concat!("Adds `n`, wrapping (see [`GenericApproxCounter::add`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5);\nassert_eq!(g.c().get(), 5);\n```")]
    #[inline]
    pub fn add(&self, n: V) {
        let (n, down) = n.magnitude_and_sign();
        self.core().add(n, down);
    }

    /// Adds 1 (see [`GenericApproxCounter::inc`]).
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// The exact sum (see [`GenericApproxCounter::get`]).
    pub fn get(&self) -> V {
        V::from_cell(self.core().get())
    }

    /// A value at most the bound below the exact one (see [`GenericApproxCounter::approx`]).
    #[inline]
    pub fn approx(&self) -> V {
        V::from_low_end(self.core().approx())
    }

    /// How far the exact value can be above `approx()` at rest (see
    /// [`GenericApproxCounter::error_bound`]).
    #[inline]
    pub fn error_bound(&self) -> u64 {
        u64::try_from(self.core().bound()).unwrap_or(u64::MAX)
    }

    /// Both ends of where the exact value is, from one read (see
    /// [`GenericApproxCounter::approx_range`]).
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<V> {
        let (low, high) = self.core().range();
        V::saturating_from(low)..=V::saturating_from(high)
    }

    /// `get().cmp(&v)`, exactly (see [`GenericApproxCounter::compare`]).
    #[inline]
    pub fn compare(&self, v: V) -> Cmp {
        self.core().compare(v.to_i128())
    }

    /// Whether the exact value is above `limit` (see [`GenericApproxCounter::exceeds`]).
    #[inline]
    pub fn exceeds(&self, limit: V) -> bool {
        self.compare(limit) == Cmp::Greater
    }

    #[doc = concat!("Adds `n` only if the total stays `≤ limit` (see [`GenericApproxCounter::limited_add`]).\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.c().limited_add(10, 10));\nassert!(!g.c().limited_add(1, 10));\n```")]
    #[inline]
    #[track_caller]
    pub fn limited_add(&self, n: u64, limit: V) -> bool {
        self.core().limited(n, false, limit.to_i128())
    }

    /// Makes this field read `value`, exactly (see [`GenericApproxCounter::set`]).
    ///
    /// # Panics
    /// If called inside the group's `update` on the same thread.
    #[track_caller]
    pub fn set(&self, value: V) {
        self.core().set(value.to_cell());
    }

    /// Sets this field to 0.
    ///
    /// # Panics
    /// If called inside the group's `update` on the same thread.
    #[track_caller]
    pub fn reset(&self) {
        self.set(V::ZERO);
    }

    #[doc = concat!("Returns this field's value and leaves it at 0, as one step (see [`GenericApproxCounter::take`]).\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(7);\nassert_eq!(g.c().take(), 7);\nassert_eq!(g.c().get(), 0);\n```")]
    #[track_caller]
    pub fn take(&self) -> V {
        V::from_cell(self.core().take())
    }

    /// The calling thread's shard of this field (see [`GenericApproxCounter::local`]).
    #[inline]
    pub fn local(&self) -> GenericLocalApproxCounter<'a, V, BATCH> {
        GenericLocalApproxCounter::new(&self.group.own()[self.cell], self.carried)
    }
}

impl<const N: usize, const BATCH: u64> ApproxCounterField<'_, N, BATCH> {
    /// Whether `get().wrapping_sub(from) > max` (QEMU's rate check), decided from one
    /// read: the approximate words when every value they allow gives the same answer,
    /// otherwise one exact read. Exact over the whole `u64` range, wrapping included.
    pub(crate) fn wrapped_distance_exceeds(&self, from: u64, max: u64) -> bool {
        let (start, width) = self.core().circular_range();
        // The distance from `from` lies in `first ..= first + width` (wrapping at 2^64).
        let first = u128::from(start.wrapping_sub(from));
        let last = first + width;
        let (max, wrap) = (u128::from(max), 1u128 << 64);
        if last <= max {
            false // every possible distance is within the limit
        } else if first > max && last < wrap {
            true // every possible distance is past the limit, none wraps back below it
        } else {
            self.get().wrapping_sub(from) > max as u64
        }
    }
}

impl<const N: usize, const BATCH: u64> ApproxUpDownCounterField<'_, N, BATCH> {
    #[doc = concat!("Subtracts `n`, wrapping. [`ApproxUpDownCounterField`] only.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().sub(5);\nassert_eq!(g.d().get(), -5);\n```")]
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    #[doc = concat!("Subtracts `n` only if the total stays `≥ min`. [`ApproxUpDownCounterField`] only.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.d().limited_sub(10, -10));\nassert!(!g.d().limited_sub(1, -10));\n```")]
    #[inline]
    #[track_caller]
    pub fn limited_sub(&self, n: u64, min: i64) -> bool {
        self.core().limited(n, true, i128::from(min))
    }
}

impl<V: CounterValue, const N: usize, const BATCH: u64> fmt::Debug
    for GenericApproxCounterField<'_, V, N, BATCH>
{
    /// Shows the field's exact value: `ApproxCounterField { value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::APPROX_NAMES[2])
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`ApproxCounter`] or [`ApproxUpDownCounter`] (or of
/// such a group field): adds without the per-add shard lookup. Neither `Send` nor `Sync`,
/// like [`LocalCounter`](crate::LocalCounter). Named [`LocalApproxCounter`] and
/// [`LocalApproxUpDownCounter`].
///
/// ```
/// let c = shardstat::ApproxCounter::<1024>::new();
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let local = c.local();
///             for _ in 0..1000 {
///                 local.inc();
///             }
///         });
///     }
/// });
/// assert_eq!(c.get(), 2000);
/// ```
pub struct GenericLocalApproxCounter<'a, V: CounterValue, const BATCH: u64> {
    pub(super) cell: &'a AtomicU64,
    pub(super) carried: &'a Carried,
    pub(super) _owner_thread: PhantomData<*const V>,
}

impl<'a, V: CounterValue, const BATCH: u64> GenericLocalApproxCounter<'a, V, BATCH> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64, carried: &'a Carried) -> Self {
        GenericLocalApproxCounter {
            cell,
            carried,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n`, wrapping, carrying whole batches.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.local().add(64);
    /// assert_eq!(c.get(), 64);
    /// ```
    #[inline]
    pub fn add(&self, n: V) {
        let (n, down) = n.magnitude_and_sign();
        add_carrying(self.cell, n, down, self.carried, Batch::<BATCH>::MASK);
    }

    /// Adds 1.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.local().inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// This thread's cell: what it (and any exited thread whose shard it took over) added,
    /// before `set`/`reset` adjustments.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// let local = c.local();
    /// local.add(3);
    /// assert_eq!(local.shard_value(), 3);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> V {
        V::from_cell(self.cell.load(Ordering::Relaxed))
    }
}

impl<const BATCH: u64> LocalApproxUpDownCounter<'_, BATCH> {
    /// Subtracts `n`, wrapping. [`LocalApproxUpDownCounter`] only.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.local().sub(2);
    /// assert_eq!(c.get(), -2);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }
}

impl<V: CounterValue, const BATCH: u64> fmt::Debug for GenericLocalApproxCounter<'_, V, BATCH> {
    /// Shows this thread's shard: `LocalApproxCounter { shard_value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::APPROX_NAMES[1])
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

impl<V: CounterValue, const BATCH: u64> field::sealed::Sealed for GenericApproxCounter<V, BATCH> {}

impl<V: CounterValue, const BATCH: u64> Field for GenericApproxCounter<V, BATCH> {
    const METRIC_KIND: MetricKind = V::METRIC_KIND;
    const WIDTH: usize = 1;
    type Value = V;
    type Handle<'a, const N: usize> = GenericApproxCounterField<'a, V, N, BATCH>;
    type Local<'a> = GenericLocalApproxCounter<'a, V, BATCH>;
    const EMPTY: V = V::ZERO;
    fn delta(newer: V, older: V) -> V {
        V::from_cell(newer.to_cell().wrapping_sub(older.to_cell()))
    }
}

impl<V: CounterValue, const BATCH: u64> FieldParts for GenericApproxCounter<V, BATCH> {
    fn field_value(value: V) -> FieldValue {
        value.field_value()
    }
    const KIND: FieldKind = {
        let () = Batch::<BATCH>::CHECK;
        FieldKind::Approx
    };
    type Stored = Carried;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        carried: &'a Carried,
    ) -> GenericApproxCounterField<'a, V, N, BATCH> {
        GenericApproxCounterField::new(group, cell, carried)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        carried: &'a Carried,
    ) -> GenericLocalApproxCounter<'a, V, BATCH> {
        GenericLocalApproxCounter::new(&own[cell], carried)
    }
    fn value(raw: &[u64], cell: usize, _: &Carried) -> V {
        V::from_cell(raw[cell])
    }
    fn reset_stored(_: &Carried) {}
}
