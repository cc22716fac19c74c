//! A live migration, simulated with the real `shardstat::migration` API: the project's main
//! job.
//!
//! A synthetic guest RAM (some pages zero) is migrated by `--channels` multifd sender
//! threads that detect zero pages for real and copy normal pages into a destination RAM,
//! while a guest thread keeps dirtying pages, so several passes and dirty-bitmap syncs
//! happen. The migration thread queues packets under the rate limit, runs QEMU's 100 ms
//! update (bandwidth, pages/s, expected downtime), and stops the guest for the final copy
//! once the expected downtime fits the limit. It ends with a report shaped like QEMU's
//! `query-migrate` (its `ram` section), and checks that the destination RAM equals the
//! source and that the statistics add up.
//!
//! ```text
//! cargo run --release -p migrate                      # defaults, about 20 s
//! cargo run --release -p migrate -- --ram 64M --channels 4 --dirty-rate 5000
//! cargo run --release -p migrate -- --max-bandwidth 0 --json
//! cargo run --release -p migrate -- --compare         # shardstat vs QEMU's atomics
//! ```
//!
//! `--compare` runs the same migration twice, once with `MigrationStats` and once with one
//! shared `AtomicU64` per field (QEMU's `mig_stats`), and replays each run's counter
//! operations alone on the same threads to show what the counters themselves cost.

use shardstat::migration::{MigrationSnapshot, MigrationStats, RateSample, RateTracker};
use shardstat::{Histogram, HistogramSnapshot};
#[cfg(not(target_has_atomic = "64"))]
use stat64::Stat64 as AtomicU64;
use std::io::{IsTerminal, Write};
#[cfg(target_has_atomic = "64")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// QEMU's `Stat64` where the host has no 64-bit atomics (`util/stats64.c` keeps each 64-bit
/// statistic with a lock): the `--compare` baseline and the simulated guest memory on such
/// hosts, with the methods of `AtomicU64` this program uses.
#[cfg(not(target_has_atomic = "64"))]
mod stat64 {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Stat64(Mutex<u64>);

    impl Stat64 {
        pub const fn new(value: u64) -> Self {
            Stat64(Mutex::new(value))
        }
        fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
            f(&mut self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner))
        }
        pub fn load(&self, _: Ordering) -> u64 {
            self.with(|v| *v)
        }
        pub fn store(&self, value: u64, _: Ordering) {
            self.with(|v| *v = value);
        }
        pub fn swap(&self, value: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, value))
        }
        pub fn fetch_add(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, v.wrapping_add(n)))
        }
        pub fn fetch_or(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, *v | n))
        }
    }
}
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

const PAGE_SIZE: u64 = 4096;
const WORDS_PER_PAGE: usize = (PAGE_SIZE / 8) as usize;
/// Pages per multifd packet (QEMU: 128 pages, 512 KiB).
const PACKET_PAGES: usize = 128;
/// Bytes of a packet header, and of one zero-page entry in it.
const PACKET_HEADER: u64 = 64;
const ZERO_PAGE_ENTRY: u64 = 8;
/// The marker the migration thread writes to the main stream per packet it queues.
const FILE_MARKER: u64 = 16;
const DOWNTIME_LIMIT_MS: f64 = 300.0;
const MAX_PASSES: u32 = 30;

// ---- command line --------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Config {
    ram: u64,
    channels: usize,
    dirty_rate: u64,
    max_bandwidth: u64,
    json: bool,
    compare: bool,
}

const USAGE: &str = "usage: cargo run --release -p migrate -- [OPTIONS]

  --ram SIZE             guest RAM, e.g. 256M, 1G (default 256M; at least 1M)
  --channels N           multifd sender threads (default: available cores; 1..=256)
  --dirty-rate PAGES     pages the guest dirties per second (default 3000; 0 = idle guest)
  --max-bandwidth BYTES  bytes per second, e.g. 32M (default 20M; 0 = unlimited)
  --json                 print the final report as JSON on stdout
  --compare              also run with one shared AtomicU64 per field (QEMU) and compare
  -h, --help             this text";

fn parse_size(flag: &str, text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit {
        "" | "B" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        _ => {
            return Err(format!(
                "{flag}: {text:?} is not a size (a whole number with an optional K, M or G)"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{flag}: {text:?} is not a size (a whole number, e.g. 256M)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{flag}: {text} is too large"))
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = Config {
        ram: 256 << 20,
        channels: cores,
        dirty_rate: 3000,
        max_bandwidth: 20 << 20,
        json: false,
        compare: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value"))
                .cloned()
        };
        match flag.as_str() {
            "--ram" => config.ram = parse_size(flag, &value()?)?,
            "--channels" => {
                let v = value()?;
                config.channels = v
                    .parse()
                    .map_err(|_| format!("--channels: {v:?} is not a whole number"))?;
            }
            "--dirty-rate" => {
                let v = value()?;
                config.dirty_rate = v
                    .parse()
                    .map_err(|_| format!("--dirty-rate: {v:?} is not a whole number"))?;
            }
            "--max-bandwidth" => config.max_bandwidth = parse_size(flag, &value()?)?,
            "--json" => config.json = true,
            "--compare" => config.compare = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if config.ram < 1 << 20 {
        return Err(format!(
            "--ram must be at least 1M, not {} bytes",
            config.ram
        ));
    }
    if config.ram % PAGE_SIZE != 0 {
        return Err(format!(
            "--ram must be a multiple of the page size ({PAGE_SIZE})"
        ));
    }
    if config.ram / PAGE_SIZE > u32::MAX as u64 {
        return Err("--ram is too large for this simulation (at most 16T)".into());
    }
    if !(1..=256).contains(&config.channels) {
        return Err(format!(
            "--channels must be between 1 and 256, not {}",
            config.channels
        ));
    }
    Ok(config)
}

// ---- the statistics, two ways ----------------------------------------------------------

/// What the migration needs from its statistics; implemented by shardstat's
/// `MigrationStats` and by QEMU's design, one shared atomic per field.
trait Stats: Sync {
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
enum Phase {
    /// The guest runs: `precopy_bytes`.
    Precopy,
    /// The guest is stopped for the last pass: `downtime_bytes`.
    Downtime,
}

/// A sender thread's counting: one call per page, one per packet. Each counts the bytes
/// actually sent — the page's data or its zero-page entry, the packet's header — in
/// `multifd_bytes` and in the phase's byte counter, in one step.
trait PageCounter {
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
fn phase_bytes<'a>(
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
struct AtomicStats {
    dirty_bytes_last_sync: AtomicU64,
    dirty_pages_rate: AtomicU64,
    dirty_sync_count: AtomicU64,
    dirty_sync_missed_zero_copy: AtomicU64,
    downtime_bytes: AtomicU64,
    multifd_bytes: AtomicU64,
    normal_pages: AtomicU64,
    postcopy_bytes: AtomicU64,
    postcopy_requests: AtomicU64,
    precopy_bytes: AtomicU64,
    qemu_file_transferred: AtomicU64,
    rdma_bytes: AtomicU64,
    rate_limit_max: AtomicU64,
    rate_limit_start: AtomicU64,
    zero_pages: AtomicU64,
}

impl AtomicStats {
    fn phase_bytes(&self, phase: Phase) -> &AtomicU64 {
        match phase {
            Phase::Precopy => &self.precopy_bytes,
            Phase::Downtime => &self.downtime_bytes,
        }
    }
    fn transferred(&self) -> u64 {
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
enum Tracker {
    Shardstat(RateTracker),
    Atomics {
        since: Instant,
        bytes: u64,
        pages: u64,
    },
}

// ---- guest memory ----------------------------------------------------------------------

/// Guest RAM as atomics, so that the guest thread may write pages while senders read them
/// (as a running VM does) without a data race.
struct Ram {
    words: Vec<AtomicU64>,
}

impl Ram {
    fn new(bytes: u64, fill: impl Fn(usize) -> u64) -> Ram {
        let n = (bytes / 8) as usize;
        Ram {
            words: (0..n).map(|i| AtomicU64::new(fill(i))).collect(),
        }
    }
    fn pages(&self) -> usize {
        self.words.len() / WORDS_PER_PAGE
    }
    fn page(&self, page: usize) -> &[AtomicU64] {
        &self.words[page * WORDS_PER_PAGE..(page + 1) * WORDS_PER_PAGE]
    }
}

/// A small, fast, seeded generator (xorshift64*), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The initial guest RAM: a quarter of the pages zero, the rest patterned.
fn initial_word(i: usize) -> u64 {
    let page = i / WORDS_PER_PAGE;
    if page % 4 == 3 {
        0
    } else {
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
    }
}

/// The guest's dirty log: one bit per page, set by the guest, taken by a sync.
struct DirtyLog {
    bits: Vec<AtomicU64>,
}

impl DirtyLog {
    fn new(pages: usize) -> Self {
        DirtyLog {
            bits: (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    fn mark(&self, page: usize) {
        self.bits[page / 64].fetch_or(1 << (page % 64), Relaxed);
    }
    /// Moves the log into `into` (QEMU's bitmap sync). Returns the pages the log held, and
    /// the pages now dirty in `into`.
    fn sync(&self, into: &mut [u64]) -> (u64, u64) {
        let (mut logged, mut dirty) = (0, 0);
        for (word, out) in self.bits.iter().zip(into.iter_mut()) {
            let taken = word.swap(0, Relaxed);
            *out |= taken;
            logged += taken.count_ones() as u64;
            dirty += out.count_ones() as u64;
        }
        (logged, dirty)
    }
}

/// The guest: dirties `rate` pages per second until `stop`, a tenth of them to all zeros.
fn run_guest(ram: &Ram, log: &DirtyLog, rate: u64, stop: &AtomicBool) -> u64 {
    let mut rng = Rng(0x5eed_cafe);
    let mut dirtied = 0u64;
    let start = Instant::now();
    let pages = ram.pages() as u64;
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while dirtied < due && !stop.load(Relaxed) {
            let page = (rng.next() % pages) as usize;
            let words = ram.page(page);
            if rng.next() % 10 == 0 {
                words.iter().for_each(|w| w.store(0, Relaxed));
            } else {
                let value = rng.next() | 1;
                for w in words.iter().step_by(61) {
                    w.store(value, Relaxed);
                }
            }
            log.mark(page);
            dirtied += 1;
        }
    }
    dirtied
}

// ---- the migration -----------------------------------------------------------------------

enum Job {
    /// Pages to send, and the phase they are sent in.
    Packet(Vec<u32>, Phase),
    /// End of a pass: reply when everything before it has been sent.
    Flush(SyncSender<()>),
}

/// One multifd sender: honours the rate limit page by page (the check is cheap enough to
/// make per page), detects zero pages, copies normal ones to the destination, counts.
/// Returns the number of per-page counter operations it made (for the replay).
/// Also records each packet's send time (from its first page to its last, rate-limit waits
/// included) into `send_time`, in ns.
fn run_sender<S: Stats>(
    stats: &S,
    src: &Ram,
    dst: &Ram,
    jobs: Receiver<Job>,
    send_time: &Histogram,
) -> u64 {
    let counter = stats.sender();
    let mut ops = 0u64;
    let mut buffer = vec![0u64; WORDS_PER_PAGE];
    for job in jobs {
        match job {
            Job::Packet(pages, phase) => {
                let started = Instant::now();
                for page in pages {
                    while stats.rate_limit_exceeded() {
                        std::thread::sleep(Duration::from_micros(500));
                    }
                    let page = page as usize;
                    let from = src.page(page);
                    for (b, w) in buffer.iter_mut().zip(from) {
                        *b = w.load(Relaxed);
                    }
                    let zero = buffer.iter().all(|&w| w == 0);
                    for (w, &b) in dst.page(page).iter().zip(&buffer) {
                        w.store(b, Relaxed);
                    }
                    counter.page(zero, phase);
                    ops += 1;
                }
                counter.packet(phase);
                ops += 1;
                send_time.record(started.elapsed().as_nanos() as u64);
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
    ops
}

struct Outcome {
    snapshot: MigrationSnapshot,
    total: Duration,
    downtime: Duration,
    setup: Duration,
    /// `None` when no update measured a bandwidth (nothing sent in any 100 ms interval).
    expected_downtime_ms: Option<f64>,
    passes: u32,
    converged: bool,
    mbps: f64,
    pages_per_second: f64,
    guest_dirtied: u64,
    verified: bool,
    counter_ops: Vec<u64>,
    /// Each packet's send time, ns.
    send_time: HistogramSnapshot,
    /// Each pass's expected downtime (the dirty bytes left over the bandwidth), µs.
    downtime_estimates: HistogramSnapshot,
}

/// Pages dirtied per second, over periods of at least a second (or the whole run, if
/// shorter).
struct DirtyRate {
    since: Instant,
    pages: u64,
    per_second: u64,
}

impl DirtyRate {
    fn add(&mut self, pages: u64, last: bool) -> u64 {
        self.pages += pages;
        let elapsed = self.since.elapsed().as_secs_f64();
        if elapsed >= 1.0 || (last && self.per_second == 0 && elapsed > 0.0) {
            self.per_second = (self.pages as f64 / elapsed) as u64;
            (self.since, self.pages) = (Instant::now(), 0);
        }
        self.per_second
    }
}

/// Gives `job` to a sender, running `tick` while it waits: a sender may be waiting for the
/// rate-limit window that only the migration thread's 100 ms update starts.
fn hand_over(channel: &SyncSender<Job>, mut job: Job, mut tick: impl FnMut()) {
    loop {
        tick();
        match channel.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(back)) => {
                job = back;
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(TrySendError::Disconnected(_)) => panic!("a sender thread is gone"),
        }
    }
}

/// When the 100 ms update is due: QEMU's migration thread runs it when at least
/// `RATE_LIMIT_WINDOW` has passed since the *last update* — after a stall (the process
/// stopped, the thread descheduled) the next update comes one window after the late one,
/// never in a burst that catches up. (Adding the window to a fixed schedule ran 5 updates
/// within 0.74 ms after a 0.6 s stop, each measuring more than 100× the real bandwidth.)
pub struct UpdateTimer {
    last: Instant,
}

impl UpdateTimer {
    /// A timer whose first update is due one window after `now`.
    pub fn new(now: Instant) -> Self {
        UpdateTimer { last: now }
    }

    /// Whether the update is due at `now`; if so, the next one is due a window after `now`.
    pub fn due(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.last) < shardstat::migration::RATE_LIMIT_WINDOW {
            return false;
        }
        self.last = now;
        true
    }
}

/// Milliseconds to send `dirty_bytes` at the bandwidth the last update measured; `None`
/// while none was measured (no update yet, or nothing sent in its interval).
fn expected_downtime(dirty_bytes: u64, last: &RateSample) -> Option<f64> {
    let bandwidth = last.bandwidth_bytes_per_ms;
    (bandwidth > 0.0).then(|| dirty_bytes as f64 / bandwidth)
}

/// The migration thread's clock: the 100 ms update, and the progress line.
struct Clock {
    tracker: Tracker,
    timer: UpdateTimer,
    last: RateSample,
    progress: Progress,
}

impl Clock {
    /// Runs the 100 ms update if it is due.
    fn tick<S: Stats>(&mut self, stats: &S, pass: u32, done: f64) {
        if !self.timer.due(Instant::now()) {
            return;
        }
        self.last = stats.update(&mut self.tracker);
        let dirty_mb = stats.snapshot().dirty_bytes_last_sync as f64 / 1e6;
        self.progress.show(pass, done, &self.last, dirty_mb);
    }
}

/// Prints progress on stderr: a redrawn bar on a terminal, a line a second otherwise.
struct Progress {
    tty: bool,
    last_line: Instant,
    quiet: bool,
}

impl Progress {
    fn show(&mut self, pass: u32, done: f64, s: &RateSample, dirty_mb: f64) {
        if self.quiet {
            return;
        }
        let phase = if pass > MAX_PASSES {
            "stop+copy".to_string()
        } else {
            format!("pass {pass:>4}")
        };
        let text = format!(
            "{phase} [{:<30}] {:>5.1}%  {:>8.1} MB/s  {:>9.0} pages/s  dirty {:>7.1} MB  downtime~{:>6}",
            "#".repeat((done * 30.0) as usize),
            done * 100.0,
            s.bandwidth_bytes_per_ms / 1e3,
            s.pages_per_second,
            dirty_mb,
            s.expected_downtime_ms
                .map_or("-".to_string(), |ms| format!("{ms:.0} ms")),
        );
        if self.tty {
            eprint!("\r{text}");
            let _ = std::io::stderr().flush();
        } else if self.last_line.elapsed() >= Duration::from_secs(1) {
            eprintln!("{text}");
            self.last_line = Instant::now();
        }
    }
    fn finish(&self) {
        if self.tty && !self.quiet {
            eprintln!();
        }
    }
}

fn migrate<S: Stats>(config: &Config, stats: &S, quiet: bool) -> Outcome {
    let started = Instant::now();
    let src = Ram::new(config.ram, initial_word);
    let dst = Ram::new(config.ram, |_| 0xdead_beef);
    let pages = src.pages();
    let log = DirtyLog::new(pages);
    let mut bitmap = vec![u64::MAX; pages.div_ceil(64)];
    if pages % 64 != 0 {
        *bitmap.last_mut().unwrap() = (1u64 << (pages % 64)) - 1;
    }
    stats.start(config.max_bandwidth);
    let guest_stop = AtomicBool::new(false);
    let (send_time, downtime_estimates) = (Histogram::new(), Histogram::new());
    let progress = Progress {
        tty: std::io::stderr().is_terminal(),
        last_line: Instant::now() - Duration::from_secs(1),
        quiet,
    };

    std::thread::scope(|s| {
        let guest = s.spawn(|| run_guest(&src, &log, config.dirty_rate, &guest_stop));
        let (senders, workers): (Vec<_>, Vec<_>) = (0..config.channels)
            .map(|_| {
                // One packet in flight per channel beyond the one being sent, as in QEMU's
                // multifd: the rate check sees bytes when they are sent, not queued.
                let (tx, rx) = sync_channel::<Job>(0);
                let (stats, src, dst, send_time) = (stats, &src, &dst, &send_time);
                (
                    tx,
                    s.spawn(move || run_sender(stats, src, dst, rx, send_time)),
                )
            })
            .unzip();
        let setup = started.elapsed();
        let begin = Instant::now();
        let mut clock = Clock {
            tracker: stats.tracker(),
            timer: UpdateTimer::new(Instant::now()),
            last: RateSample {
                transferred: 0,
                bandwidth_bytes_per_ms: 0.0,
                mbps: 0.0,
                pages_per_second: 0.0,
                expected_downtime_ms: None,
            },
            progress,
        };
        let mut next_channel = 0;
        let mut pass = 0;
        let mut dirty_pages = pages as u64;
        let mut converged = false;
        // QEMU's dirty-pages-rate: pages dirtied per second, measured over at least 1 s.
        let mut rate = DirtyRate {
            since: Instant::now(),
            pages: 0,
            per_second: 0,
        };

        // Queues every page set in `bitmap` (clearing it), then waits until all are sent.
        let mut send_bitmap = |bitmap: &mut [u64], clock: &mut Clock, pass: u32, dirty: u64| {
            let downtime = pass > MAX_PASSES;
            let mut sent = 0u64;
            let mut queue = |packet: Vec<u32>, clock: &mut Clock, sent: u64| {
                // The bytes are counted where they are sent: the senders count pages and
                // headers, this thread its marker on the main stream.
                let phase = if downtime {
                    Phase::Downtime
                } else {
                    Phase::Precopy
                };
                stats.file_bytes(FILE_MARKER, phase); // the main stream's per-packet marker
                let done = sent as f64 / dirty.max(1) as f64;
                let channel = &senders[next_channel % senders.len()];
                hand_over(channel, Job::Packet(packet, phase), || {
                    clock.tick(stats, pass, done)
                });
                next_channel += 1;
            };
            let mut packet = Vec::with_capacity(PACKET_PAGES);
            for (w, word) in bitmap.iter_mut().enumerate() {
                while *word != 0 {
                    let bit = word.trailing_zeros() as usize;
                    *word &= *word - 1;
                    packet.push((w * 64 + bit) as u32);
                    sent += 1;
                    if packet.len() == PACKET_PAGES {
                        queue(std::mem::take(&mut packet), clock, sent);
                    }
                }
            }
            if !packet.is_empty() {
                queue(packet, clock, sent);
            }
            // QEMU's multifd sync: every channel has sent what it was given.
            for tx in &senders {
                let (done_tx, done_rx) = sync_channel(1);
                hand_over(tx, Job::Flush(done_tx), || clock.tick(stats, pass, 1.0));
                while done_rx.recv_timeout(Duration::from_millis(1)).is_err() {
                    clock.tick(stats, pass, 1.0);
                }
            }
        };

        while pass < MAX_PASSES {
            pass += 1;
            send_bitmap(&mut bitmap, &mut clock, pass, dirty_pages);
            // Bitmap sync: what the guest dirtied meanwhile is the next pass.
            let logged;
            (logged, dirty_pages) = log.sync(&mut bitmap);
            stats.dirty_sync(dirty_pages * PAGE_SIZE, rate.add(logged, false));
            // No bandwidth measured yet: the downtime is unknown, and not within the limit.
            let expected = expected_downtime(dirty_pages * PAGE_SIZE, &clock.last);
            if let Some(expected) = expected {
                downtime_estimates.record((expected * 1000.0).min(u64::MAX as f64) as u64);
            }
            let within = expected.is_some_and(|ms| ms <= DOWNTIME_LIMIT_MS);
            if within || config.max_bandwidth == 0 && pass >= 3 {
                converged = true;
                break;
            }
        }

        // Stop-and-copy: pause the guest, take the last dirty pages, send them unlimited.
        let expected_downtime_ms =
            expected_downtime(stats.snapshot().dirty_bytes_last_sync, &clock.last);
        let downtime_start = Instant::now();
        guest_stop.store(true, Relaxed);
        let guest_dirtied = guest.join().expect("guest panicked");
        let (logged, final_dirty) = log.sync(&mut bitmap);
        stats.dirty_sync(final_dirty * PAGE_SIZE, rate.add(logged, true));
        stats.rate_limit_off();
        send_bitmap(&mut bitmap, &mut clock, MAX_PASSES + 1, final_dirty);
        let downtime = downtime_start.elapsed();
        drop(senders);
        let counter_ops: Vec<u64> = workers
            .into_iter()
            .map(|w| w.join().expect("sender panicked"))
            .collect();
        let total = begin.elapsed();
        clock.progress.finish();

        let snapshot = stats.snapshot();
        let seconds = total.as_secs_f64();
        let verified = src
            .words
            .iter()
            .zip(&dst.words)
            .all(|(a, b)| a.load(Relaxed) == b.load(Relaxed));
        Outcome {
            mbps: snapshot.transferred as f64 * 8.0 / seconds / 1e6,
            pages_per_second: (snapshot.normal_pages + snapshot.zero_pages) as f64 / seconds,
            snapshot,
            total,
            downtime,
            setup,
            expected_downtime_ms,
            passes: pass + 1,
            converged,
            guest_dirtied,
            verified,
            counter_ops,
            send_time: send_time.snapshot(),
            downtime_estimates: downtime_estimates.snapshot(),
        }
    })
}

// ---- the report ----------------------------------------------------------------------------

/// The `ram` section of QEMU's `query-migrate`, with the run's timings.
fn report_fields(config: &Config, o: &Outcome) -> Vec<(&'static str, String)> {
    let s = &o.snapshot;
    vec![
        ("transferred", s.transferred.to_string()),
        ("remaining", "0".into()),
        ("total", config.ram.to_string()),
        ("duplicate", s.zero_pages.to_string()),
        ("normal", s.normal_pages.to_string()),
        ("normal-bytes", (s.normal_pages * PAGE_SIZE).to_string()),
        ("dirty-pages-rate", s.dirty_pages_rate.to_string()),
        ("mbps", format!("{:.3}", o.mbps)),
        ("dirty-sync-count", s.dirty_sync_count.to_string()),
        ("postcopy-requests", s.postcopy_requests.to_string()),
        ("page-size", PAGE_SIZE.to_string()),
        ("multifd-bytes", s.multifd_bytes.to_string()),
        ("pages-per-second", format!("{:.0}", o.pages_per_second)),
        ("precopy-bytes", s.precopy_bytes.to_string()),
        ("downtime-bytes", s.downtime_bytes.to_string()),
        ("postcopy-bytes", s.postcopy_bytes.to_string()),
        (
            "dirty-sync-missed-zero-copy",
            s.dirty_sync_missed_zero_copy.to_string(),
        ),
    ]
}

fn report_json(config: &Config, o: &Outcome, stats_name: &str) -> String {
    let ram: Vec<String> = report_fields(config, o)
        .into_iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!(
        "{{\"status\": \"completed\", \"stats\": \"{stats_name}\", \"total-time\": {}, \
         \"downtime\": {}, \"setup-time\": {}, \"expected-downtime\": {}, \
         \"passes\": {}, \"converged\": {}, \"verified\": {}, \"channels\": {}, \
         \"packet-send-time-us\": {}, \"expected-downtime-per-pass-ms\": {}, \
         \"ram\": {{{}}}}}",
        o.total.as_millis(),
        o.downtime.as_millis(),
        o.setup.as_millis(),
        o.expected_downtime_ms
            .map_or("null".to_string(), |ms| format!("{ms:.0}")),
        o.passes,
        o.converged,
        o.verified,
        config.channels,
        distribution_json(&o.send_time, 1e3),
        distribution_json(&o.downtime_estimates, 1e3),
        ram.join(", ")
    )
}

/// A distribution as JSON: its count, and p50/p99 divided by `per_unit`.
fn distribution_json(snap: &HistogramSnapshot, per_unit: f64) -> String {
    let q = |q: f64| snap.quantile(q).map_or(0.0, |v| v as f64 / per_unit);
    format!(
        "{{\"count\": {}, \"p50\": {:.3}, \"p99\": {:.3}}}",
        snap.count(),
        q(0.5),
        q(0.99)
    )
}

/// A distribution as text: p50 and p99 divided by `per_unit`, with `unit`.
fn distribution_text(snap: &HistogramSnapshot, per_unit: f64, unit: &str) -> String {
    let q = |q: f64| snap.quantile(q).map_or(0.0, |v| v as f64 / per_unit);
    format!(
        "p50 {:.1} {unit}, p99 {:.1} {unit} (of {})",
        q(0.5),
        q(0.99),
        snap.count()
    )
}

fn report_text(config: &Config, o: &Outcome, stats_name: &str) {
    println!("Migration status: completed ({stats_name})");
    println!(
        "total time: {} ms  downtime: {} ms  setup: {} ms  expected downtime: {}",
        o.total.as_millis(),
        o.downtime.as_millis(),
        o.setup.as_millis(),
        o.expected_downtime_ms
            .map_or("unknown (no bandwidth measured)".to_string(), |ms| format!(
                "{ms:.0} ms"
            ))
    );
    println!(
        "passes: {} ({})  channels: {}  guest dirtied {} pages",
        o.passes,
        if o.converged {
            "converged"
        } else {
            "forced after the pass limit"
        },
        config.channels,
        o.guest_dirtied
    );
    println!(
        "packet send time: {}   expected downtime per pass: {}",
        distribution_text(&o.send_time, 1e3, "µs"),
        distribution_text(&o.downtime_estimates, 1e3, "ms"),
    );
    println!("ram:");
    for (k, v) in report_fields(config, o) {
        println!("  {k}: {v}");
    }
    println!(
        "destination RAM matches source: {}",
        if o.verified { "yes" } else { "NO" }
    );
}

/// Checks that the statistics add up; returns what does not. QEMU's invariants: the bytes
/// counted per phase are exactly the bytes sent (page data, zero-page entries, packet
/// headers, main-stream markers), each counted once, so they sum to at most `transferred`
/// (here exactly: every byte sent goes through the main stream or a multifd channel);
/// `transferred` is file + multifd + rdma; `normal-bytes` is whole pages.
fn consistency(config: &Config, o: &Outcome) -> Vec<String> {
    let s = &o.snapshot;
    let mut problems = Vec::new();
    let pages = s.normal_pages + s.zero_pages;
    let ops: u64 = o.counter_ops.iter().sum();
    let packets = ops - pages;
    let expected_multifd =
        s.normal_pages * PAGE_SIZE + s.zero_pages * ZERO_PAGE_ENTRY + packets * PACKET_HEADER;
    if s.multifd_bytes != expected_multifd {
        problems.push(format!(
            "multifd-bytes {} != pages and packets sent ({expected_multifd})",
            s.multifd_bytes
        ));
    }
    let sent = expected_multifd + packets * FILE_MARKER;
    let phases = s.precopy_bytes + s.downtime_bytes + s.postcopy_bytes;
    if phases != sent {
        problems.push(format!(
            "precopy + downtime + postcopy bytes {phases} != the bytes sent ({sent})"
        ));
    }
    if phases > s.transferred {
        problems.push(format!(
            "precopy + downtime + postcopy bytes {phases} > transferred {}",
            s.transferred
        ));
    }
    if s.transferred != s.multifd_bytes + s.qemu_file_transferred + s.rdma_bytes {
        problems.push("transferred != file + multifd + rdma bytes".into());
    }
    let report = report_fields(config, o);
    let normal_bytes: u64 = report
        .iter()
        .find(|(key, _)| *key == "normal-bytes")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(u64::MAX);
    if normal_bytes != s.normal_pages * PAGE_SIZE {
        problems.push(format!(
            "normal-bytes {normal_bytes} != normal pages × page size ({})",
            s.normal_pages * PAGE_SIZE
        ));
    }
    if !o.verified {
        problems.push("the destination RAM differs from the source".into());
    }
    problems
}

// ---- --compare: the counter operations alone ------------------------------------------------

/// Replays `ops[i]` per-page counter operations on thread `i`, with nothing else, and
/// returns the interval from the first thread's start to the last thread's end, as each
/// thread timed itself (the timing rule of the benchmarks' harness, `docs/performance.md`:
/// a clock on the main thread, started after a barrier, can start after most workers are
/// done). The start line spins, yielding, so that no thread starts late through a wake-up.
fn replay<S: Stats>(stats: &S, ops: &[u64]) -> Duration {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let arrived = AtomicUsize::new(0);
    let stamps: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = ops
            .iter()
            .map(|&n| {
                let arrived = &arrived;
                s.spawn(move || {
                    let counter = stats.sender();
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < ops.len() {
                        std::thread::yield_now();
                    }
                    let start = Instant::now();
                    for i in 0..n {
                        counter.page(i % 4 == 3, Phase::Precopy);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let first = stamps
        .iter()
        .map(|s| s.0)
        .min()
        .unwrap_or_else(Instant::now);
    let last = stamps.iter().map(|s| s.1).max().unwrap_or(first);
    last - first
}

/// The median of `times`.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs one quiet migration with `args` (the command line's flags) on fresh statistics, and
/// returns the final snapshot and what `consistency` found wrong. For
/// `tests/migration.rs`, which includes this file as a module.
#[allow(dead_code)]
pub(crate) fn run_and_check(args: &[&str]) -> (MigrationSnapshot, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let config = parse_args(&args).expect("valid flags");
    let stats = MigrationStats::new();
    let outcome = migrate(&config, &stats, true);
    let problems = consistency(&config, &outcome);
    (outcome.snapshot, problems)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(c) => c,
        Err(problem) => {
            eprintln!("migrate: {problem}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if !config.json {
        println!(
            "migrating {} MiB with {} channel(s), guest dirtying {} pages/s, {}",
            config.ram >> 20,
            config.channels,
            config.dirty_rate,
            if config.max_bandwidth == 0 {
                "unlimited bandwidth".to_string()
            } else {
                format!("max bandwidth {} MiB/s", config.max_bandwidth >> 20)
            }
        );
    }

    static STATS: MigrationStats = MigrationStats::new();
    let ours = migrate(&config, &STATS, false);
    let mut problems = consistency(&config, &ours);

    if config.json && !config.compare {
        println!("{}", report_json(&config, &ours, MigrationStats::NAME));
    } else if !config.json {
        report_text(&config, &ours, MigrationStats::NAME);
    }

    if config.compare {
        if !config.json {
            println!("\nthe same migration with one shared AtomicU64 per field (QEMU's design):");
        }
        let atomics = AtomicStats::default();
        let theirs = migrate(&config, &atomics, config.json);
        problems.extend(consistency(&config, &theirs));
        // Replay the run's per-thread counter operations, repeated to at least 20 M in all so
        // the timing is not lost in thread start-up; the median of 5 each, alternating.
        let run_ops: u64 = ours.counter_ops.iter().sum();
        let repeat = (20_000_000 / run_ops.max(1)).max(1);
        let ops: Vec<u64> = ours.counter_ops.iter().map(|n| n * repeat).collect();
        let ops = &ops;
        let (mut ours_times, mut theirs_times) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            ours_times.push(replay(&STATS, ops));
            theirs_times.push(replay(&atomics, ops));
        }
        let (replay_ours, replay_theirs) = (median(ours_times), median(theirs_times));
        let total_ops: u64 = ops.iter().sum();
        let rate = |d: Duration| total_ops as f64 / d.as_secs_f64() / 1e6;
        if config.json {
            println!(
                "{{\"shardstat\": {}, \"atomics\": {}, \"counter-replay\": {{\"operations\": {total_ops}, \
                 \"shardstat-ms\": {:.3}, \"atomics-ms\": {:.3}}}}}",
                report_json(&config, &ours, MigrationStats::NAME),
                report_json(&config, &theirs, AtomicStats::NAME),
                replay_ours.as_secs_f64() * 1e3,
                replay_theirs.as_secs_f64() * 1e3,
            );
        } else {
            println!(
                "total time: {} ms (shardstat: {} ms)  downtime: {} ms (shardstat: {} ms)",
                theirs.total.as_millis(),
                ours.total.as_millis(),
                theirs.downtime.as_millis(),
                ours.downtime.as_millis()
            );
            println!(
                "\ncounter cost: the run's {run_ops} counter operations (one per page and per packet), \
                 replayed {repeat}x alone on {} thread(s) (each thread timed by itself, the median \
                 of 5 runs):",
                ops.len()
            );
            println!(
                "  shardstat MigrationStats      {:>9.3} ms  {:>8.1} M ops/s",
                replay_ours.as_secs_f64() * 1e3,
                rate(replay_ours)
            );
            println!(
                "  one AtomicU64 per field       {:>9.3} ms  {:>8.1} M ops/s",
                replay_theirs.as_secs_f64() * 1e3,
                rate(replay_theirs)
            );
            println!(
                "  shardstat is {:.1}x faster at counting; the whole migration took {:+.1}% as long",
                replay_theirs.as_secs_f64() / replay_ours.as_secs_f64(),
                (ours.total.as_secs_f64() / theirs.total.as_secs_f64() - 1.0) * 100.0
            );
            if config.max_bandwidth != 0 {
                println!(
                    "  (with a bandwidth limit the total time is set by the limit; \
                     try --max-bandwidth 0 to see counting on the critical path)"
                );
            }
        }
    }

    if !problems.is_empty() {
        for p in &problems {
            eprintln!("migrate: INCONSISTENT: {p}");
        }
        std::process::exit(1);
    }
}
