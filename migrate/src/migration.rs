//! The migration: the sender threads, the 100 ms update, the passes, and the final stop.

use super::*;

pub(super) enum Job {
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
pub(super) fn run_sender<S: Stats>(
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

pub(super) struct Outcome {
    pub(super) snapshot: MigrationSnapshot,
    pub(super) total: Duration,
    pub(super) downtime: Duration,
    pub(super) setup: Duration,
    /// `None` when no update measured a bandwidth (nothing sent in any 100 ms interval).
    pub(super) expected_downtime_ms: Option<f64>,
    pub(super) passes: u32,
    pub(super) converged: bool,
    pub(super) mbps: f64,
    pub(super) pages_per_second: f64,
    pub(super) guest_dirtied: u64,
    pub(super) verified: bool,
    pub(super) counter_ops: Vec<u64>,
    /// Each packet's send time, ns.
    pub(super) send_time: HistogramSnapshot,
    /// Each pass's expected downtime (the dirty bytes left over the bandwidth), µs.
    pub(super) downtime_estimates: HistogramSnapshot,
}

/// Pages dirtied per second, over periods of at least a second (or the whole run, if
/// shorter).
pub(super) struct DirtyRate {
    pub(super) since: Instant,
    pub(super) pages: u64,
    pub(super) per_second: u64,
}

impl DirtyRate {
    pub(super) fn add(&mut self, pages: u64, last: bool) -> u64 {
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
pub(super) fn hand_over(channel: &SyncSender<Job>, mut job: Job, mut tick: impl FnMut()) {
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
pub(super) fn expected_downtime(dirty_bytes: u64, last: &RateSample) -> Option<f64> {
    let bandwidth = last.bandwidth_bytes_per_ms;
    (bandwidth > 0.0).then(|| dirty_bytes as f64 / bandwidth)
}

/// The migration thread's clock: the 100 ms update, and the progress line.
pub(super) struct Clock {
    pub(super) tracker: Tracker,
    pub(super) timer: UpdateTimer,
    pub(super) last: RateSample,
    pub(super) progress: Progress,
}

impl Clock {
    /// Runs the 100 ms update if it is due.
    pub(super) fn tick<S: Stats>(&mut self, stats: &S, pass: u32, done: f64) {
        if !self.timer.due(Instant::now()) {
            return;
        }
        self.last = stats.update(&mut self.tracker);
        let dirty_mb = stats.snapshot().dirty_bytes_last_sync as f64 / 1e6;
        self.progress.show(pass, done, &self.last, dirty_mb);
    }
}

/// Prints progress on stderr: a redrawn bar on a terminal, a line a second otherwise.
pub(super) struct Progress {
    pub(super) tty: bool,
    pub(super) last_line: Instant,
    pub(super) quiet: bool,
}

impl Progress {
    pub(super) fn show(&mut self, pass: u32, done: f64, s: &RateSample, dirty_mb: f64) {
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
    pub(super) fn finish(&self) {
        if self.tty && !self.quiet {
            eprintln!();
        }
    }
}

/// The migration thread's side of a running migration: its channels to the sender
/// threads, the next channel in turn, and its clock. `migrate` drives it pass after pass.
struct Migration<'a, S: Stats> {
    stats: &'a S,
    senders: Vec<SyncSender<Job>>,
    next_channel: usize,
    clock: Clock,
}

impl<S: Stats> Migration<'_, S> {
    /// Queues every page set in `bitmap` (clearing it), then waits until all are sent.
    /// Pass `MAX_PASSES + 1` is the stop-and-copy.
    fn send_bitmap(&mut self, bitmap: &mut [u64], pass: u32, dirty: u64) {
        let phase = if pass > MAX_PASSES {
            Phase::Downtime
        } else {
            Phase::Precopy
        };
        let mut sent = 0u64;
        let mut packet = Vec::with_capacity(PACKET_PAGES);
        for (w, word) in bitmap.iter_mut().enumerate() {
            while *word != 0 {
                let bit = word.trailing_zeros() as usize;
                *word &= *word - 1;
                packet.push((w * 64 + bit) as u32);
                sent += 1;
                if packet.len() == PACKET_PAGES {
                    let done = sent as f64 / dirty.max(1) as f64;
                    self.queue(std::mem::take(&mut packet), phase, pass, done);
                }
            }
        }
        if !packet.is_empty() {
            let done = sent as f64 / dirty.max(1) as f64;
            self.queue(packet, phase, pass, done);
        }
        self.sync_channels(pass);
    }

    /// Hands `packet` to the next channel in turn, running the 100 ms update while it waits.
    /// The bytes are counted where they are sent: the senders count pages and headers, this
    /// thread its marker on the main stream.
    fn queue(&mut self, packet: Vec<u32>, phase: Phase, pass: u32, done: f64) {
        self.stats.file_bytes(FILE_MARKER, phase); // the main stream's per-packet marker
        let channel = &self.senders[self.next_channel % self.senders.len()];
        let (clock, stats) = (&mut self.clock, self.stats);
        hand_over(channel, Job::Packet(packet, phase), || {
            clock.tick(stats, pass, done)
        });
        self.next_channel += 1;
    }

    /// QEMU's multifd sync: waits until every channel has sent what it was given.
    fn sync_channels(&mut self, pass: u32) {
        let (clock, stats) = (&mut self.clock, self.stats);
        for tx in &self.senders {
            let (done_tx, done_rx) = sync_channel(1);
            hand_over(tx, Job::Flush(done_tx), || clock.tick(stats, pass, 1.0));
            while done_rx.recv_timeout(Duration::from_millis(1)).is_err() {
                clock.tick(stats, pass, 1.0);
            }
        }
    }
}

/// Migrates a guest of `config.ram` bytes while it dirties pages: passes until the expected
/// downtime is within the limit (or `MAX_PASSES`), then the stop-and-copy; checks that the
/// destination holds the source's memory.
pub(super) fn migrate<S: Stats>(config: &Config, stats: &S, quiet: bool) -> Outcome {
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
        let clock = Clock {
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
        let mut migration = Migration {
            stats,
            senders,
            next_channel: 0,
            clock,
        };
        let mut pass = 0;
        let mut dirty_pages = pages as u64;
        let mut converged = false;
        // QEMU's dirty-pages-rate: pages dirtied per second, measured over at least 1 s.
        let mut rate = DirtyRate {
            since: Instant::now(),
            pages: 0,
            per_second: 0,
        };

        while pass < MAX_PASSES {
            pass += 1;
            migration.send_bitmap(&mut bitmap, pass, dirty_pages);
            // Bitmap sync: what the guest dirtied meanwhile is the next pass.
            let logged;
            (logged, dirty_pages) = log.sync(&mut bitmap);
            stats.dirty_sync(dirty_pages * PAGE_SIZE, rate.add(logged, false));
            // No bandwidth measured yet: the downtime is unknown, and not within the limit.
            let expected = expected_downtime(dirty_pages * PAGE_SIZE, &migration.clock.last);
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
        let expected_downtime_ms = expected_downtime(
            stats.snapshot().dirty_bytes_last_sync,
            &migration.clock.last,
        );
        let downtime_start = Instant::now();
        guest_stop.store(true, Relaxed);
        let guest_dirtied = guest.join().expect("guest panicked");
        let (logged, final_dirty) = log.sync(&mut bitmap);
        stats.dirty_sync(final_dirty * PAGE_SIZE, rate.add(logged, true));
        stats.rate_limit_off();
        migration.send_bitmap(&mut bitmap, MAX_PASSES + 1, final_dirty);
        let downtime = downtime_start.elapsed();
        let Migration { clock, senders, .. } = migration;
        drop(senders); // closes the channels: the sender threads return
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
