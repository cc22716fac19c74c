//! The statistics, two ways: shardstat's `MigrationStats` and one shared `AtomicU64` per field
//! (QEMU's `mig_stats`), behind one interface the migration uses.

use super::*;

/// What the migration needs from its statistics; implemented by shardstat's
/// `MigrationStats` and by QEMU's design, one shared atomic per field.
pub(super) trait Stats: Sync {
    type Sender<'a>: PageCounter
    where
        Self: 'a;
    const NAME: &'static str;
    /// Zeroes everything and sets the rate limit, in bytes per second (QEMU's
    /// `migration_rate_set`: checked per 100 ms window, so a tenth of it per window).
    fn start(&self, bytes_per_second: u64);
    fn sender(&self) -> Self::Sender<'_>;
    /// Bytes written to the main stream, counted in `qemu_file_transferred` and in the
    /// phase's byte counter.
    fn file_bytes(&self, n: u64, phase: Phase);
    fn dirty_sync(&self, dirty_bytes: u64, dirty_pages_rate: u64);
    fn rate_limit_off(&self);
    fn rate_limit_exceeded(&self) -> bool;
    fn tracker(&self) -> Tracker;
    fn update(&self, tracker: &mut Tracker) -> RateSample;
    fn snapshot(&self) -> MigrationSnapshot;
}

/// Which phase a byte was sent in (QEMU's `ram_transferred_add()` picks the field by the
/// run state when the bytes are sent). This simulation has no postcopy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The guest runs: `precopy_bytes`.
    Precopy,
    /// The guest is stopped for the last pass: `downtime_bytes`.
    Downtime,
}

/// A sender thread's counting: one call per page, one per packet. Each counts the bytes
/// actually sent — the page's data or its zero-page entry, the packet's header — in
/// `multifd_bytes` and in the phase's byte counter, in one step.
pub(super) trait PageCounter {
    fn page(&self, zero: bool, phase: Phase);
    fn packet(&self, phase: Phase);
}

/// shardstat: the sender's shard of the whole group is found once per thread, and each
/// page is one consistent step of plain stores.
impl Stats for MigrationStats {
    type Sender<'a> = shardstat::migration::MigrationLocal<'a>;
    const NAME: &'static str = "shardstat MigrationStats";
    fn start(&self, bytes_per_second: u64) {
        self.reset();
        self.rate_limit_set_per_second(bytes_per_second);
    }
    fn sender(&self) -> Self::Sender<'_> {
        self.local()
    }
    fn file_bytes(&self, n: u64, phase: Phase) {
        self.local().update(|l| {
            l.add_file_bytes(n);
            phase_bytes(l, phase).add(n);
        });
    }
    fn dirty_sync(&self, dirty_bytes: u64, dirty_pages_rate: u64) {
        self.dirty_sync_count().inc();
        self.dirty_bytes_last_sync().set(dirty_bytes);
        self.dirty_pages_rate().set(dirty_pages_rate);
    }
    fn rate_limit_off(&self) {
        self.rate_limit_set(0);
    }
    fn rate_limit_exceeded(&self) -> bool {
        MigrationStats::rate_limit_exceeded(self)
    }
    fn tracker(&self) -> Tracker {
        Tracker::Shardstat(RateTracker::new(self, Instant::now()))
    }
    fn update(&self, tracker: &mut Tracker) -> RateSample {
        match tracker {
            Tracker::Shardstat(t) => t.update(self, Instant::now()),
            Tracker::Atomics { .. } => unreachable!("a tracker of the other design"),
        }
    }
    fn snapshot(&self) -> MigrationSnapshot {
        MigrationStats::snapshot(self)
    }
}

/// The phase's byte counter in a sender's shard.
pub(super) fn phase_bytes<'a>(
    l: &'a shardstat::migration::MigrationLocal<'_>,
    phase: Phase,
) -> &'a shardstat::LocalCounter<'a> {
    match phase {
        Phase::Precopy => &l.precopy_bytes,
        Phase::Downtime => &l.downtime_bytes,
    }
}

impl PageCounter for shardstat::migration::MigrationLocal<'_> {
    fn page(&self, zero: bool, phase: Phase) {
        self.update(|l| {
            let bytes = if zero {
                l.multifd_packet_sent(ZERO_PAGE_ENTRY, 0, 1); // joins this step
                ZERO_PAGE_ENTRY
            } else {
                l.multifd_packet_sent(PAGE_SIZE, 1, 0);
                PAGE_SIZE
            };
            phase_bytes(l, phase).add(bytes);
        });
    }
    fn packet(&self, phase: Phase) {
        self.update(|l| {
            l.add_multifd_bytes(PACKET_HEADER);
            phase_bytes(l, phase).add(PACKET_HEADER);
        });
    }
}

/// QEMU's design: one global struct of 64-bit atomics, side by side; every add is a
/// `fetch_add` on a line all senders share.
#[derive(Default)]
#[repr(C)]
pub(super) struct AtomicStats {
    pub(super) dirty_bytes_last_sync: AtomicU64,
    pub(super) dirty_pages_rate: AtomicU64,
    pub(super) dirty_sync_count: AtomicU64,
    pub(super) dirty_sync_missed_zero_copy: AtomicU64,
    pub(super) downtime_bytes: AtomicU64,
    pub(super) multifd_bytes: AtomicU64,
    pub(super) normal_pages: AtomicU64,
    pub(super) postcopy_bytes: AtomicU64,
    pub(super) postcopy_requests: AtomicU64,
    pub(super) precopy_bytes: AtomicU64,
    pub(super) qemu_file_transferred: AtomicU64,
    pub(super) rdma_bytes: AtomicU64,
    pub(super) rate_limit_max: AtomicU64,
    pub(super) rate_limit_start: AtomicU64,
    pub(super) zero_pages: AtomicU64,
}

impl AtomicStats {
    pub(super) fn phase_bytes(&self, phase: Phase) -> &AtomicU64 {
        match phase {
            Phase::Precopy => &self.precopy_bytes,
            Phase::Downtime => &self.downtime_bytes,
        }
    }
    pub(super) fn transferred(&self) -> u64 {
        self.qemu_file_transferred.load(Relaxed)
            + self.multifd_bytes.load(Relaxed)
            + self.rdma_bytes.load(Relaxed)
    }
}

impl Stats for AtomicStats {
    type Sender<'a> = &'a AtomicStats;
    const NAME: &'static str = "one AtomicU64 per field (QEMU)";
    fn start(&self, bytes_per_second: u64) {
        let bytes_per_window = bytes_per_second / 10; // QEMU's XFER_LIMIT_RATIO
        for field in [
            &self.dirty_bytes_last_sync,
            &self.dirty_pages_rate,
            &self.dirty_sync_count,
            &self.dirty_sync_missed_zero_copy,
            &self.downtime_bytes,
            &self.multifd_bytes,
            &self.normal_pages,
            &self.postcopy_bytes,
            &self.postcopy_requests,
            &self.precopy_bytes,
            &self.qemu_file_transferred,
            &self.rdma_bytes,
            &self.rate_limit_start,
            &self.zero_pages,
        ] {
            field.store(0, Relaxed);
        }
        self.rate_limit_max.store(bytes_per_window, Relaxed);
    }
    fn sender(&self) -> &AtomicStats {
        self
    }
    fn file_bytes(&self, n: u64, phase: Phase) {
        self.qemu_file_transferred.fetch_add(n, Relaxed);
        self.phase_bytes(phase).fetch_add(n, Relaxed);
    }
    fn dirty_sync(&self, dirty_bytes: u64, dirty_pages_rate: u64) {
        self.dirty_sync_count.fetch_add(1, Relaxed);
        self.dirty_bytes_last_sync.store(dirty_bytes, Relaxed);
        self.dirty_pages_rate.store(dirty_pages_rate, Relaxed);
    }
    fn rate_limit_off(&self) {
        self.rate_limit_max.store(0, Relaxed);
    }
    fn rate_limit_exceeded(&self) -> bool {
        let max = self.rate_limit_max.load(Relaxed);
        if max == 0 {
            return false;
        }
        self.transferred() - self.rate_limit_start.load(Relaxed) > max
    }
    fn tracker(&self) -> Tracker {
        let transferred = self.transferred();
        self.rate_limit_start.store(transferred, Relaxed);
        Tracker::Atomics {
            since: Instant::now(),
            bytes: transferred,
            pages: self.normal_pages.load(Relaxed) + self.zero_pages.load(Relaxed),
        }
    }
    fn update(&self, tracker: &mut Tracker) -> RateSample {
        let Tracker::Atomics {
            since,
            bytes,
            pages: pages_before,
        } = tracker
        else {
            unreachable!("a tracker of the other design")
        };
        let now = Instant::now();
        let transferred = self.transferred();
        let pages = self.normal_pages.load(Relaxed) + self.zero_pages.load(Relaxed);
        let ms = now.duration_since(*since).as_secs_f64() * 1e3;
        let bandwidth = (transferred - *bytes) as f64 / ms;
        let sample = RateSample {
            transferred,
            bandwidth_bytes_per_ms: bandwidth,
            mbps: bandwidth * 8.0 / 1e3,
            pages_per_second: (pages - *pages_before) as f64 / ms * 1e3,
            expected_downtime_ms: (bandwidth > 0.0)
                .then(|| self.dirty_bytes_last_sync.load(Relaxed) as f64 / bandwidth),
        };
        self.rate_limit_start.store(transferred, Relaxed);
        (*since, *bytes, *pages_before) = (now, transferred, pages);
        sample
    }
    fn snapshot(&self) -> MigrationSnapshot {
        MigrationSnapshot {
            dirty_bytes_last_sync: self.dirty_bytes_last_sync.load(Relaxed),
            dirty_pages_rate: self.dirty_pages_rate.load(Relaxed),
            dirty_sync_count: self.dirty_sync_count.load(Relaxed),
            dirty_sync_missed_zero_copy: self.dirty_sync_missed_zero_copy.load(Relaxed),
            downtime_bytes: self.downtime_bytes.load(Relaxed),
            multifd_bytes: self.multifd_bytes.load(Relaxed),
            normal_pages: self.normal_pages.load(Relaxed),
            postcopy_bytes: self.postcopy_bytes.load(Relaxed),
            postcopy_requests: self.postcopy_requests.load(Relaxed),
            precopy_bytes: self.precopy_bytes.load(Relaxed),
            qemu_file_transferred: self.qemu_file_transferred.load(Relaxed),
            rdma_bytes: self.rdma_bytes.load(Relaxed),
            rate_limit_max: self.rate_limit_max.load(Relaxed),
            rate_limit_start: self.rate_limit_start.load(Relaxed),
            zero_pages: self.zero_pages.load(Relaxed),
            transferred: self.transferred(),
        }
    }
}

impl PageCounter for &AtomicStats {
    fn page(&self, zero: bool, phase: Phase) {
        let bytes = if zero {
            self.zero_pages.fetch_add(1, Relaxed);
            ZERO_PAGE_ENTRY
        } else {
            self.normal_pages.fetch_add(1, Relaxed);
            PAGE_SIZE
        };
        self.multifd_bytes.fetch_add(bytes, Relaxed);
        self.phase_bytes(phase).fetch_add(bytes, Relaxed);
    }
    fn packet(&self, phase: Phase) {
        self.multifd_bytes.fetch_add(PACKET_HEADER, Relaxed);
        self.phase_bytes(phase).fetch_add(PACKET_HEADER, Relaxed);
    }
}

/// The 100 ms update's state, for either design.
pub(super) enum Tracker {
    Shardstat(RateTracker),
    Atomics {
        since: Instant,
        bytes: u64,
        pages: u64,
    },
}
