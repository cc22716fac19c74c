//! QEMU's live-migration statistics as a shardstat group: [`MigrationStats`], its rate
//! limit, and the 100 ms rate update.
//!
//! QEMU keeps these as one global struct `mig_stats` of 64-bit atomics: every multifd sender
//! thread adds to the same cache lines once per packet (or page), and the migration thread
//! reads them every 100 ms. Here they are one [`stats!`](crate::stats) group: a sender's
//! whole share of the struct is one 128-byte shard, its adds are plain stores, and a
//! snapshot reads one line per sender.
//!
//! | QEMU | here |
//! |---|---|
//! | `stat64_add(&mig_stats.multifd_bytes, n)` | [`MigrationLocal::add_multifd_bytes`] (or `MigrationStats::add_multifd_bytes`) |
//! | `stat64_add(&mig_stats.normal_pages, n)` | `stats.normal_pages().add(n)`, or `local.normal_pages.add(n)` |
//! | `migration_transferred_bytes()` | [`MigrationStats::transferred_bytes`] |
//! | `migration_rate_set(limit)` (bytes per second) | [`MigrationStats::rate_limit_set_per_second`] (stores a tenth: bytes per 100 ms window) |
//! | `migration_rate_get()` | [`MigrationStats::rate_limit_per_second`] |
//! | `stat64_set(&mig_stats.rate_limit_max, n)` (bytes per window) | [`MigrationStats::rate_limit_set`] |
//! | `migration_rate_reset()` | [`MigrationStats::rate_limit_reset`] |
//! | `migration_rate_exceeded(f)` | [`MigrationStats::rate_limit_exceeded`] |
//! | `migration_update_counters()` | [`RateTracker::update`] |
//! | zeroing `mig_stats` at migration start | [`MigrationStats::reset`] |
//!
//! # Transferred bytes and the rate limit
//! `transferred = qemu_file_transferred + multifd_bytes + rdma_bytes`. To make that one
//! read instead of three, and the rate check cheap, the three byte fields are added only
//! through [`MigrationLocal::add_multifd_bytes`], [`add_file_bytes`](MigrationLocal::add_file_bytes)
//! and [`add_rdma_bytes`](MigrationLocal::add_rdma_bytes) (their accessors are crate-private;
//! their values are in every snapshot). Each of those adds the bytes to the field and to the
//! `transferred` field in one consistent step. `transferred` is an
//! [`ApproxCounter`] field with a batch of [`TRANSFERRED_BATCH`]
//! bytes: a sender carries its bytes into a shared word once per 64 KiB, as Linux's
//! `percpu_counter` folds per-CPU deltas into its global count, so the rate check is an
//! exact threshold compare that usually costs a few loads. See
//! [`MigrationStats::rate_limit_exceeded`].
//!
//! # Example
//! ```
//! use shardstat::migration::{MigrationStats, RateTracker};
//! use std::time::{Duration, Instant};
//!
//! static MIG_STATS: MigrationStats = MigrationStats::new();
//!
//! MIG_STATS.reset(); // at migration start
//! MIG_STATS.rate_limit_set(4 << 20); // 4 MiB per 100 ms window
//! let mut rates = RateTracker::new(&MIG_STATS, Instant::now());
//!
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| {
//!             let local = MIG_STATS.local();
//!             for _ in 0..16 {
//!                 // one multifd packet: 128 pages, 100 of them zero
//!                 local.multifd_packet_sent(28 * 4096 + 512, 28, 100);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(MIG_STATS.snapshot().normal_pages, 2 * 16 * 28);
//! assert!(!MIG_STATS.rate_limit_exceeded());
//! let sample = rates.update(&MIG_STATS, Instant::now() + Duration::from_millis(100));
//! assert_eq!(sample.transferred, MIG_STATS.transferred_bytes());
//! ```

use crate::{stats, ApproxCounter, Counter, Gauge};
use std::time::{Duration, Instant};

/// The batch of the `transferred` field (64 KiB): each sending thread carries its bytes into
/// the shared approximate total once per this many, so the approximate total is behind the
/// exact one by less than this per sending thread.
pub const TRANSFERRED_BATCH: u64 = 1 << 16;

/// The rate-limit window: QEMU's limit is in bytes per 100 ms.
pub const RATE_LIMIT_WINDOW: Duration = Duration::from_millis(100);

/// Windows per second: QEMU's `XFER_LIMIT_RATIO` (1000 ms / `BUFFER_DELAY`).
const WINDOWS_PER_SECOND: u64 = 10;

stats! {
    /// The statistics of one live migration: QEMU's `mig_stats`, sharded per thread.
    ///
    /// Every counter is sharded; `dirty_bytes_last_sync`, `dirty_pages_rate` and the
    /// rate-limit values are [`Gauge`]s (set by one owner, read as one value). A sender's
    /// shard of the whole group is [`MigrationStats::BYTES_PER_THREAD`] bytes (128 on
    /// x86-64). See the [module docs](crate::migration) for the QEMU equivalents.
    #[snapshot = MigrationSnapshot]
    #[local = MigrationLocal]
    pub struct MigrationStats {
        /// Bytes that were dirty at the last bitmap sync: what is still to send, not
        /// counting what the guest dirtied since. Used for the expected downtime.
        pub dirty_bytes_last_sync: Gauge,
        /// Pages the guest dirtied per second, as of the last sync.
        pub dirty_pages_rate: Gauge,
        /// Times the guest's dirty bitmap was synchronised.
        pub dirty_sync_count: Counter,
        /// Times zero copy failed to send any page using zero copy.
        pub dirty_sync_missed_zero_copy: Counter,
        /// Bytes sent at completion, while the guest is stopped.
        pub downtime_bytes: Counter,
        /// Bytes sent through multifd channels (add with `add_multifd_bytes`).
        pub(crate) multifd_bytes: Counter,
        /// Pages sent that were not all zeros.
        pub normal_pages: Counter,
        /// Bytes sent during postcopy.
        pub postcopy_bytes: Counter,
        /// Postcopy page faults handled.
        pub postcopy_requests: Counter,
        /// Bytes sent during precopy.
        pub precopy_bytes: Counter,
        /// Bytes written to the main migration stream (add with `add_file_bytes`).
        pub(crate) qemu_file_transferred: Counter,
        /// Bytes sent over RDMA (add with `add_rdma_bytes`).
        pub(crate) rdma_bytes: Counter,
        /// The rate limit: bytes per 100 ms window; 0 means unlimited.
        pub rate_limit_max: Gauge,
        /// `transferred` when the current rate-limit window began.
        pub rate_limit_start: Gauge,
        /// Pages sent that were all zeros (QEMU's "duplicate").
        pub zero_pages: Counter,
        /// `qemu_file_transferred + multifd_bytes + rdma_bytes`, kept as one field so that
        /// reading it is one cell per sender, and approximate so that the rate check is
        /// three loads far from the limit.
        pub(crate) transferred: ApproxCounter<TRANSFERRED_BATCH>,
    }
}

impl MigrationLocal<'_> {
    /// Adds `n` bytes to one of the three transferred-byte fields and to `transferred`, in
    /// one step.
    #[inline]
    fn add_transferred(&self, field: &crate::LocalCounter<'_>, n: u64) {
        self.update(|l| {
            field.add(n);
            l.transferred.add(n);
        });
    }

    /// Adds `n` bytes sent through a multifd channel (QEMU:
    /// `stat64_add(&mig_stats.multifd_bytes, n)`).
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.local().add_multifd_bytes(4096);
    /// assert_eq!(stats.snapshot().multifd_bytes, 4096);
    /// assert_eq!(stats.transferred_bytes(), 4096);
    /// ```
    #[inline]
    pub fn add_multifd_bytes(&self, n: u64) {
        self.add_transferred(&self.multifd_bytes, n);
    }

    /// Adds `n` bytes written to the main migration stream (QEMU's
    /// `qemu_file_transferred`).
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.local().add_file_bytes(100);
    /// assert_eq!(stats.snapshot().qemu_file_transferred, 100);
    /// ```
    #[inline]
    pub fn add_file_bytes(&self, n: u64) {
        self.add_transferred(&self.qemu_file_transferred, n);
    }

    /// Adds `n` bytes sent over RDMA.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.local().add_rdma_bytes(7);
    /// assert_eq!(stats.snapshot().rdma_bytes, 7);
    /// ```
    #[inline]
    pub fn add_rdma_bytes(&self, n: u64) {
        self.add_transferred(&self.rdma_bytes, n);
    }

    /// Counts one multifd packet: its bytes on the wire, and how many of its pages were
    /// normal and how many zero. Snapshots see the packet's fields together.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.local().multifd_packet_sent(3 * 4096 + 64, 3, 125);
    /// let s = stats.snapshot();
    /// assert_eq!((s.normal_pages, s.zero_pages, s.multifd_bytes), (3, 125, 3 * 4096 + 64));
    /// ```
    #[inline]
    pub fn multifd_packet_sent(&self, bytes: u64, normal_pages: u64, zero_pages: u64) {
        self.update(|l| {
            l.normal_pages.add(normal_pages);
            l.zero_pages.add(zero_pages);
            l.add_multifd_bytes(bytes); // joins this step
        });
    }
}

impl MigrationStats {
    /// Adds `n` multifd bytes from the calling thread (see
    /// [`MigrationLocal::add_multifd_bytes`]; in a loop, use the local handle).
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.add_multifd_bytes(512);
    /// assert_eq!(stats.transferred_bytes(), 512);
    /// ```
    #[inline]
    pub fn add_multifd_bytes(&self, n: u64) {
        self.local().add_multifd_bytes(n);
    }

    /// Adds `n` bytes of the main migration stream from the calling thread.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.add_file_bytes(512);
    /// assert_eq!(stats.transferred_bytes(), 512);
    /// ```
    #[inline]
    pub fn add_file_bytes(&self, n: u64) {
        self.local().add_file_bytes(n);
    }

    /// Adds `n` RDMA bytes from the calling thread.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.add_rdma_bytes(512);
    /// assert_eq!(stats.transferred_bytes(), 512);
    /// ```
    #[inline]
    pub fn add_rdma_bytes(&self, n: u64) {
        self.local().add_rdma_bytes(n);
    }

    /// Bytes transferred so far: `qemu_file_transferred + multifd_bytes + rdma_bytes`
    /// (QEMU's `migration_transferred_bytes()`), exact. Reads one cell of each sender's
    /// arena.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.add_multifd_bytes(10);
    /// stats.add_file_bytes(20);
    /// stats.add_rdma_bytes(30);
    /// assert_eq!(stats.transferred_bytes(), 60);
    /// assert_eq!(stats.snapshot().transferred, 60);
    /// ```
    pub fn transferred_bytes(&self) -> u64 {
        self.transferred().get()
    }

    /// Sets the rate limit, in bytes per 100 ms window ([`RATE_LIMIT_WINDOW`]); 0 means
    /// unlimited. Takes effect for the current window. This is the value QEMU stores in
    /// `mig_stats.rate_limit_max`; QEMU's `migration_rate_set(limit)` takes bytes per
    /// *second* and stores a tenth of it — port that call to
    /// [`rate_limit_set_per_second`](Self::rate_limit_set_per_second).
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.rate_limit_set(1 << 20);
    /// assert_eq!(stats.snapshot().rate_limit_max, 1 << 20);
    /// ```
    pub fn rate_limit_set(&self, bytes_per_window: u64) {
        self.rate_limit_max().set(bytes_per_window);
    }

    /// Sets the rate limit in bytes per second, as QEMU's `migration_rate_set(limit)` does:
    /// the check runs per 100 ms window, so the stored limit is `bytes_per_second / 10`
    /// (QEMU's `XFER_LIMIT_RATIO`), and a limit under 10 bytes per second stores 0, which
    /// means unlimited — as in QEMU.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.rate_limit_set_per_second(100 << 20); // 100 MiB/s
    /// assert_eq!(stats.snapshot().rate_limit_max, (100 << 20) / 10);
    /// assert_eq!(stats.rate_limit_per_second(), 104_857_600);
    /// stats.rate_limit_set_per_second(9);
    /// assert_eq!(stats.snapshot().rate_limit_max, 0, "under 10 B/s: unlimited, as in QEMU");
    /// ```
    pub fn rate_limit_set_per_second(&self, bytes_per_second: u64) {
        self.rate_limit_set(bytes_per_second / WINDOWS_PER_SECOND);
    }

    /// The rate limit in bytes per second (QEMU: `migration_rate_get`): the per-window
    /// limit times 10, saturating; 0 means unlimited.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.rate_limit_set(1_000);
    /// assert_eq!(stats.rate_limit_per_second(), 10_000);
    /// ```
    pub fn rate_limit_per_second(&self) -> u64 {
        self.rate_limit_max()
            .get()
            .saturating_mul(WINDOWS_PER_SECOND)
    }

    /// Starts a new rate-limit window: `rate_limit_start` becomes the exact `transferred`
    /// now (QEMU: `migration_rate_reset`). Reads one cell of each sender's arena.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// stats.rate_limit_set(100);
    /// stats.add_multifd_bytes(150);
    /// assert!(stats.rate_limit_exceeded());
    /// stats.rate_limit_reset();
    /// assert!(!stats.rate_limit_exceeded());
    /// ```
    pub fn rate_limit_reset(&self) {
        self.rate_limit_start().set(self.transferred_bytes());
    }

    /// Whether more than the limit has been transferred since the window began (QEMU:
    /// `migration_rate_exceeded`): `transferred − rate_limit_start > rate_limit_max`, in
    /// wrapping `u64` arithmetic as QEMU computes it, and never when the limit is 0
    /// (unlimited).
    ///
    /// # Cost
    /// - Unlimited: one atomic load.
    /// - Otherwise, one stable read of `transferred`'s carried total (a handful of atomic
    ///   loads, none of a sender's shard) when every value it allows gives the same answer —
    ///   Linux's `__percpu_counter_compare`. `transferred` is an [`ApproxCounter`] field: the
    ///   carried total is behind the exact one by less than [`TRANSFERRED_BATCH`] per
    ///   sending thread. When the limit or the window's start is within that of it — near
    ///   the limit, and at the start of each window until about that much has been sent
    ///   in it (the start is an exact value the carried total has not reached) — it reads
    ///   `transferred` exactly instead: one cell of each sender's arena.
    ///
    /// The answer is always the exact one, from one read: of the carried total, or of the
    /// exact value (never two reads of a moving value), and in QEMU's wrapping arithmetic
    /// over the whole `u64` range.
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// assert!(!stats.rate_limit_exceeded(), "0 = unlimited");
    /// stats.rate_limit_set(1000);
    /// stats.rate_limit_reset();
    /// stats.add_multifd_bytes(1000);
    /// assert!(!stats.rate_limit_exceeded(), "exactly at the limit is not over it");
    /// stats.add_multifd_bytes(1);
    /// assert!(stats.rate_limit_exceeded());
    /// ```
    pub fn rate_limit_exceeded(&self) -> bool {
        let max = self.rate_limit_max().get();
        if max == 0 {
            return false;
        }
        let start = self.rate_limit_start().get();
        self.transferred().wrapped_distance_exceeds(start, max)
    }
}

/// The migration thread's 100 ms update (QEMU: `migration_update_counters`): bandwidth,
/// pages per second and expected downtime over the last interval, and a fresh rate-limit
/// window.
///
/// ```
/// use shardstat::migration::{MigrationStats, RateTracker};
/// use std::time::{Duration, Instant};
///
/// let stats = MigrationStats::new();
/// let t0 = Instant::now();
/// let mut rates = RateTracker::new(&stats, t0);
/// stats.local().multifd_packet_sent(1_000_000, 200, 44);
/// stats.dirty_bytes_last_sync().set(500_000);
/// let s = rates.update(&stats, t0 + Duration::from_millis(100));
/// assert_eq!(s.bandwidth_bytes_per_ms, 10_000.0);
/// assert_eq!(s.mbps, 80.0);
/// assert_eq!(s.pages_per_second, 2_440.0);
/// assert_eq!(s.expected_downtime_ms, Some(50.0));
/// ```
#[derive(Debug, Clone)]
pub struct RateTracker {
    since: Instant,
    initial_bytes: u64,
    initial_pages: u64,
}

/// What one [`RateTracker::update`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSample {
    /// `transferred` at the update.
    pub transferred: u64,
    /// Bytes per millisecond over the interval (QEMU's `bandwidth`).
    pub bandwidth_bytes_per_ms: f64,
    /// Megabits per second over the interval (QEMU's `mbps`).
    pub mbps: f64,
    /// Normal plus zero pages sent per second over the interval.
    pub pages_per_second: f64,
    /// `dirty_bytes_last_sync / bandwidth`, in milliseconds; `None` while nothing was sent
    /// in the interval.
    pub expected_downtime_ms: Option<f64>,
}

impl RateTracker {
    /// Starts measuring at `now` (and starts a rate-limit window).
    ///
    /// ```
    /// let stats = shardstat::migration::MigrationStats::new();
    /// let _rates = shardstat::migration::RateTracker::new(&stats, std::time::Instant::now());
    /// ```
    pub fn new(stats: &MigrationStats, now: Instant) -> Self {
        let snap = stats.snapshot();
        stats.rate_limit_start().set(snap.transferred);
        RateTracker {
            since: now,
            initial_bytes: snap.transferred,
            initial_pages: snap.normal_pages.wrapping_add(snap.zero_pages),
        }
    }

    /// Computes the rates since the last update (or `new`) from one snapshot, and starts a
    /// new rate-limit window at the snapshot's `transferred`.
    ///
    /// Call it as QEMU's migration thread does: when at least [`RATE_LIMIT_WINDOW`] has
    /// passed since the *last update* (not on a fixed schedule, which after a stall runs a
    /// burst of updates over intervals of microseconds, each measuring a bandwidth far
    /// above the real one and restarting the window). The main job's `UpdateTimer` does
    /// that.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let stats = shardstat::migration::MigrationStats::new();
    /// let t0 = Instant::now();
    /// let mut rates = shardstat::migration::RateTracker::new(&stats, t0);
    /// stats.add_multifd_bytes(1_000);
    /// let s = rates.update(&stats, t0 + Duration::from_millis(10));
    /// assert_eq!(s.bandwidth_bytes_per_ms, 100.0);
    /// ```
    pub fn update(&mut self, stats: &MigrationStats, now: Instant) -> RateSample {
        let snap = stats.snapshot();
        let elapsed_ms = now.saturating_duration_since(self.since).as_secs_f64() * 1e3;
        let bytes = snap.transferred.wrapping_sub(self.initial_bytes) as f64;
        let pages_now = snap.normal_pages.wrapping_add(snap.zero_pages);
        let pages = pages_now.wrapping_sub(self.initial_pages) as f64;
        let per_ms = |x: f64| {
            if elapsed_ms > 0.0 {
                x / elapsed_ms
            } else {
                0.0
            }
        };
        let bandwidth = per_ms(bytes);
        let sample = RateSample {
            transferred: snap.transferred,
            bandwidth_bytes_per_ms: bandwidth,
            mbps: bandwidth * 8.0 / 1e3,
            pages_per_second: per_ms(pages) * 1e3,
            expected_downtime_ms: (bandwidth > 0.0)
                .then(|| snap.dirty_bytes_last_sync as f64 / bandwidth),
        };
        stats.rate_limit_start().set(snap.transferred);
        self.since = now;
        self.initial_bytes = snap.transferred;
        self.initial_pages = pages_now;
        sample
    }
}
