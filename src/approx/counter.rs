//! [`ApproxCounter`], its group field and its local handle.

use super::*;

/// A monotone `u64` counter sharded per thread, like [`Counter`](crate::Counter), that also
/// answers in O(1) loads: [`approx`](Self::approx) (a value at most
/// [`error_bound`](Self::error_bound) below the exact one), [`compare`](Self::compare)
/// (exact, reading the shards only near the threshold) and
/// [`limited_add`](Self::limited_add) (adds only if the total stays within a limit, never
/// overshooting) — Linux's `percpu_counter_read`, `__percpu_counter_compare` and
/// `percpu_counter_limited_add`.
///
/// `BATCH` (a power of two, 2 to 2^32; 1024 by default) trades the bound for traffic: each
/// thread's cell carries its whole batches into a shared word, once per `BATCH` it adds, and
/// the bound is `shards × (BATCH − 1)`. Pick it well above the typical add, and so that the
/// bound is small next to the thresholds you compare against.
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
/// is refused at compile time:
///
/// ```compile_fail
/// // error: shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32
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
pub struct ApproxCounter<const BATCH: u64 = 1024> {
    pub(super) cells: Sharded<2>,
    pub(super) carried: Carried,
}

impl<const BATCH: u64> ApproxCounter<BATCH> {
    sync::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`. A `BATCH` that is not a power of
        /// two from 2 to 2^32 is a compile error.
        ///
        /// ```
        /// static BYTES: shardstat::ApproxCounter<65536> = shardstat::ApproxCounter::new();
        /// assert_eq!(BYTES.approx(), 0);
        /// ```
        pub fn new() -> Self {
            let _ = Batch::<BATCH>::MASK;
            ApproxCounter {
                cells: Sharded::new(),
                carried: Carried::new(),
            }
        }
    }

    /// The counter as cell 1 of its run (cell 0 is the bracket word of limited adds).
    #[inline(always)]
    pub(super) fn field(&self) -> ApproxCounterField<'_, 2, BATCH> {
        ApproxCounterField::new(&self.cells, 1, &self.carried)
    }

    /// Adds `n`, wrapping at `u64::MAX`. A load and a store, plus two atomic adds on the
    /// shared carried words once per `BATCH` this thread adds.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(4096);
    /// assert_eq!(c.get(), 4096);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
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
        self.add(1);
    }

    /// The exact sum of every thread's adds (see [`Counter::get`](crate::Counter::get)):
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
    pub fn get(&self) -> u64 {
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
    /// ```
    #[inline]
    pub fn approx(&self) -> u64 {
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
    /// counting each add in flight or not — under any concurrency. The start is
    /// [`approx`](Self::approx); the end is at most [`error_bound`](Self::error_bound) above
    /// it at rest, and further while carries are in flight.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000); // four whole batches carried, 904 in this thread's cell
    /// let range = c.approx_range();
    /// assert_eq!(*range.start(), 4096);
    /// assert!(range.contains(&c.get()));
    /// ```
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<u64> {
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
    pub fn compare(&self, v: u64) -> Cmp {
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
    pub fn exceeds(&self, limit: u64) -> bool {
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
    pub fn limited_add(&self, n: u64, limit: u64) -> bool {
        self.field().limited_add(n, limit)
    }

    /// Makes the counter read `value`, exactly (see [`Counter::set`](crate::Counter::set));
    /// in-flight limited adds finish first, so none of them decides from the old value.
    ///
    /// ```
    /// let c = shardstat::ApproxCounter::<1024>::new();
    /// c.add(5000);
    /// c.set(10);
    /// assert_eq!(c.get(), 10);
    /// assert!(c.approx() <= 10 && 10 <= c.approx() + c.error_bound());
    /// ```
    pub fn set(&self, value: u64) {
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
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops that add many times (see
    /// [`Counter::local`](crate::Counter::local)).
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
    pub fn local(&self) -> LocalApproxCounter<'_, BATCH> {
        self.field().local()
    }
}

impl<const BATCH: u64> Default for ApproxCounter<BATCH> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<const BATCH: u64> fmt::Debug for ApproxCounter<BATCH> {
    /// Shows the exact value and the batch: `ApproxCounter { value: 42, batch: 1024 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxCounter")
            .field("value", &self.get())
            .field("batch", &BATCH)
            .finish()
    }
}

/// An [`ApproxCounter`] field of a stat group: the same methods, on the group's cells (its
/// limited adds use the group's sequence word as their bracket).
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
pub struct ApproxCounterField<'a, const N: usize, const BATCH: u64> {
    pub(super) group: &'a Sharded<N>,
    pub(super) cell: usize,
    pub(super) carried: &'a Carried,
}

impl<const N: usize, const BATCH: u64> Clone for ApproxCounterField<'_, N, BATCH> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize, const BATCH: u64> Copy for ApproxCounterField<'_, N, BATCH> {}

impl<'a, const N: usize, const BATCH: u64> ApproxCounterField<'a, N, BATCH> {
    #[inline(always)]
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        ApproxCounterField {
            group,
            cell,
            carried,
        }
    }

    #[inline(always)]
    pub(super) fn core(self) -> Approx<'a, N, BATCH, false> {
        Approx::new(self.group, self.cell, self.carried)
    }

    #[doc = concat!("Adds `n`, wrapping (see [`ApproxCounter::add`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5);\nassert_eq!(g.c().get(), 5);\n```")]
    #[inline]
    pub fn add(&self, n: u64) {
        self.core().add(n, false);
    }

    #[doc = concat!("Adds 1.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().inc();\nassert_eq!(g.c().get(), 1);\n```")]
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    #[doc = concat!("The exact sum (see [`ApproxCounter::get`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(7);\nassert_eq!(g.c().get(), 7);\n```")]
    pub fn get(&self) -> u64 {
        self.core().get()
    }

    #[doc = concat!("A value at most the bound below the exact one (see [`ApproxCounter::approx`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(2048);\nassert_eq!(g.c().approx(), 2048);\n```")]
    #[inline]
    pub fn approx(&self) -> u64 {
        let low = self.core().approx();
        // Below 0 only while uncarried remainders exceed a value just set; the exact value
        // is a `u64`, so 0 is the tighter lower bound.
        u64::try_from(low.max(0)).unwrap_or(u64::MAX)
    }

    #[doc = concat!("How far the exact value can be above `approx()` at rest (see [`ApproxCounter::error_bound`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().inc();\nassert!(g.c().error_bound() >= 1023);\n```")]
    #[inline]
    pub fn error_bound(&self) -> u64 {
        u64::try_from(self.core().bound()).unwrap_or(u64::MAX)
    }

    #[doc = concat!("Both ends of where the exact value is, from one read (see [`ApproxCounter::approx_range`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(2000);\nassert!(g.c().approx_range().contains(&2000));\n```")]
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<u64> {
        let (low, high) = self.core().range();
        let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
        clamp(low)..=clamp(high)
    }

    #[doc = concat!("`get().cmp(&v)`, exactly (see [`ApproxCounter::compare`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5000);\nassert_eq!(g.c().compare(1), std::cmp::Ordering::Greater);\n```")]
    #[inline]
    pub fn compare(&self, v: u64) -> Cmp {
        self.core().compare(i128::from(v))
    }

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

    #[doc = concat!("Whether the exact value is above `limit` (see [`ApproxCounter::exceeds`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(5);\nassert!(g.c().exceeds(4) && !g.c().exceeds(5));\n```")]
    #[inline]
    pub fn exceeds(&self, limit: u64) -> bool {
        self.compare(limit) == Cmp::Greater
    }

    #[doc = concat!("Adds `n` only if the total stays `≤ limit` (see [`ApproxCounter::limited_add`]).\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.c().limited_add(10, 10));\nassert!(!g.c().limited_add(1, 10));\n```")]
    #[inline]
    pub fn limited_add(&self, n: u64, limit: u64) -> bool {
        self.core().limited(n, false, i128::from(limit))
    }

    #[doc = concat!("Makes this field read `value`, exactly (see [`ApproxCounter::set`]).\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(9);\ng.c().set(100);\nassert_eq!(g.c().get(), 100);\n```")]
    pub fn set(&self, value: u64) {
        self.core().set(value);
    }

    #[doc = concat!("Sets this field to 0.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().add(9);\ng.c().reset();\nassert_eq!(g.c().get(), 0);\n```")]
    pub fn reset(&self) {
        self.set(0);
    }

    #[doc = concat!("The calling thread's shard of this field (see [`ApproxCounter::local`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.c().local().add(4);\nassert_eq!(g.c().get(), 4);\n```")]
    #[inline]
    pub fn local(&self) -> LocalApproxCounter<'a, BATCH> {
        LocalApproxCounter::new(&self.group.own()[self.cell], self.carried)
    }
}

impl<const N: usize, const BATCH: u64> fmt::Debug for ApproxCounterField<'_, N, BATCH> {
    /// Shows the field's exact value: `ApproxCounterField { value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxCounterField")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`ApproxCounter`] (or of such a group field): adds
/// without the per-add shard lookup. Neither `Send` nor `Sync`, like
/// [`LocalCounter`](crate::LocalCounter).
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
pub struct LocalApproxCounter<'a, const BATCH: u64> {
    pub(super) cell: &'a AtomicU64,
    pub(super) carried: &'a Carried,
    pub(super) _owner_thread: PhantomData<*const ()>,
}

impl<'a, const BATCH: u64> LocalApproxCounter<'a, BATCH> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64, carried: &'a Carried) -> Self {
        LocalApproxCounter {
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
    pub fn add(&self, n: u64) {
        add_carrying(self.cell, n, false, self.carried, Batch::<BATCH>::MASK);
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
        self.add(1);
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
    pub fn shard_value(&self) -> u64 {
        self.cell.load(Ordering::Relaxed)
    }
}

impl<const BATCH: u64> fmt::Debug for LocalApproxCounter<'_, BATCH> {
    /// Shows this thread's shard: `LocalApproxCounter { shard_value: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalApproxCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

impl<const BATCH: u64> field::sealed::Sealed for ApproxCounter<BATCH> {}

impl<const BATCH: u64> Field for ApproxCounter<BATCH> {
    const METRIC_KIND: MetricKind = MetricKind::Counter;
    fn field_value(value: u64) -> FieldValue {
        FieldValue::Unsigned(value)
    }
    const KIND: FieldKind = {
        let _ = Batch::<BATCH>::MASK;
        FieldKind::Approx
    };
    const WIDTH: usize = 1;
    type Stored = Carried;
    type Value = u64;
    type Handle<'a, const N: usize> = ApproxCounterField<'a, N, BATCH>;
    type Local<'a> = LocalApproxCounter<'a, BATCH>;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        carried: &'a Carried,
    ) -> ApproxCounterField<'a, N, BATCH> {
        ApproxCounterField::new(group, cell, carried)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        carried: &'a Carried,
    ) -> LocalApproxCounter<'a, BATCH> {
        LocalApproxCounter::new(&own[cell], carried)
    }
    fn value(raw: &[u64], cell: usize, _: &Carried) -> u64 {
        raw[cell]
    }
    fn reset_stored(_: &Carried) {}
    const EMPTY: Self::Value = 0;
    fn delta(newer: u64, older: u64) -> u64 {
        newer.wrapping_sub(older)
    }
}
