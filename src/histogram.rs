//! [`Histogram`]: a distribution of `u64` values — latencies, sizes — recorded at counter
//! speed into log-linear buckets, with quantiles exact to the bucket.
//!
//! # Buckets
//! Values below 128 have a bucket each. Above, every power of two is split into 64 equal
//! buckets (HdrHistogram's layout with two significant decimal digits; Prometheus native
//! histograms use the same idea): bucket `[low, high]` has `high − low + 1 = low / 64`
//! values at most, and is reported by its midpoint, which is within **1/128 (0.79 %)** of
//! every value in it. 3,776 buckets cover all of `u64`, `0` and `u64::MAX` included.
//!
//! # Memory: pages, taken on first use
//! The buckets are grouped in 59 **pages** of 64 — the values below 64, those below 128, and
//! one page per power of two above. A page is a run of 64 cells in the engine (§2 of
//! `docs/design.md`), taken the first time any thread records a value in its range: 512
//! bytes per thread that records there. Latencies between 1 µs and 1 ms (in ns: 10 powers of
//! two) cost a recording thread 10 pages, 5 KiB; a size that is always 4 KiB, one page.
//! Beside them, a 3-cell header per thread: the shard's sequence word and its 128-bit sum
//! (two cells: the high one moves only when the low one wraps, inside the record's bracket).
//!
//! # Consistency
//! A record adds 1 to its bucket and the value to the sum (the count is the buckets' sum),
//! inside a
//! per-shard sequence bracket (as a stat group's `update` step): a snapshot retries a shard
//! whose bracket is open or changed, so it never shows a record in half. `reset` is exact
//! (as a group reset): it waits for open brackets under the histogram's version lock and
//! subtracts what it counted through per-bucket bases, never writing a shard.

use crate::engine::{self, engine, offset_of, LocationWord};
use crate::sharded::{add_owned, update, Sharded};
use crate::sync::{self, wait_step, AtomicPtr, AtomicU64, Ordering};
use std::fmt;
use std::ptr;

/// Sub-bucket bits: 64 buckets per power of two (2 under loom, to keep models small).
const SUB_BITS: u32 = if sync::MODEL { 1 } else { 6 };
/// Buckets per page, and per power of two above the linear range.
const SUB: usize = 1 << SUB_BITS;
/// Pages: two for the linear range (values below `2 × SUB`), one per power of two above.
const PAGES: usize = 65 - SUB_BITS as usize;
/// Every bucket.
const BUCKETS: usize = PAGES * SUB;

/// The page and the bucket inside it that `value` falls in.
#[inline(always)]
fn page_and_sub(value: u64) -> (usize, usize) {
    if value < 2 * SUB as u64 {
        ((value >> SUB_BITS) as usize, value as usize & (SUB - 1))
    } else {
        let top = 63 - value.leading_zeros(); // ≥ SUB_BITS + 1
        (
            (top - SUB_BITS + 1) as usize,
            (value >> (top - SUB_BITS)) as usize & (SUB - 1),
        )
    }
}

/// The lowest and highest value of bucket `index` (`page × SUB + sub`).
fn bounds(index: usize) -> (u64, u64) {
    let (page, sub) = (index / SUB, index % SUB);
    if page < 2 {
        return (index as u64, index as u64);
    }
    let shift = page as u32 - 1; // = top − SUB_BITS, where top = page + SUB_BITS − 1
    let low = ((SUB + sub) as u64) << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// The nearest rank of quantile `q` among `total` values: the smallest `r` with `r ≥ q ×
/// total`, at least 1.
///
/// `q` is taken as the decimal it was written as — the shortest decimal that reads back as
/// the same `f64` (`0.07` for `0.07`) — and the rank is computed in integers: in `f64`,
/// `0.07 × 100` is `7.000000000000001`, whose ceiling made `quantile(0.07)` over 1..=100
/// answer 8. A `q` that needs more than 19 decimal places falls back to `f64`.
fn nearest_rank(q: f64, total: u64) -> u64 {
    let exact = decimal_fraction(q).map(|(digits, scale)| {
        let den = 10u128.pow(scale);
        (u128::from(digits) * u128::from(total)).div_ceil(den) as u64
    });
    exact
        .unwrap_or_else(|| (q * total as f64).ceil() as u64)
        .clamp(1, total)
}

/// `q` (within `0.0..=1.0`) as `digits / 10^scale`, from its shortest decimal form, if
/// `scale ≤ 19`.
fn decimal_fraction(q: f64) -> Option<(u64, u32)> {
    let text = q.to_string(); // shortest round-trip form, never with an exponent
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let scale = u32::try_from(fraction.len()).ok().filter(|&s| s <= 19)?;
    let digits = format!("{whole}{fraction}").parse::<u64>().ok()?;
    Some((digits, scale))
}

/// The value a bucket reports: its midpoint (exact below 128).
fn representative(index: usize) -> u64 {
    let (low, high) = bounds(index);
    low + (high - low) / 2
}

/// The largest bucket boundary at or below `value`: `value` itself if it is the highest
/// value of its bucket, else the highest value of the bucket before (at most 1/64 lower). A
/// count of the values `≤` a boundary is exact.
#[cfg(feature = "prometheus-client")]
pub(crate) fn boundary_at_or_below(value: u64) -> u64 {
    let (page, sub) = page_and_sub(value);
    let (low, high) = bounds(page * SUB + sub);
    if value == high {
        high
    } else {
        low - 1 // low > 0: bucket 0 is [0, 0]
    }
}

/// A distribution of `u64` values, sharded per thread: [`record`](Histogram::record) is a few
/// adds to the calling thread's cells, with no locked instruction; [`snapshot`] gives the
/// count, sum, min, max and any quantile, each within 1/128 of the exact one.
///
/// [`snapshot`]: Histogram::snapshot
///
/// # Semantics
/// 1. **Quantiles exact to the bucket**: a snapshot's `quantile(q)` is the midpoint of the
///    bucket that holds the exact nearest-rank quantile of the recorded values, so it is
///    within [`MAX_RELATIVE_ERROR`](Histogram::MAX_RELATIVE_ERROR) of it (exact below 128);
///    the same for `min` and `max`. `count` and `sum` (wrapping) are exact.
/// 2. **Nothing lost, nothing counted twice**, as for [`Counter`](crate::Counter).
/// 3. **A snapshot never shows a record in half**: each record's bucket and sum are seen
///    together or not at all (so are count and sum: the count is the buckets' sum).
/// 4. **Exact, race-free `reset`**: a record concurrent with it counts wholly after it or
///    not at all.
///
/// # Memory
/// 16 bytes per recording thread, plus 512 bytes per thread for each power of two (page)
/// its values fall in (module docs). The `Histogram` itself is 520 bytes.
///
/// # Example
/// ```
/// use shardstat::Histogram;
///
/// static SEND_LATENCY_NS: Histogram = Histogram::new();
///
/// std::thread::scope(|s| {
///     for t in 0..4u64 {
///         s.spawn(move || {
///             for i in 1..=1000 {
///                 SEND_LATENCY_NS.record(1_000 * i + t);
///             }
///         });
///     }
/// });
/// let snap = SEND_LATENCY_NS.snapshot();
/// assert_eq!(snap.count(), 4000);
/// let p99 = snap.quantile(0.99).unwrap();
/// assert!((p99 as f64 - 990_000.0).abs() <= 990_000.0 * shardstat::Histogram::MAX_RELATIVE_ERROR);
/// ```
pub struct Histogram {
    /// Cell 0 of each shard's copy: its sequence word (odd inside a record); cells 1 and 2
    /// the sum's low and high 64 bits (the count is the buckets' sum). Globals 1 and 2: the
    /// sum's base after a reset. Its `version` lock serialises resets, and snapshots retry
    /// around them.
    header: Sharded<3>,
    /// Per page: the location of its run of `SUB` cells (0 until a value in its range is
    /// recorded), as a counter's.
    pages: [LocationWord; PAGES],
    /// Bit `p`: page `p` has been recorded into, so readers visit only the pages in use.
    used: AtomicU64,
    /// The buckets' bases after the first reset (`BUCKETS` cells), null before.
    bases: AtomicPtr<AtomicU64>,
}

impl Histogram {
    /// How far a reported value (a quantile, `min`, `max`) can be from the exact one,
    /// relative to it: 1/128. Values below 128 are exact.
    ///
    /// ```
    /// assert_eq!(shardstat::Histogram::MAX_RELATIVE_ERROR, 1.0 / 128.0);
    /// ```
    pub const MAX_RELATIVE_ERROR: f64 = 1.0 / (2u64 << SUB_BITS) as f64;

    sync::const_fn! {
        /// An empty histogram; takes no memory until the first record. `const`, so it can
        /// be a `static`.
        ///
        /// ```
        /// static SIZES: shardstat::Histogram = shardstat::Histogram::new();
        /// assert_eq!(SIZES.snapshot().count(), 0);
        /// ```
        pub fn new() -> Self {
            Histogram {
                header: Sharded::new(),
                pages: sync::repeat![LocationWord::new(); PAGES],
                used: AtomicU64::new(0),
                bases: AtomicPtr::new(ptr::null_mut()),
            }
        }
    }

    /// Records a duration, in **nanoseconds** (`record(d.as_nanos())`), saturating at
    /// `u64::MAX` ns (584 years): not lossy below that, unlike a float of seconds. Read the
    /// snapshot's values as nanoseconds (the Prometheus exposition exports them as
    /// recorded).
    ///
    /// ```
    /// use std::time::Duration;
    /// let latency = shardstat::Histogram::new();
    /// latency.record_duration(Duration::from_micros(250));
    /// latency.record_duration(Duration::MAX); // saturates
    /// let snap = latency.snapshot();
    /// let min = snap.min().unwrap() as f64; // in nanoseconds, within the bucket's error
    /// assert!((min - 250_000.0).abs() <= 250_000.0 * shardstat::Histogram::MAX_RELATIVE_ERROR);
    /// assert!(snap.max().unwrap() >= u64::MAX - (u64::MAX >> 7));
    /// ```
    #[inline]
    pub fn record_duration(&self, duration: std::time::Duration) {
        self.record(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records `value`: adds 1 to its bucket and `value` to the sum, in the
    /// calling thread's cells, as one step that snapshots see whole.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(0);
    /// h.record(u64::MAX);
    /// let snap = h.snapshot();
    /// assert_eq!(snap.min(), Some(0));
    /// // u64::MAX is reported by its bucket's midpoint, within 1/128 of it.
    /// assert!(snap.max().unwrap() >= u64::MAX - (u64::MAX >> 7));
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        let (page, sub) = page_and_sub(value);
        let header = self.header.own();
        let bucket = self.own_page(page).wrapping_add(sub);
        update(&header[0], || {
            // SAFETY: `bucket` is cell `sub` (< SUB) of this page's run in the calling
            // thread's copy (`own_page`): a live cell only this thread writes.
            add_owned(unsafe { &*bucket }, 1);
            add_to_sum(header, value);
        });
    }

    /// Page `page`'s copy for a thread whose cache does not have it: sets the page's bit in
    /// `used` first if the page has no run yet, then takes the run and the copy.
    ///
    /// Why every record a snapshot counts has its page's bit visible to that snapshot: the
    /// bit is set before the page's location is assigned (`Release`), and every record into
    /// the page loaded that location (`Acquire`) before its bracket, so the bit's setting
    /// happened-before the record, which happened-before the snapshot's load of `used`.
    #[cold]
    #[inline(never)]
    fn own_page_slow(&self, page: usize) -> *const AtomicU64 {
        let location = &self.pages[page];
        // Relaxed: a hint; racing first records both set the bit, which is idempotent.
        if location.load(Ordering::Relaxed) == 0 {
            // Relaxed: ordered before the location's `Release` store (`Engine::assign`) by
            // program order and the engine's mutex.
            self.used.fetch_or(1 << page, Ordering::Relaxed);
        }
        engine::own_slow(location, SUB)
    }

    /// The first cell of page `page`'s run in the calling thread's copy, taking the run and
    /// the copy if needed (as `Sharded::own`).
    #[inline(always)]
    fn own_page(&self, page: usize) -> *const AtomicU64 {
        let location = &self.pages[page];
        // Acquire: as `Sharded::cached_first` — a reused run's clearing happens-before this
        // thread's first load of its cells.
        match engine::own_cached(location.load(Ordering::Acquire)) {
            Some(first) => first,
            None => self.own_page_slow(page),
        }
    }

    /// Every recorded value's bucket, the count and the sum, since the last reset: each
    /// record seen whole or not at all. Reads the header and the pages in use of every
    /// thread that has recorded.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// for v in [10, 20, 30, 1_000_000] {
    ///     h.record(v);
    /// }
    /// let snap = h.snapshot();
    /// assert_eq!((snap.count(), snap.sum()), (4, 1_000_060));
    /// assert_eq!(snap.quantile(0.5), Some(20));
    /// ```
    pub fn snapshot(&self) -> HistogramSnapshot {
        let location = self.header.location();
        self.header.read_stable(|| {
            let mut totals = self.shards_total(location);
            // Relaxed: inside `read_stable`, ordered by its Acquire load and fence.
            let base = wide(
                self.header.global(1).load(Ordering::Relaxed),
                self.header.global(2).load(Ordering::Relaxed),
            );
            totals.sum = totals.sum.wrapping_add(base);
            // Acquire: pairs with the Release that published the bases (under the version
            // lock, so a reader that sees them also sees the lock's even version after).
            let bases = self.bases.load(Ordering::Acquire);
            if !bases.is_null() {
                totals.pages = u64::MAX; // a base may be non-zero on any page
                for (i, total) in totals.buckets.iter_mut().enumerate() {
                    // SAFETY: a non-null `bases` points to `BUCKETS` live cells, freed only
                    // by `Drop` (`&mut self`).
                    let base = unsafe { &*bases.add(i) };
                    *total = total.wrapping_add(base.load(Ordering::Relaxed));
                }
            }
            totals.into_snapshot()
        })
    }

    /// Forgets every value recorded so far, exactly: a record concurrent with the reset is
    /// counted wholly after it or not at all. Never writes a shard (it sets bases), and waits
    /// only for records in flight.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(5);
    /// h.reset();
    /// h.record(7);
    /// let snap = h.snapshot();
    /// assert_eq!((snap.count(), snap.sum(), snap.min()), (1, 7, Some(7)));
    /// ```
    pub fn reset(&self) {
        self.take_totals();
    }

    /// The records since the previous `take` (or `reset`), and a reset, as one step: an
    /// *interval histogram*, as HdrHistogram's `Recorder::getIntervalHistogram`. **Every
    /// record is in exactly one take** (or in what a later snapshot sees), bucket and sum
    /// together — never split between two intervals, never in two, never in none — whatever
    /// runs concurrently: records on any number of threads, threads exiting, other takes,
    /// resets.
    ///
    /// It is a [`reset`](Self::reset) that returns what it removed, from the same read of
    /// the shards (each read between two of its owner's records): no shard is written.
    ///
    /// ```
    /// use shardstat::Histogram;
    ///
    /// static LATENCY_NS: Histogram = Histogram::new();
    /// let (mut count, mut sum) = (0, 0);
    /// std::thread::scope(|s| {
    ///     for t in 0..4 {
    ///         s.spawn(move || (1..=1000).for_each(|i| LATENCY_NS.record(i * 10 + t)));
    ///     }
    ///     for _ in 0..10 {
    ///         let interval = LATENCY_NS.take(); // this interval's records, while threads record
    ///         count += interval.count();
    ///         sum += interval.sum();
    ///     }
    /// });
    /// let last = LATENCY_NS.take();
    /// assert_eq!(count + last.count(), 4000);
    /// assert_eq!(sum + last.sum(), 4 * 5_005_000 + 6 * 1000);
    /// assert_eq!(LATENCY_NS.snapshot().count(), 0);
    /// ```
    pub fn take(&self) -> HistogramSnapshot {
        self.take_totals().into_snapshot()
    }

    /// Resets, and returns what the histogram held: the shards' totals and the bases they
    /// were counted from, read under the version lock, and the new bases that cancel that
    /// same read of the shards.
    fn take_totals(&self) -> Totals {
        let location = self.header.location();
        self.header.write_locked(|| {
            let counted = self.shards_total(location);
            let mut held = Totals {
                buckets: counted.buckets.clone(),
                pages: counted.pages,
                sum: counted.sum,
            };
            // Relaxed, all: under the version lock, whose Acquire (taking) ordered the last
            // reset's stores before these loads, and whose Release (freeing) publishes the
            // stores below.
            let old_base = wide(
                self.header.global(1).load(Ordering::Relaxed),
                self.header.global(2).load(Ordering::Relaxed),
            );
            held.sum = held.sum.wrapping_add(old_base);
            let base = counted.sum.wrapping_neg();
            self.header.global(1).store(base as u64, Ordering::Relaxed);
            self.header
                .global(2)
                .store((base >> 64) as u64, Ordering::Relaxed);
            // Null until the first reset: then every bucket's old base is 0.
            let had_bases = !self.bases.load(Ordering::Relaxed).is_null();
            let bases = self.bases_for_reset();
            if had_bases {
                held.pages = u64::MAX; // a base may be non-zero on any page
            }
            for (i, total) in counted.buckets.iter().enumerate() {
                // SAFETY: `bases` points to `BUCKETS` live cells (`bases_for_reset`).
                let base = unsafe { &*bases.add(i) };
                if had_bases {
                    held.buckets[i] = held.buckets[i].wrapping_add(base.load(Ordering::Relaxed));
                }
                base.store(total.wrapping_neg(), Ordering::Relaxed);
            }
            held
        })
    }

    /// The bucket bases, allocated (zero) at the first reset. Under the version lock.
    fn bases_for_reset(&self) -> *mut AtomicU64 {
        // Relaxed: only resets store it, and they hold the version lock.
        let bases = self.bases.load(Ordering::Relaxed);
        if !bases.is_null() {
            return bases;
        }
        let fresh = Box::into_raw(sync::zeroed_atomics(BUCKETS)).cast::<AtomicU64>();
        // Release: a snapshot that loads the pointer (Acquire) sees the zeroed cells.
        self.bases.store(fresh, Ordering::Release);
        fresh
    }

    /// Every shard's header and buckets, each shard read between its records (waiting while
    /// one is in flight), without the bases.
    fn shards_total(&self, location: u64) -> Totals {
        let mut totals = Totals {
            buckets: vec![0; BUCKETS],
            pages: 0,
            sum: 0,
        };
        // The cells of the shard being read, at their bucket index.
        let mut scratch = vec![0u64; BUCKETS];
        let mut read: Vec<usize> = Vec::with_capacity(PAGES);
        engine().for_each_shard(location, |shard, first| {
            // SAFETY: `first` starts this histogram's 3-cell header run in shard `shard`'s
            // live copy of its chunk (`for_each_shard`).
            let header = unsafe { &*first.cast::<[AtomicU64; 3]>() };
            let mut step = 0;
            let sum = loop {
                // Acquire: pairs with the Release that closed the shard's last record.
                let before = header[0].load(Ordering::Acquire);
                if before & 1 == 1 {
                    wait_step(&mut step);
                    continue;
                }
                read.clear();
                // Relaxed: loaded after the shard's sequence word (Acquire), so the setting of
                // the bit of every page a counted record wrote happened-before this load
                // (`own_page_slow`), which therefore sees it.
                let mut used = self.used.load(Ordering::Relaxed);
                while used != 0 {
                    let page = used.trailing_zeros() as usize;
                    used &= used - 1;
                    // Acquire: as in `own_page` (a reused run's clearing); the record's own
                    // load of it happened-before, so this one sees it (coherence).
                    let location = self.pages[page].load(Ordering::Acquire);
                    let start = engine().existing_chunk_start(location, shard);
                    if location == 0 || start.is_null() {
                        continue;
                    }
                    let cells = start.wrapping_add(offset_of(location));
                    for sub in 0..SUB {
                        // SAFETY: cell `sub` of the page's run in shard `shard`'s live copy.
                        let cell = unsafe { &*cells.add(sub) };
                        // Acquire: the seqlock reader's fence, as in `read_consistent`: a
                        // cell written inside a record synchronises with its release fence,
                        // so the recheck below sees the odd (or a later) sequence word.
                        scratch[page * SUB + sub] = cell.load(Ordering::Acquire);
                    }
                    read.push(page);
                }
                let sum = wide(
                    header[1].load(Ordering::Acquire),
                    header[2].load(Ordering::Acquire),
                );
                if header[0].load(Ordering::Relaxed) == before {
                    break sum;
                }
                wait_step(&mut step);
            };
            for &page in &read {
                let cells = page * SUB..(page + 1) * SUB;
                for (total, &cell) in totals.buckets[cells.clone()]
                    .iter_mut()
                    .zip(&scratch[cells])
                {
                    *total = total.wrapping_add(cell);
                }
                totals.pages |= 1 << page;
            }
            totals.sum = totals.sum.wrapping_add(sum);
        });
        totals
    }
}

sync::model_only! {
    /// `Histogram::record` without its sequence bracket: the bug the loom suite's histogram
    /// control must catch (a snapshot sees a bucket without its sum).
    pub fn record_unbracketed(histogram: &Histogram, value: u64) {
        let (page, sub) = page_and_sub(value);
        let header = histogram.header.own();
        let bucket = histogram.own_page(page).wrapping_add(sub);
        // SAFETY: as in `record`.
        add_owned(unsafe { &*bucket }, 1);
        add_to_sum(header, value);
    }
}

/// Adds `value` to the 128-bit sum in cells 1 (low) and 2 (high) of the calling thread's
/// header, inside its record bracket: the high half moves only when the low half wraps, so a
/// sum of `u64` values cannot wrap before 2^64 records (a `u64` sum wrapped after two values
/// near the top of the range).
#[inline(always)]
fn add_to_sum(header: &[AtomicU64; 3], value: u64) {
    let low = sync::load_owned(&header[1]);
    let (sum, carried) = low.overflowing_add(value);
    // Relaxed: owner-only cells inside the bracket, as `add_owned`.
    sync::store_owned(&header[1], sum, Ordering::Relaxed);
    if carried {
        add_owned(&header[2], 1);
    }
}

/// The 128-bit sum in a pair of 64-bit words (low, high).
fn wide(low: u64, high: u64) -> u128 {
    u128::from(high) << 64 | u128::from(low)
}

/// Buckets and sum being added up (the count is the buckets' sum).
struct Totals {
    buckets: Vec<u64>,
    /// Bit `p`: some shard had page `p` (the others' buckets are 0, bases aside).
    pages: u64,
    sum: u128,
}

impl Totals {
    fn into_snapshot(self) -> HistogramSnapshot {
        let buckets: Vec<(u32, u64)> = (0..PAGES)
            .filter(|&page| self.pages & (1 << page) != 0)
            .flat_map(|page| page * SUB..(page + 1) * SUB)
            .filter(|&i| self.buckets[i] != 0)
            .map(|i| (i as u32, self.buckets[i]))
            .collect();
        HistogramSnapshot {
            count: buckets.iter().fold(0u64, |n, &(_, b)| n.wrapping_add(b)),
            sum: self.sum,
            buckets,
        }
    }
}

impl Drop for Histogram {
    fn drop(&mut self) {
        if sync::unwinding_model() {
            return;
        }
        for location in &mut self.pages {
            let location = location.get_mut();
            if location != 0 {
                // `&mut self`: every record happened-before this drop.
                engine().free(location, SUB);
            }
        }
        // Relaxed: `&mut self`, no other thread uses the histogram.
        let bases = self.bases.load(Ordering::Relaxed);
        if !bases.is_null() {
            // SAFETY: allocated in `bases_for_reset` as a `Box<[AtomicU64]>` of `BUCKETS`
            // cells, freed once, here, with nothing using it after.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(bases, BUCKETS)) });
        }
    }
}

impl Default for Histogram {
    /// An empty histogram.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Histogram {
    /// Shows the count and the median: `Histogram { count: 3, p50: Some(20) }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("Histogram")
            .field("count", &snap.count())
            .field("p50", &snap.quantile(0.5))
            .finish()
    }
}

/// A [`Histogram`]'s values at one moment: count, sum, and every non-empty bucket.
///
/// ```
/// let h = shardstat::Histogram::new();
/// h.record(3);
/// h.record(3);
/// h.record(1_000);
/// let snap = h.snapshot();
/// let buckets: Vec<_> = snap.buckets().map(|b| (b.low, b.high, b.count)).collect();
/// assert_eq!(buckets, [(3, 3, 2), (1_000, 1_007, 1)]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    count: u64,
    sum: u128,
    /// Non-empty buckets: (index, count), by index (so by value).
    buckets: Vec<(u32, u64)>,
}

/// With the `serde` feature: `{"count": …, "sum": …, "buckets": [{"low": …, "high": …,
/// "count": …}, …]}`, the non-empty buckets by value (the same as
/// [`buckets`](HistogramSnapshot::buckets)); `sum` is written as a `u64` while it fits and as
/// a `u128` beyond (a format without 128-bit integers then refuses it). A histogram holding one 3
/// serializes to JSON as
///
/// ```text
/// {"count":1,"sum":3,"buckets":[{"low":3,"high":3,"count":1}]}
/// ```
///
/// (`tests/exporters.rs` checks it, with the feature on).
#[cfg(feature = "serde")]
impl serde::Serialize for HistogramSnapshot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        /// The buckets as a sequence of `{low, high, count}`.
        struct Buckets<'a>(&'a HistogramSnapshot);
        impl serde::Serialize for Buckets<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.buckets.len()))?;
                for bucket in self.0.buckets() {
                    seq.serialize_element(&bucket)?;
                }
                seq.end()
            }
        }
        let mut out = serializer.serialize_struct("HistogramSnapshot", 3)?;
        out.serialize_field("count", &self.count)?;
        // As a u64 while it fits (most formats' integers, and serde_json's `Value`, stop
        // there); as a u128 beyond.
        match u64::try_from(self.sum) {
            Ok(sum) => out.serialize_field("sum", &sum)?,
            Err(_) => out.serialize_field("sum", &self.sum)?,
        }
        out.serialize_field("buckets", &Buckets(self))?;
        out.end()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Bucket {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Bucket", 3)?;
        out.serialize_field("low", &self.low)?;
        out.serialize_field("high", &self.high)?;
        out.serialize_field("count", &self.count)?;
        out.end()
    }
}

/// One bucket of a [`HistogramSnapshot`]: every value in `low..=high` was counted here.
///
/// ```
/// let h = shardstat::Histogram::new();
/// h.record(200);
/// let b = h.snapshot().buckets().next().unwrap();
/// assert!(b.low <= 200 && 200 <= b.high && b.count == 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The lowest value counted in this bucket.
    pub low: u64,
    /// The highest value counted in this bucket.
    pub high: u64,
    /// How many recorded values fell in it.
    pub count: u64,
}

impl HistogramSnapshot {
    /// How many values were recorded.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(1);
    /// assert_eq!(h.snapshot().count(), 1);
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the recorded values, exact: 128 bits, so it cannot wrap before 2^64
    /// records.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(2);
    /// h.record(40);
    /// assert_eq!(h.snapshot().sum(), 42);
    /// h.record(u64::MAX);
    /// h.record(u64::MAX);
    /// assert_eq!(h.snapshot().sum(), 2 * u128::from(u64::MAX) + 42);
    /// ```
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The mean (`sum / count`), or `None` if nothing was recorded.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(2);
    /// h.record(4);
    /// assert_eq!(h.snapshot().mean(), Some(3.0));
    /// ```
    pub fn mean(&self) -> Option<f64> {
        (self.count != 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The `q`-quantile (nearest rank: the smallest recorded value with at least `q × count`
    /// values at or below it, `q` read as the decimal it was written as, so `0.07 × 100` is
    /// 7, not `f64`'s 7.000000000000001), reported by its bucket: within
    /// [`Histogram::MAX_RELATIVE_ERROR`] of the exact one. `None` if nothing was recorded.
    ///
    /// # Panics
    /// If `q` is not within `0.0..=1.0` (NaN included).
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// (1..=100).for_each(|v| h.record(v));
    /// let snap = h.snapshot();
    /// assert_eq!(snap.quantile(0.5), Some(50));
    /// assert_eq!(snap.quantile(0.0), Some(1));
    /// assert_eq!(snap.quantile(1.0), Some(100));
    /// assert_eq!(snap.quantile(0.07), Some(7));
    /// ```
    ///
    /// ```should_panic
    /// shardstat::Histogram::new().snapshot().quantile(99.0); // a percent, not a fraction
    /// ```
    #[track_caller]
    pub fn quantile(&self, q: f64) -> Option<u64> {
        assert!(
            (0.0..=1.0).contains(&q),
            "shardstat: a quantile is a fraction within 0.0..=1.0 (0.99 for p99), got {q}"
        );
        let total: u64 = self.buckets.iter().map(|&(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let rank = nearest_rank(q, total);
        let mut seen = 0;
        self.buckets.iter().find_map(|&(index, n)| {
            seen += n;
            (seen >= rank).then(|| representative(index as usize))
        })
    }

    /// The median: `quantile(0.5)`.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// [1, 2, 3].iter().for_each(|&v| h.record(v));
    /// assert_eq!(h.snapshot().p50(), Some(2));
    /// ```
    pub fn p50(&self) -> Option<u64> {
        self.quantile(0.5)
    }

    /// `quantile(0.9)`.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// (1..=10).for_each(|v| h.record(v));
    /// assert_eq!(h.snapshot().p90(), Some(9));
    /// ```
    pub fn p90(&self) -> Option<u64> {
        self.quantile(0.9)
    }

    /// `quantile(0.99)`.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// (1..=100).for_each(|v| h.record(v));
    /// assert_eq!(h.snapshot().p99(), Some(99));
    /// ```
    pub fn p99(&self) -> Option<u64> {
        self.quantile(0.99)
    }

    /// `quantile(0.999)`.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// (1..=1000).for_each(|v| h.record(v));
    /// let p999 = h.snapshot().p999().unwrap();
    /// assert!((p999 as f64 - 999.0).abs() <= 999.0 / 128.0);
    /// ```
    pub fn p999(&self) -> Option<u64> {
        self.quantile(0.999)
    }

    /// The smallest recorded value, reported by its bucket (`quantile(0.0)`).
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(9);
    /// h.record(4);
    /// assert_eq!(h.snapshot().min(), Some(4));
    /// ```
    pub fn min(&self) -> Option<u64> {
        self.quantile(0.0)
    }

    /// The largest recorded value, reported by its bucket (`quantile(1.0)`).
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(9);
    /// h.record(4);
    /// assert_eq!(h.snapshot().max(), Some(9));
    /// ```
    pub fn max(&self) -> Option<u64> {
        self.quantile(1.0)
    }

    /// The non-empty buckets, in value order.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(1);
    /// h.record(1);
    /// assert_eq!(h.snapshot().buckets().map(|b| b.count).sum::<u64>(), 2);
    /// ```
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.buckets.iter().map(|&(index, count)| {
            let (low, high) = bounds(index as usize);
            Bucket { low, high, count }
        })
    }

    /// The records between `older` and this snapshot, of one histogram that was not reset
    /// or taken in between: each bucket's count, the count and the sum minus `older`'s
    /// (wrapping, as the histogram's own). An interval histogram without a drain: what the
    /// `metrics` recorder's [`drain`](crate::metrics::ShardstatRecorder::drain) returns,
    /// leaving the cumulative histogram as it is.
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// h.record(5);
    /// let first = h.snapshot();
    /// h.record(5);
    /// h.record(1_000);
    /// let interval = h.snapshot().since(&first);
    /// assert_eq!((interval.count(), interval.sum()), (2, 1_005));
    /// assert_eq!(interval.buckets().map(|b| b.count).collect::<Vec<_>>(), [1, 1]);
    /// ```
    pub fn since(&self, older: &HistogramSnapshot) -> HistogramSnapshot {
        let mut older_buckets = older.buckets.iter().peekable();
        let buckets: Vec<(u32, u64)> = self
            .buckets
            .iter()
            .filter_map(|&(index, count)| {
                let mut before = 0;
                while let Some(&&(i, c)) = older_buckets.peek() {
                    if i > index {
                        break;
                    }
                    if i == index {
                        before = c;
                    }
                    older_buckets.next();
                }
                let count = count.wrapping_sub(before);
                (count != 0).then_some((index, count))
            })
            .collect();
        HistogramSnapshot {
            count: buckets.iter().fold(0u64, |n, &(_, b)| n.wrapping_add(b)),
            sum: self.sum.wrapping_sub(older.sum),
            buckets,
        }
    }

    /// How many recorded values are `≤ bound`, counting a bucket only if it lies wholly at
    /// or below `bound` (Prometheus's cumulative `le` buckets, exact when `bound` is a
    /// bucket's `high`).
    ///
    /// ```
    /// let h = shardstat::Histogram::new();
    /// [1, 5, 100].iter().for_each(|&v| h.record(v));
    /// assert_eq!(h.snapshot().count_at_or_below(5), 2);
    /// ```
    pub fn count_at_or_below(&self, bound: u64) -> u64 {
        self.buckets()
            .take_while(|b| b.high <= bound)
            .map(|b| b.count)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_the_bucket_whose_bounds_hold_it() {
        let mut values: Vec<u64> = (0..1000).collect();
        for shift in 0..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1, p.wrapping_mul(3) / 2]);
        }
        values.push(u64::MAX);
        for v in values {
            let (page, sub) = page_and_sub(v);
            assert!(page < PAGES && sub < SUB, "{v}");
            let (low, high) = bounds(page * SUB + sub);
            assert!(low <= v && v <= high, "{v} outside [{low}, {high}]");
            let r = representative(page * SUB + sub);
            assert!(
                (r.abs_diff(v) as f64) <= v as f64 * Histogram::MAX_RELATIVE_ERROR,
                "{v} reported as {r}"
            );
        }
        assert_eq!(
            bounds(BUCKETS - 1).1,
            u64::MAX,
            "the last bucket ends at u64::MAX"
        );
        // Buckets tile the range: each starts right after the previous one ends.
        for i in 1..BUCKETS {
            assert_eq!(bounds(i).0, bounds(i - 1).1 + 1, "bucket {i}");
        }
        if !sync::MODEL {
            assert_eq!((PAGES, BUCKETS), (59, 3776));
        }
    }

    #[test]
    fn records_from_threads_reset_and_drop() {
        let h = Histogram::new();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let h = &h;
                s.spawn(move || (0..100).for_each(|i| h.record(t * 1000 + i)));
            }
        });
        let snap = h.snapshot();
        assert_eq!(snap.count(), 400);
        assert_eq!(snap.buckets().map(|b| b.count).sum::<u64>(), 400);
        assert_eq!(snap.min(), Some(0));
        h.reset();
        assert_eq!(h.snapshot(), HistogramSnapshot::default());
        h.record(42);
        assert_eq!(h.snapshot().max(), Some(42));
        assert_eq!(format!("{h:?}"), "Histogram { count: 1, p50: Some(42) }");
        drop(h);
        let next = Histogram::new();
        next.record(1);
        assert_eq!(
            next.snapshot().count(),
            1,
            "a new histogram on reused cells starts empty"
        );
        if !sync::MODEL {
            // 59 page locations (`usize`), the used mask, the header's words, the bases.
            let expected = if cfg!(target_pointer_width = "64") {
                528
            } else {
                288
            };
            assert_eq!(std::mem::size_of::<Histogram>(), expected);
        }
    }
}
