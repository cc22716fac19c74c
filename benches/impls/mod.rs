//! Every way to count that the benchmarks compare, behind one interface, shared by
//! `benches/add.rs`, `examples/contention.rs` and `examples/instructions.rs` (which include
//! this file with `#[path]`). Each peer is configured as its own docs and benchmarks do.
//!
//! Each implementation runs its own add loop on each thread (`run`), so that a handle-based
//! one can find its shard once per thread, as its users would. Every loop adds
//! `black_box(1)`: the compiler must load, add and store the value on every iteration for
//! all of them alike (a `black_box` may touch memory), so no loop is folded into a register.
#![allow(dead_code)]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

shardstat::stats! {
    /// QEMU's counters, for the group-field benchmark.
    #[snapshot = QemuSnapshot]
    #[local = QemuLocal]
    pub struct QemuCounters {
        /// Pages sent whole.
        pub normal_pages: shardstat::Counter,
        /// Zero pages.
        pub zero_pages: shardstat::Counter,
        /// Multifd bytes.
        pub multifd_bytes: shardstat::Counter,
    }
}

/// One way to count.
pub trait Impl: Sync {
    /// The label in tables and charts.
    fn name(&self) -> &'static str;
    /// Adds 1, `n` times, on the calling thread.
    fn run(&self, n: u64);
    /// The total, to check nothing was lost.
    fn total(&self) -> u64;
    /// Whether every thread writes one shared line or lock (the harness's sanity check only
    /// reports such cases: oversubscription can really speed them up).
    fn shared(&self) -> bool {
        false
    }
}

/// Defines `$ty`, a newtype over one `$inner` made by `Default`, as an [`Impl`] labelled
/// `$name`: its loop runs `$add` `n` times with `$c` bound to the inner value, `$total` reads
/// its total, and `shared` marks it as one line or lock every thread writes. The doc comment
/// inside each use is the type's.
macro_rules! one_value {
    (
        $(#[$doc:meta])* $ty:ident($inner:ty), $name:literal,
        |$c:ident| add: $add:expr,
        total: $total:expr $(, $shared:ident)?
    ) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $ty($inner);
        impl Impl for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn run(&self, n: u64) {
                let $c = &self.0;
                for _ in 0..n {
                    $add;
                }
            }
            fn total(&self) -> u64 {
                let $c = &self.0;
                $total
            }
            $(
                fn $shared(&self) -> bool {
                    true
                }
            )?
        }
    };
}

one_value! {
    /// One shared `AtomicU64`, `fetch_add` (QEMU, metrics-util, prometheus-client).
    SharedAtomic(AtomicU64), "AtomicU64::fetch_add",
    |c| add: c.fetch_add(black_box(1), Ordering::Relaxed),
    total: c.load(Ordering::Relaxed),
    shared
}

one_value! {
    /// A `Mutex<u64>`.
    Locked(Mutex<u64>), "Mutex<u64>",
    |c| add: *c.lock().unwrap() += black_box(1),
    total: *c.lock().unwrap(),
    shared
}

/// Java's `LongAdder` in miniature: padded cells, a per-thread probe, a CAS per add, and a
/// new probe after a failed CAS (Striped64's rehash). Cells: as many as Striped64 grows to,
/// the number of CPUs rounded up to a power of two. Each thread's first probe is its own
/// pseudo-random number (Striped64 takes it from `ThreadLocalRandom`): a thread counter
/// through SplitMix64.
pub struct StripedCas {
    cells: Vec<crossbeam_utils::CachePadded<AtomicU64>>,
}
impl Default for StripedCas {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        StripedCas {
            cells: (0..cores.next_power_of_two())
                .map(|_| Default::default())
                .collect(),
        }
    }
}
thread_local!(static PROBE: Cell<u64> = const { Cell::new(0) });
static PROBE_SEEDS: AtomicU64 = AtomicU64::new(0);
/// SplitMix64's finaliser: a different, well-mixed probe for each seed.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
impl Impl for StripedCas {
    fn name(&self) -> &'static str {
        "striped CAS (LongAdder)"
    }
    fn run(&self, n: u64) {
        let mask = self.cells.len() as u64 - 1;
        let mut probe = PROBE.with(|p| {
            if p.get() == 0 {
                p.set(splitmix64(PROBE_SEEDS.fetch_add(1, Ordering::Relaxed)) | 1);
            }
            p.get()
        });
        for _ in 0..n {
            loop {
                let cell = &self.cells[(probe & mask) as usize];
                let old = cell.load(Ordering::Relaxed);
                if cell
                    .compare_exchange_weak(
                        old,
                        old + black_box(1),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    break;
                }
                probe ^= probe << 13;
                probe ^= probe >> 7;
                probe ^= probe << 17;
            }
        }
        PROBE.with(|p| p.set(probe));
    }
    fn total(&self) -> u64 {
        self.cells.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

one_value! {
    /// hytra's `TrAdder`: `thread_local::ThreadLocal` of padded atomics, load + store.
    Hytra(hytra::TrAdder<u64>), "hytra TrAdder",
    |c| add: c.inc(black_box(1)),
    total: c.get()
}

/// fast-counter's `ConcurrentCounter`: a process-wide thread number modulo the cell count,
/// `fetch_add` on a padded cell. Made with `ConcurrentCounter::new(threads)` for the run's
/// thread count (rounded up to a power of two), as fast-counter's own benchmark does.
pub struct FastCounter(fast_counter::ConcurrentCounter);
impl FastCounter {
    /// A counter with a cell per thread of the run.
    pub fn new(threads: usize) -> Self {
        FastCounter(fast_counter::ConcurrentCounter::new(threads))
    }
}
impl Impl for FastCounter {
    fn name(&self) -> &'static str {
        "fast-counter"
    }
    fn run(&self, n: u64) {
        for _ in 0..n {
            self.0.add(black_box(1));
        }
    }
    fn total(&self) -> u64 {
        self.0.sum() as u64
    }
}

one_value! {
    /// contatori's `Monotone`: 128 fixed padded slots in 0.7 (`NUM_COMPONENTS`; its docs still
    /// say 64), `fetch_add` on the slot of the thread's number modulo 128.
    Contatori(contatori::counters::monotone::Monotone), "contatori Monotone",
    |c| add: c.add(black_box(1)),
    total: {
        use contatori::counters::{CounterValue, Observable};
        match c.value() {
            CounterValue::Unsigned(v) => v,
            other => panic!("unexpected {other:?}"),
        }
    }
}

one_value! {
    /// shardstat `Counter::add`: the shard lookup on every add.
    ShardCounter(shardstat::Counter), "shardstat Counter::add",
    |c| add: c.add(black_box(1)),
    total: c.get()
}

one_value! {
    /// shardstat `LazyCounter::add`: a compare-and-swap of the counter's word until one fails,
    /// then the shard lookup as `Counter::add` (made afresh for each thread count, so each
    /// column starts cold: at 1 thread it stays one word; with more, the first collision
    /// shards it).
    ShardLazy(shardstat::LazyCounter), "shardstat LazyCounter::add",
    |c| add: c.add(black_box(1)),
    total: c.get()
}

one_value! {
    /// shardstat `percpu::Counter::add`: the CPU's shard found through the kernel's concurrency
    /// ID, the add in a restartable sequence (per-thread shards where rseq is unavailable).
    ShardPerCpu(shardstat::percpu::Counter), "shardstat percpu::Counter::add",
    |c| add: c.add(black_box(1)),
    total: c.get()
}

one_value! {
    /// shardstat `ApproxCounter::add`: `Counter::add` plus the carry test, and two atomic adds on
    /// the shared carried words once per 1024 adds.
    ShardApprox(shardstat::ApproxCounter<1024>), "shardstat ApproxCounter::add",
    |c| add: c.add(black_box(1)),
    total: c.get()
}

/// A limit far above what the benchmarks add (2^62): every limited add takes the lock-free
/// path.
pub const FAR_LIMIT: u64 = 1 << 62;

one_value! {
    /// shardstat `ApproxCounter::limited_add` far from the limit.
    ShardLimited(shardstat::ApproxCounter<1024>), "shardstat ApproxCounter::limited_add",
    |c| add: assert!(c.limited_add(black_box(1), FAR_LIMIT)),
    total: c.get()
}

one_value! {
    /// One shared `AtomicU64` with a limit: `fetch_update` that refuses past it (the usual
    /// quota counter).
    SharedLimited(AtomicU64), "AtomicU64::fetch_update (limit)",
    |c| add: {
        let add = black_box(1);
        let added = c
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                v.checked_add(add).filter(|&next| next <= FAR_LIMIT)
            })
            .is_ok();
        assert!(added);
    }, total: c.load(Ordering::Relaxed),
    shared
}

/// shardstat `LocalCounter::add`: the shard found once per thread.
#[derive(Default)]
pub struct ShardLocal(shardstat::Counter);
impl Impl for ShardLocal {
    fn name(&self) -> &'static str {
        "shardstat LocalCounter::add"
    }
    fn run(&self, n: u64) {
        let local = self.0.local();
        for _ in 0..n {
            local.add(black_box(1));
        }
    }
    fn total(&self) -> u64 {
        self.0.get()
    }
}

one_value! {
    /// A field of a shardstat group, through the group's accessor (lookup on every add).
    ShardGroupField(QemuCounters), "shardstat group field add",
    |c| add: c.normal_pages().add(black_box(1)),
    total: c.normal_pages().get()
}

thread_local!(static PLAIN: Cell<u64> = const { Cell::new(0) });

/// A plain thread-local `Cell<u64>` add that the compiler keeps in a register for the whole
/// loop (one add per iteration, nothing stored): the compute limit, which no counter that
/// others can read at any time reaches.
#[derive(Default)]
pub struct PlainTlsRegister(AtomicU64);
impl Impl for PlainTlsRegister {
    fn name(&self) -> &'static str {
        "thread-local Cell, in a register"
    }
    fn run(&self, n: u64) {
        PLAIN.with(|c| {
            for _ in 0..n {
                c.set(c.get() + black_box(1));
            }
            self.0.fetch_add(c.replace(0), Ordering::Relaxed);
        });
    }
    fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A plain thread-local `Cell<u64>` add that goes to memory on every iteration (the
/// cell's address passes through `black_box`, so the compiler must load and store it):
/// the limit for a counter whose value lives in memory, as any readable counter's must.
#[derive(Default)]
pub struct PlainTlsMemory(AtomicU64);
impl Impl for PlainTlsMemory {
    fn name(&self) -> &'static str {
        "thread-local Cell, in memory"
    }
    fn run(&self, n: u64) {
        PLAIN.with(|c| {
            for _ in 0..n {
                let c = black_box(c);
                c.set(c.get() + black_box(1));
            }
            self.0.fetch_add(c.replace(0), Ordering::Relaxed);
        });
    }
    fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How many counters the "many counters" benchmarks add to in turn: QEMU's migration
/// statistics have 15 fields.
pub const MANY: usize = 15;

/// Adds 1 to each of `counters` in turn until `n` adds are made (whole rounds, then a
/// partial one), through `add`.
#[inline(always)]
fn round_robin<C>(counters: &[C], n: u64, add: impl Fn(&C)) {
    let rounds = n / counters.len() as u64;
    for _ in 0..rounds {
        for c in counters {
            add(c);
        }
    }
    for c in &counters[..(n % counters.len() as u64) as usize] {
        add(c);
    }
}

/// 15 shardstat `Counter`s, each its own value, one add to each in turn (`Counter::add`:
/// the lookup on every add).
pub struct ShardMany(Vec<shardstat::Counter>);
impl Default for ShardMany {
    fn default() -> Self {
        ShardMany((0..MANY).map(|_| shardstat::Counter::new()).collect())
    }
}
impl Impl for ShardMany {
    fn name(&self) -> &'static str {
        "shardstat 15 Counters"
    }
    fn run(&self, n: u64) {
        round_robin(&self.0, n, |c| c.add(black_box(1)));
    }
    fn total(&self) -> u64 {
        self.0.iter().map(|c| c.get()).sum()
    }
}

/// 15 hytra `TrAdder`s, one add to each in turn.
pub struct HytraMany(Vec<hytra::TrAdder<u64>>);
impl Default for HytraMany {
    fn default() -> Self {
        HytraMany((0..MANY).map(|_| hytra::TrAdder::new()).collect())
    }
}
impl Impl for HytraMany {
    fn name(&self) -> &'static str {
        "hytra 15 TrAdders"
    }
    fn run(&self, n: u64) {
        round_robin(&self.0, n, |c| c.inc(black_box(1)));
    }
    fn total(&self) -> u64 {
        self.0.iter().map(|c| c.get()).sum()
    }
}

/// 15 `AtomicU64`s side by side, `fetch_add` (QEMU's `mig_stats`: fields that share lines).
pub struct AtomicMany(Vec<AtomicU64>);
impl Default for AtomicMany {
    fn default() -> Self {
        AtomicMany((0..MANY).map(|_| AtomicU64::new(0)).collect())
    }
}
impl Impl for AtomicMany {
    fn name(&self) -> &'static str {
        "15 AtomicU64s, fetch_add"
    }
    fn shared(&self) -> bool {
        true
    }
    fn run(&self, n: u64) {
        round_robin(&self.0, n, |c| {
            c.fetch_add(black_box(1), Ordering::Relaxed);
        });
    }
    fn total(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// 15 plain thread-local `Cell`s in one array, each in memory: the limit.
#[derive(Default)]
pub struct PlainTlsMany(AtomicU64);
thread_local!(static PLAIN_MANY: [Cell<u64>; MANY] = const { [const { Cell::new(0) }; MANY] });
impl Impl for PlainTlsMany {
    fn name(&self) -> &'static str {
        "15 thread-local Cells, in memory"
    }
    fn run(&self, n: u64) {
        PLAIN_MANY.with(|cells| {
            round_robin(cells, n, |c| {
                let c = black_box(c);
                c.set(c.get() + black_box(1));
            });
            let sum = cells.iter().map(|c| c.replace(0)).sum::<u64>();
            self.0.fetch_add(sum, Ordering::Relaxed);
        });
    }
    fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The "many counters" implementations: one thread adds to 15 different counters in turn.
pub fn many() -> Vec<Box<dyn Impl>> {
    vec![
        Box::<AtomicMany>::default(),
        Box::<HytraMany>::default(),
        Box::<ShardMany>::default(),
        Box::<PlainTlsMany>::default(),
    ]
}

/// The approximate counter against `Counter::add` and a shared atomic with a limit: the
/// goals of the approximate counters, measured in one run.
pub fn limits() -> Vec<Box<dyn Impl>> {
    vec![
        Box::<ShardCounter>::default(),
        Box::<ShardApprox>::default(),
        Box::<ShardLimited>::default(),
        Box::<SharedLimited>::default(),
    ]
}

/// The per-CPU comparison: the shared atomic, per-thread and per-CPU shards.
pub fn per_cpu() -> Vec<Box<dyn Impl>> {
    vec![
        Box::<SharedAtomic>::default(),
        Box::<ShardCounter>::default(),
        Box::<ShardPerCpu>::default(),
    ]
}

/// Every implementation, freshly made for a run on `threads` threads, in table order.
pub fn all(threads: usize) -> Vec<Box<dyn Impl>> {
    vec![
        Box::<SharedAtomic>::default(),
        Box::<Locked>::default(),
        Box::<StripedCas>::default(),
        Box::new(FastCounter::new(threads)),
        Box::<Contatori>::default(),
        Box::<Hytra>::default(),
        Box::<ShardCounter>::default(),
        Box::<ShardLazy>::default(),
        Box::<ShardPerCpu>::default(),
        Box::<ShardGroupField>::default(),
        Box::<ShardLocal>::default(),
        Box::<PlainTlsMemory>::default(),
        Box::<PlainTlsRegister>::default(),
    ]
}

/// Thread counts to measure: 1, 2, … up to the cores, then 2× and 4× oversubscribed.
pub fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts: Vec<usize> = (0..)
        .map(|k| 1usize << k)
        .take_while(|&t| t < cores)
        .collect();
    counts.extend([cores, 2 * cores, 4 * cores]);
    counts.dedup();
    counts
}

/// The harness's cases for `impls`: each runs the implementation's own loop, and its total is
/// checked against the adds the harness ran.
pub fn cases(impls: &[Box<dyn Impl>]) -> Vec<super::harness::Case<'_>> {
    impls
        .iter()
        .map(|imp| {
            super::harness::Case::new(imp.name(), move |_, n| imp.run(n))
                .with_total(move || imp.total())
                .shared(imp.shared())
        })
        .collect()
}

/// Measures the implementations `make(threads)` gives (fresh for each thread count) at every
/// count in `counts`, as one table of M adds/s: the harness's columns, in order.
pub fn table(
    cfg: &super::harness::Config,
    group: &str,
    counts: &[usize],
    make: impl Fn(usize) -> Vec<Box<dyn Impl>>,
) -> super::harness::Table {
    let mut table = super::harness::Table::new(group, "M adds/s");
    for &threads in counts {
        let imps = make(threads);
        table.measure(cfg, threads, &cases(&imps));
    }
    table
}
