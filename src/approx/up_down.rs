//! [`ApproxUpDownCounter`], its group field and its local handle: the signed twin of
//! `counter.rs`.

use super::*;

/// A signed `i64` counter sharded per thread, like [`UpDownCounter`](crate::UpDownCounter),
/// with the O(1) reads of [`ApproxCounter`]: [`approx`](Self::approx),
/// [`compare`](Self::compare), and limits on both sides —
/// [`limited_add`](Self::limited_add) (stays `≤ max`) and
/// [`limited_sub`](Self::limited_sub) (stays `≥ min`): a semaphore, a byte budget, a pool
/// that must not go below empty.
///
/// The same semantics as [`ApproxCounter`] (the bound is again `shards × (BATCH − 1)`, above
/// [`approx`](Self::approx)), on `i64` values that wrap like [`i64::wrapping_add`], in both
/// directions ([`approx_range`](Self::approx_range) holds the exact value while values fall
/// too, when `low` moves first). Approximate reads cover `i64::MIN ..= i64::MAX − 2^58`:
/// near `i64::MIN` the approximate word may lie below it and is read so; above `i64::MAX −
/// 2^58` (only `add` and `set` go there) they read the value as wrapped. Limited adds and
/// subtracts never pass their limit, up to `i64::MAX` and down to `i64::MIN`.
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
pub struct ApproxUpDownCounter<const BATCH: u64 = 1024> {
    pub(super) cells: Sharded<2>,
    pub(super) carried: Carried,
}

impl<const BATCH: u64> ApproxUpDownCounter<BATCH> {
    sync::const_fn! {
        /// A counter at 0. `const`, so it can be a `static`. A `BATCH` that is not a power of
        /// two from 2 to 2^32 is a compile error.
        ///
        /// ```
        /// static QUEUED: shardstat::ApproxUpDownCounter = shardstat::ApproxUpDownCounter::new();
        /// assert_eq!(QUEUED.approx(), 0);
        /// ```
        pub fn new() -> Self {
            let _ = Batch::<BATCH>::MASK;
            ApproxUpDownCounter {
                cells: Sharded::new(),
                carried: Carried::new(),
            }
        }
    }

    #[inline(always)]
    pub(super) fn field(&self) -> ApproxUpDownCounterField<'_, 2, BATCH> {
        ApproxUpDownCounterField::new(&self.cells, 1, &self.carried)
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
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
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.sub(3);
    /// assert_eq!(c.get(), -3);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.field().sub(n);
    }

    /// The exact sum (see [`UpDownCounter::get`](crate::UpDownCounter::get)).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-40);
    /// assert_eq!(c.get(), -40);
    /// ```
    pub fn get(&self) -> i64 {
        self.field().get()
    }

    /// A value at most [`error_bound`](Self::error_bound) below the exact one, and never
    /// above it. Three loads.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-5000); // the cell is -5000 = -5 × 1024 + 120: -5120 carried
    /// assert_eq!(c.approx(), -5120);
    /// assert!(c.approx() <= c.get() && c.get() as i128 <= c.approx() as i128 + c.error_bound() as i128);
    /// ```
    #[inline]
    pub fn approx(&self) -> i64 {
        self.field().approx()
    }

    /// How far the exact value can be above [`approx`](Self::approx) **at rest** (no add in
    /// flight). One load. While adds run, read both ends at once with
    /// [`approx_range`](Self::approx_range) (see [`ApproxCounter::error_bound`]).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(1);
    /// assert!(c.error_bound() >= 1023);
    /// ```
    #[inline]
    pub fn error_bound(&self) -> u64 {
        self.field().error_bound()
    }

    /// Both ends of where the exact value is, from one read: at that moment `range.start() ≤
    /// exact ≤ range.end()`, counting each add or subtraction in flight or not — under any
    /// concurrency, in both directions (see [`ApproxCounter::approx_range`]).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-5000);
    /// let range = c.approx_range();
    /// assert_eq!(*range.start(), -5120);
    /// assert!(range.contains(&c.get()));
    /// ```
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<i64> {
        self.field().approx_range()
    }

    /// `get().cmp(&v)`, exactly, at the cost of [`approx`](Self::approx) unless `v` is
    /// within the bound of it.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-10_000);
    /// assert_eq!(c.compare(0), Ordering::Less);
    /// assert_eq!(c.compare(-10_000), Ordering::Equal);
    /// ```
    #[inline]
    pub fn compare(&self, v: i64) -> Cmp {
        self.field().compare(v)
    }

    /// Adds `n` only if the total then stays `≤ max`; returns whether it added (see
    /// [`ApproxCounter::limited_add`]).
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// assert!(c.limited_add(8, 10));
    /// assert!(!c.limited_add(3, 10));
    /// assert_eq!(c.get(), 8);
    /// ```
    #[inline]
    pub fn limited_add(&self, n: u64, max: i64) -> bool {
        self.field().limited_add(n, max)
    }

    /// Subtracts `n` only if the total then stays `≥ min`; returns whether it subtracted.
    /// Never undershoots; lock-free far from `min`.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.set(5);
    /// assert!(!c.limited_sub(6, 0), "would go below 0");
    /// assert!(c.limited_sub(5, 0));
    /// assert_eq!(c.get(), 0);
    /// ```
    #[inline]
    pub fn limited_sub(&self, n: u64, min: i64) -> bool {
        self.field().limited_sub(n, min)
    }

    /// Makes the counter read `value`, exactly; in-flight limited adds finish first.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-9);
    /// c.set(100);
    /// assert_eq!(c.get(), 100);
    /// ```
    pub fn set(&self, value: i64) {
        self.field().set(value);
    }

    /// Sets the counter to 0.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.add(-9);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(0);
    }

    /// A handle on the calling thread's shard, for loops that add many times.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// let local = c.local();
    /// local.add(10);
    /// local.sub(4);
    /// assert_eq!(c.get(), 6);
    /// ```
    #[inline]
    pub fn local(&self) -> LocalApproxUpDownCounter<'_, BATCH> {
        self.field().local()
    }
}

impl<const BATCH: u64> Default for ApproxUpDownCounter<BATCH> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<const BATCH: u64> fmt::Debug for ApproxUpDownCounter<BATCH> {
    /// Shows the exact value and the batch: `ApproxUpDownCounter { value: -4, batch: 1024 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxUpDownCounter")
            .field("value", &self.get())
            .field("batch", &BATCH)
            .finish()
    }
}

/// An [`ApproxUpDownCounter`] field of a stat group: the same methods, on the group's cells.
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
pub struct ApproxUpDownCounterField<'a, const N: usize, const BATCH: u64> {
    pub(super) group: &'a Sharded<N>,
    pub(super) cell: usize,
    pub(super) carried: &'a Carried,
}

impl<const N: usize, const BATCH: u64> Clone for ApproxUpDownCounterField<'_, N, BATCH> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize, const BATCH: u64> Copy for ApproxUpDownCounterField<'_, N, BATCH> {}

impl<'a, const N: usize, const BATCH: u64> ApproxUpDownCounterField<'a, N, BATCH> {
    #[inline(always)]
    pub(crate) fn new(group: &'a Sharded<N>, cell: usize, carried: &'a Carried) -> Self {
        ApproxUpDownCounterField {
            group,
            cell,
            carried,
        }
    }

    #[inline(always)]
    pub(super) fn core(self) -> Approx<'a, N, BATCH, true> {
        Approx::new(self.group, self.cell, self.carried)
    }

    #[doc = concat!("Adds `n` (which may be negative), wrapping.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-5);\nassert_eq!(g.d().get(), -5);\n```")]
    #[inline]
    pub fn add(&self, n: i64) {
        self.core().add(n.unsigned_abs(), n < 0);
    }

    #[doc = concat!("Subtracts `n`, wrapping.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().sub(5);\nassert_eq!(g.d().get(), -5);\n```")]
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    #[doc = concat!("The exact sum.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-7);\nassert_eq!(g.d().get(), -7);\n```")]
    pub fn get(&self) -> i64 {
        self.core().get() as i64
    }

    #[doc = concat!("A value at most the bound below the exact one.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-2048);\nassert_eq!(g.d().approx(), -2048);\n```")]
    #[inline]
    pub fn approx(&self) -> i64 {
        let low = self.core().approx();
        i64::try_from(low).unwrap_or(i64::MIN)
    }

    #[doc = concat!("How far the exact value can be above `approx()` at rest.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(1);\nassert!(g.d().error_bound() >= 1023);\n```")]
    #[inline]
    pub fn error_bound(&self) -> u64 {
        u64::try_from(self.core().bound()).unwrap_or(u64::MAX)
    }

    #[doc = concat!("Both ends of where the exact value is, from one read (see [`ApproxUpDownCounter::approx_range`]).\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-2000);\nassert!(g.d().approx_range().contains(&-2000));\n```")]
    #[inline]
    pub fn approx_range(&self) -> RangeInclusive<i64> {
        let (low, high) = self.core().range();
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        clamp(low)..=clamp(high)
    }

    #[doc = concat!("`get().cmp(&v)`, exactly.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-5000);\nassert_eq!(g.d().compare(0), std::cmp::Ordering::Less);\n```")]
    #[inline]
    pub fn compare(&self, v: i64) -> Cmp {
        self.core().compare(i128::from(v))
    }

    #[doc = concat!("Adds `n` only if the total stays `≤ max`.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.d().limited_add(10, 10));\nassert!(!g.d().limited_add(1, 10));\n```")]
    #[inline]
    pub fn limited_add(&self, n: u64, max: i64) -> bool {
        self.core().limited(n, false, i128::from(max))
    }

    #[doc = concat!("Subtracts `n` only if the total stays `≥ min`.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\nassert!(g.d().limited_sub(10, -10));\nassert!(!g.d().limited_sub(1, -10));\n```")]
    #[inline]
    pub fn limited_sub(&self, n: u64, min: i64) -> bool {
        self.core().limited(n, true, i128::from(min))
    }

    #[doc = concat!("Makes this field read `value`, exactly.\n\n# Panics\nIf called inside the group's `update` on the same thread.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().set(-3);\nassert_eq!(g.d().get(), -3);\n```")]
    pub fn set(&self, value: i64) {
        self.core().set(value as u64);
    }

    #[doc = concat!("Sets this field to 0.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().add(-9);\ng.d().reset();\nassert_eq!(g.d().get(), 0);\n```")]
    pub fn reset(&self) {
        self.set(0);
    }

    #[doc = concat!("The calling thread's shard of this field.\n\n```\n", approx_field_doc_group!(), "\nlet g = G::new();\ng.d().local().add(-4);\nassert_eq!(g.d().get(), -4);\n```")]
    #[inline]
    pub fn local(&self) -> LocalApproxUpDownCounter<'a, BATCH> {
        LocalApproxUpDownCounter::new(&self.group.own()[self.cell], self.carried)
    }
}

impl<const N: usize, const BATCH: u64> fmt::Debug for ApproxUpDownCounterField<'_, N, BATCH> {
    /// Shows the field's exact value: `ApproxUpDownCounterField { value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproxUpDownCounterField")
            .field("value", &self.get())
            .finish()
    }
}

/// The calling thread's shard of an [`ApproxUpDownCounter`] (or of such a group field).
/// Neither `Send` nor `Sync`.
///
/// ```
/// let c = shardstat::ApproxUpDownCounter::<1024>::new();
/// let local = c.local();
/// local.add(5);
/// local.sub(8);
/// assert_eq!(c.get(), -3);
/// ```
pub struct LocalApproxUpDownCounter<'a, const BATCH: u64> {
    pub(super) cell: &'a AtomicU64,
    pub(super) carried: &'a Carried,
    pub(super) _owner_thread: PhantomData<*const ()>,
}

impl<'a, const BATCH: u64> LocalApproxUpDownCounter<'a, BATCH> {
    #[inline]
    pub(crate) fn new(cell: &'a AtomicU64, carried: &'a Carried) -> Self {
        LocalApproxUpDownCounter {
            cell,
            carried,
            _owner_thread: PhantomData,
        }
    }

    /// Adds `n` (which may be negative), wrapping.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// c.local().add(-64);
    /// assert_eq!(c.get(), -64);
    /// ```
    #[inline]
    pub fn add(&self, n: i64) {
        add_carrying(
            self.cell,
            n.unsigned_abs(),
            n < 0,
            self.carried,
            Batch::<BATCH>::MASK,
        );
    }

    /// Subtracts `n`, wrapping.
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

    /// This thread's cell, as a signed delta, before `set`/`reset` adjustments.
    ///
    /// ```
    /// let c = shardstat::ApproxUpDownCounter::<1024>::new();
    /// let local = c.local();
    /// local.sub(3);
    /// assert_eq!(local.shard_value(), -3);
    /// ```
    #[inline]
    pub fn shard_value(&self) -> i64 {
        self.cell.load(Ordering::Relaxed) as i64
    }
}

impl<const BATCH: u64> fmt::Debug for LocalApproxUpDownCounter<'_, BATCH> {
    /// Shows this thread's shard: `LocalApproxUpDownCounter { shard_value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalApproxUpDownCounter")
            .field("shard_value", &self.shard_value())
            .finish()
    }
}

impl<const BATCH: u64> field::sealed::Sealed for ApproxUpDownCounter<BATCH> {}

impl<const BATCH: u64> Field for ApproxUpDownCounter<BATCH> {
    const METRIC_KIND: MetricKind = MetricKind::UpDownCounter;
    fn field_value(value: i64) -> FieldValue {
        FieldValue::Signed(value)
    }
    const KIND: FieldKind = {
        let _ = Batch::<BATCH>::MASK;
        FieldKind::Approx
    };
    const WIDTH: usize = 1;
    type Stored = Carried;
    type Value = i64;
    type Handle<'a, const N: usize> = ApproxUpDownCounterField<'a, N, BATCH>;
    type Local<'a> = LocalApproxUpDownCounter<'a, BATCH>;
    fn handle<'a, const N: usize>(
        group: &'a Sharded<N>,
        cell: usize,
        carried: &'a Carried,
    ) -> ApproxUpDownCounterField<'a, N, BATCH> {
        ApproxUpDownCounterField::new(group, cell, carried)
    }
    fn local<'a, const N: usize>(
        _: &'a Sharded<N>,
        own: &'a [AtomicU64; N],
        cell: usize,
        carried: &'a Carried,
    ) -> LocalApproxUpDownCounter<'a, BATCH> {
        LocalApproxUpDownCounter::new(&own[cell], carried)
    }
    fn value(raw: &[u64], cell: usize, _: &Carried) -> i64 {
        raw[cell] as i64
    }
    fn reset_stored(_: &Carried) {}
    const EMPTY: Self::Value = 0;
    fn delta(newer: i64, older: i64) -> i64 {
        newer.wrapping_sub(older)
    }
}
