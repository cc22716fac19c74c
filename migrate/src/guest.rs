//! The guest: its RAM, the dirty log, and the thread that dirties pages.

use super::*;

/// Guest RAM as atomics, so that the guest thread may write pages while senders read them
/// (as a running VM does) without a data race.
pub(super) struct Ram {
    pub(super) words: Vec<AtomicU64>,
}

impl Ram {
    pub(super) fn new(bytes: u64, fill: impl Fn(usize) -> u64) -> Ram {
        let n = (bytes / 8) as usize;
        Ram {
            words: (0..n).map(|i| AtomicU64::new(fill(i))).collect(),
        }
    }
    pub(super) fn pages(&self) -> usize {
        self.words.len() / WORDS_PER_PAGE
    }
    pub(super) fn page(&self, page: usize) -> &[AtomicU64] {
        &self.words[page * WORDS_PER_PAGE..(page + 1) * WORDS_PER_PAGE]
    }
}

/// A small, fast, seeded generator (xorshift64*), so runs are repeatable.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The initial guest RAM: a quarter of the pages zero, the rest patterned.
pub(super) fn initial_word(i: usize) -> u64 {
    let page = i / WORDS_PER_PAGE;
    if page % 4 == 3 {
        0
    } else {
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
    }
}

/// The guest's dirty log: one bit per page, set by the guest, taken by a sync.
pub(super) struct DirtyLog {
    pub(super) bits: Vec<AtomicU64>,
}

impl DirtyLog {
    pub(super) fn new(pages: usize) -> Self {
        DirtyLog {
            bits: (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    pub(super) fn mark(&self, page: usize) {
        self.bits[page / 64].fetch_or(1 << (page % 64), Relaxed);
    }
    /// Moves the log into `into` (QEMU's bitmap sync). Returns the pages the log held, and
    /// the pages now dirty in `into`.
    pub(super) fn sync(&self, into: &mut [u64]) -> (u64, u64) {
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
pub(super) fn run_guest(ram: &Ram, log: &DirtyLog, rate: u64, stop: &AtomicBool) -> u64 {
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
