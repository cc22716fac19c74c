//! Counters sharded per **CPU**, not per thread: memory and reads bounded by the CPUs a
//! process runs on, however many threads it has.
//!
//! [`Counter`], [`UpDownCounter`], [`Max`] and [`Min`] here have the same API and the same
//! semantics as the crate's per-thread types, but their shards belong to CPUs. On x86-64
//! Linux with glibc 2.35 or later (which registers a restartable-sequence area for every
//! thread), a write finds the shard of the CPU it runs on through the kernel's *concurrency
//! ID* (`mm_cid`, Linux 6.3+: unique among the process's running threads, and below
//! min(threads, CPUs the process may use)) or, on older kernels, the CPU number, and
//! commits its one store inside a **restartable sequence**: if the thread is preempted,
//! migrated or signalled between finding its shard and the store, the kernel restarts it.
//! No locked instruction, and at most one shard per CPU: a server with 2,000 threads on 64
//! CPUs holds 64 shards of each counter, not 2,000, and [`Counter::get`] reads 64 cells.
//!
//! # When to choose per-CPU, when per-thread
//! - **Per-CPU** when threads outnumber CPUs (thread pools, thread-per-connection servers,
//!   oversubscribed containers), when counters are read often (a read walks CPUs, not
//!   threads), or when memory per counter matters: 8 bytes per CPU used.
//! - **Per-thread** (`shardstat::Counter`) when there are about as many busy threads as
//!   CPUs and adds dominate: its add is a plain load and store with no index lookup (12
//!   instructions against about 40; at 2 threads on the development machine 775 M adds/s,
//!   where the per-CPU add ran at 470 or 803 from one run to the next,
//!   `docs/performance.md`); it
//!   has `local()` handles and `stats!` groups, which per-CPU counters cannot have (a
//!   handle cannot pin a CPU, and a group's `update` step writes several cells while a
//!   restartable sequence commits one store).
//!
//! # Where restartable sequences are unavailable
//! [`mode`] says what this process uses, decided once. Without rseq — another OS or
//! architecture, glibc before 2.35 or another C library, `GLIBC_TUNABLES=glibc.pthread.rseq=0`,
//! valgrind, Miri, loom — the per-CPU types keep one shard per *thread* instead, written
//! like the per-thread types' (a plain load and store by the one owner): every result is
//! the same, only memory and reads follow threads again.
//!
//! ```
//! use shardstat::percpu::{self, Counter};
//!
//! static REQUESTS: Counter = Counter::new();
//!
//! std::thread::scope(|s| {
//!     for _ in 0..16 {
//!         s.spawn(|| {
//!             for _ in 0..1000 {
//!                 REQUESTS.inc();
//!             }
//!         });
//!     }
//! });
//! assert_eq!(REQUESTS.get(), 16_000);
//! if let percpu::Mode::PerThread { reason } = percpu::mode() {
//!     println!("per-thread shards: {reason}");
//! } // else at most one shard per CPU this process may use
//! ```
//!
//! # Signal handlers
//! A per-CPU add or record commits in a restartable sequence, which a signal aborts and
//! restarts: a handler may count into the very counter its thread was adding to, and nothing
//! is lost or counted twice. But the **first** write on each CPU creates that CPU's cells,
//! under the engine's mutex and with the allocator, and a handler that writes while its own
//! thread is inside such a first write (or inside `malloc`) would deadlock. Which write is a
//! CPU's first depends on migrations the program cannot see, so the rule is:
//!
//! **A signal handler may write a per-CPU counter whose `reserve_all_cpus()`
//! ([`Counter::reserve_all_cpus`], and the same method of the other types) returned
//! `true`**, called before the handler was installed:
//! its cells then exist on every CPU, and no write to it locks or allocates
//! (`tests/signals.rs` raises the signal inside the engine's own allocations).
//! `reserve_all_cpus` returns `false` where restartable sequences do not run ([`mode`] is
//! `PerThread`): there, as with the per-thread types, a handler must not write a counter at
//! all — its plain load and store can interleave with the interrupted thread's write to the
//! same shard (a lost count), and a thread's first write takes a lock. Reads, `set` and
//! `reset` are never async-signal-safe (they wait for a concurrent `set`/`reset`, which may
//! be the interrupted thread's).
//!
//! # Threads without a registered rseq area
//! glibc registers an area for every thread it starts, and [`mode`] is decided once. A thread
//! whose area is not registered although the process's are (other code unregistered it, or
//! its registration failed, as under a per-thread seccomp filter) is detected on its every
//! write — its `cpu_id` reads −1 or −2 — and writes one extra shard, shared by all such
//! threads one at a time under a lock: exact, but not signal-safe
//! (`tests/unregistered.rs`).
//!
//! A per-CPU counter cannot be a field of a `stats!` group:
//!
//! ```compile_fail,E0277
//! // error[E0277]: `shardstat::percpu::GenericCounter<u64>` cannot be a field of a `stats!` group
//! shardstat::stats! {
//!     #[snapshot = S]
//!     #[local = L]
//!     pub struct G {
//!         pub requests: shardstat::percpu::Counter,
//!     }
//! }
//! ```

use crate::counter::CounterValue;
use crate::engine::{cpu_engine, offset_of, shard, PerCpu};
use crate::extremum::{Direction, Largest, Smallest};
use crate::sharded::{add_owned, record_best, Sharded};
use crate::sync::{self, rseq, AtomicU64, Ordering};
use std::fmt;
use std::marker::PhantomData;

/// Which shards this process's per-CPU counters use: from [`mode`].
///
/// ```
/// let mode = shardstat::percpu::mode();
/// assert_eq!(mode, shardstat::percpu::mode(), "decided once per process");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// One shard per concurrency ID (`mm_cid`, Linux 6.3+): at most min(threads, CPUs the
    /// process may use) shards.
    ///
    /// ```
    /// # use shardstat::percpu::Mode;
    /// assert_ne!(Mode::ConcurrencyId, Mode::CpuId);
    /// ```
    ConcurrencyId,
    /// One shard per CPU number (kernels before 6.3): at most as many shards as the machine
    /// has CPUs.
    ///
    /// ```
    /// # use shardstat::percpu::Mode;
    /// assert_eq!(format!("{:?}", Mode::CpuId), "CpuId");
    /// ```
    CpuId,
    /// No restartable sequences: one shard per thread, as the per-thread types.
    ///
    /// ```
    /// # use shardstat::percpu::Mode;
    /// let m = Mode::PerThread { reason: "Miri and loom cannot run restartable sequences" };
    /// assert!(matches!(m, Mode::PerThread { .. }));
    /// ```
    PerThread {
        /// Why restartable sequences are not used.
        reason: &'static str,
    },
}

/// Which shards per-CPU counters use in this process (probed once, at the first call or
/// the first per-CPU write, whichever comes first).
///
/// ```
/// use shardstat::percpu::{mode, Mode};
/// if cfg!(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu", not(miri)))
///     && std::env::var("GLIBC_TUNABLES").map_or(true, |t| !t.contains("rseq=0"))
/// {
///     assert!(matches!(mode(), Mode::ConcurrencyId | Mode::CpuId), "{:?}", mode());
/// }
/// ```
pub fn mode() -> Mode {
    match rseq::index_kind() {
        Ok(rseq::Index::ConcurrencyId) => Mode::ConcurrencyId,
        Ok(rseq::Index::CpuId) => Mode::CpuId,
        Err(reason) => Mode::PerThread { reason },
    }
}

/// How many per-CPU writes have restarted so far in this process: the kernel aborted the
/// write's restartable sequence (its thread was preempted, migrated or signalled inside
/// it), or the thread had moved to another CPU between finding its shard and writing it
/// (or its rseq area was not registered: see the module docs). A restart costs a retry,
/// never a count. Always 0 without restartable sequences.
///
/// ```
/// let before = shardstat::percpu::restarts();
/// shardstat::percpu::Counter::new().inc();
/// assert!(shardstat::percpu::restarts() >= before);
/// ```
pub fn restarts() -> u64 {
    rseq::restarts()
}

/// The per-CPU engine's shard of writer `index`: shard `index + 1` belongs to CPU (or
/// concurrency ID) `index` where restartable sequences run, and to the thread of shard index
/// `index` where they do not. Shard 0 ([`LOCKED_SHARD`]) is the lock's.
#[inline(always)]
fn shard_of(index: usize) -> usize {
    index + 1
}

/// The shard written by threads whose rseq area is not registered (while the process uses
/// restartable sequences): one at a time, under the engine's `unregistered` lock, each as
/// its owner ([`write_unregistered`]). No section ever writes it.
const LOCKED_SHARD: usize = 0;

/// Runs `write` on the first cell of the run at `location` in [`LOCKED_SHARD`]'s copy,
/// holding the lock that makes the calling thread that shard's one writer.
///
/// For a thread whose rseq area is not registered although the process's is (other code
/// unregistered it, or registration failed on this thread only): its `cpu_id` reads −1 or
/// −2 and its `mm_cid` 0, so neither names a shard it may write without a section the
/// kernel protects. Not async-signal-safe (it takes a lock); correct, and rare.
#[cold]
#[inline(never)]
fn write_unregistered<R>(location: u64, write: impl FnOnce(*const AtomicU64) -> R) -> R {
    let engine = cpu_engine();
    let _one_writer = engine.lock_unregistered();
    write(engine.first_cell_of(location, LOCKED_SHARD))
}

/// Adds `n` to cell `i` of the calling CPU's copy of `cells`' run: one attempt inline, the
/// rest (the first use, a restart, no rseq, an unregistered thread) out of line.
#[inline(always)]
fn add<const N: usize>(cells: &Sharded<N, PerCpu>, i: usize, n: u64) {
    let location = cells.location();
    if let Some(rseq) = rseq::get_probed() {
        // On a thread whose area is not registered this is −1 (finds no copy) or 0 (which
        // the section refuses): either way the slow path, which tells.
        let index = rseq.index();
        let start = cpu_engine().existing_chunk_start(location, shard_of(index));
        if !start.is_null() {
            let first = start.wrapping_add(offset_of(location));
            // SAFETY: cell `i` of the run in shard `index + 1`'s copy of its chunk is a live
            // `AtomicU64` (copies live as long as the engine, the run as long as `cells`);
            // that shard is written only by sections that check their index is `index`
            // (here and in `record`), and readers only load.
            if unsafe { rseq.add(first.wrapping_add(i), n, index) } {
                return;
            }
            rseq::count_restart();
        }
    }
    add_slow(location, i, n);
}

/// `add` after its first attempt: probes rseq, creates the CPU's copy, restarts; without
/// rseq, the thread's own shard, as the per-thread types; on a thread whose rseq area is
/// not registered, the locked shard.
#[cold]
#[inline(never)]
fn add_slow(location: u64, i: usize, n: u64) {
    let engine = cpu_engine();
    let Some(rseq) = rseq::get() else {
        let cell = engine
            .first_cell_of(location, shard_of(shard::index()))
            .wrapping_add(i);
        // SAFETY: cell `i` of the run in the copy of the thread's own shard, a live
        // `AtomicU64`; only the thread that holds the index writes it (`shard::index`).
        return add_owned(unsafe { &*cell }, n);
    };
    loop {
        let index = rseq.index_checked();
        if !rseq::registered(index) {
            return write_unregistered(location, |first| {
                // SAFETY: cell `i` of the run in the locked shard's copy, a live `AtomicU64`
                // that only holders of the lock write.
                add_owned(unsafe { &*first.wrapping_add(i) }, n);
            });
        }
        let cell = engine
            .first_cell_of(location, shard_of(index))
            .wrapping_add(i);
        // SAFETY: as in `add`.
        if unsafe { rseq.add(cell, n, index) } {
            return;
        }
        rseq::count_restart();
    }
}

/// Creates the copies of the chunk that holds `cells`' run for every shard a registered
/// writer can have, so that no later write to it takes a lock or allocates; whether writes
/// are now async-signal-safe (only where restartable sequences run).
fn reserve_all_cpus<const N: usize>(cells: &Sharded<N, PerCpu>) -> bool {
    let location = cells.location();
    if rseq::get().is_none() {
        return false;
    }
    for index in 0..rseq::possible_indices() {
        cpu_engine().first_cell_of(location, shard_of(index));
    }
    true
}

/// Records `v` (encoded: larger is better) into the extremum pair at cells 0 and 1 of the
/// calling CPU's copy.
///
/// A restartable sequence commits one store, and a new epoch needs two (the value, then
/// the epoch that makes readers count it). So the record is a small protocol of
/// one-store sections, each of which commits only if the pair still holds what the record
/// read (`Rseq::store_if`); `docs/design.md` §13 has the argument:
/// - the shard's epoch is the record's: store the value if larger; done;
/// - the shard's epoch is newer (a reset the record's epoch read missed): the record
///   happened before that reset; done;
/// - older, and the value is `v`: store the epoch (publishing `v`); done;
/// - older, value not `v`: store `v` as the value, then go round (to publish it).
#[inline(always)]
fn record(cells: &Sharded<2, PerCpu>, v: u64) {
    let location = cells.location();
    let Some(rseq) = rseq::get() else {
        return record_per_thread(cells.global(0), location, v);
    };
    let engine = cpu_engine();
    loop {
        // Relaxed, as in `record_best`: only decides which epoch `v` belongs to.
        let current = cells.global(0).load(Ordering::Relaxed);
        let index = rseq.index_checked();
        if !rseq::registered(index) {
            return write_unregistered(location, |epoch| {
                // SAFETY: the pair in the locked shard's copy: live `AtomicU64`s that only
                // holders of the lock write.
                let (epoch, value) = unsafe { (&*epoch, &*epoch.wrapping_add(1)) };
                record_best(cells.global(0), epoch, value, v);
            });
        }
        let epoch = engine.first_cell_of(location, shard_of(index));
        let value = epoch.wrapping_add(1);
        // SAFETY: both are cells of the run in shard `index + 1`'s copy, live `AtomicU64`s.
        let (e, val) = unsafe { (&*epoch, &*value) };
        // Relaxed: the section below compares them again before it commits.
        let (e, val) = (e.load(Ordering::Relaxed), val.load(Ordering::Relaxed));
        let (target, stored) = if e == current {
            if v <= val {
                return;
            }
            (value, v)
        } else if (e.wrapping_sub(current) as i64) > 0 {
            return;
        } else if val == v {
            (epoch, current)
        } else {
            (value, v)
        };
        // SAFETY: the cells are live and written only by sections on their shard's index,
        // as in `add`.
        let committed = unsafe { rseq.store_if(index, epoch, e, value, val, target, stored) };
        if !committed {
            rseq::count_restart();
        } else if target == epoch || e == current {
            return;
        }
        // Committed the value of a new epoch: go round to publish it.
    }
}

/// `record` without restartable sequences: the thread's own shard, as the per-thread types.
#[inline(never)]
fn record_per_thread(global_epoch: &AtomicU64, location: u64, v: u64) {
    let epoch = cpu_engine().first_cell_of(location, shard_of(shard::index()));
    // SAFETY: the pair in the copy of the thread's own shard index: live `AtomicU64`s that
    // only this thread writes (`shard::index`).
    let (epoch, value) = unsafe { (&*epoch, &*epoch.wrapping_add(1)) };
    record_best(global_epoch, epoch, value, v);
}

/// A monotone 64-bit counter sharded per CPU: [`crate::Counter`]'s API and semantics, with
/// memory and reads bounded by CPUs (module docs). Its methods are [`GenericCounter`]'s (this
/// is `GenericCounter<u64>`).
///
/// Semantics (each tested, in both modes): exact at rest; nothing lost or counted twice —
/// under contention, preemption, migration and thread exit, and, where restartable sequences
/// run, signal handlers writing the counter their thread was writing (see [Signal
/// handlers](crate::percpu#signal-handlers) for when a handler may write); monotone reads; exact,
/// race-free `set`/`reset` (a concurrent add counts wholly after the set or not at all);
/// no locked instruction on the add path where restartable sequences run; a new counter
/// starts at 0 even on a dropped one's cells.
///
/// # Memory
/// 8 bytes per CPU (concurrency ID) that has added, or per thread without restartable
/// sequences. The `Counter` itself is 24 bytes.
///
/// ```
/// use shardstat::percpu::Counter;
///
/// static PAGES_SENT: Counter = Counter::new();
/// std::thread::scope(|s| {
///     for _ in 0..64 {
///         s.spawn(|| PAGES_SENT.add(10));
///     }
/// });
/// assert_eq!(PAGES_SENT.get(), 640);
/// ```
pub type Counter = GenericCounter<u64>;

/// A signed 64-bit counter sharded per CPU: [`crate::UpDownCounter`]'s API and semantics,
/// with memory and reads bounded by CPUs (module docs). In-flight requests, open
/// connections, bytes queued. Its methods are [`GenericCounter`]'s (this is
/// `GenericCounter<i64>`, so `add` takes an `i64`), and [`sub`](GenericCounter::sub) and
/// [`dec`](GenericCounter::dec).
///
/// ```
/// use shardstat::percpu::UpDownCounter;
///
/// static IN_FLIGHT: UpDownCounter = UpDownCounter::new();
/// std::thread::scope(|s| {
///     for _ in 0..8 {
///         s.spawn(|| {
///             IN_FLIGHT.inc();
///             IN_FLIGHT.dec();
///         });
///     }
/// });
/// assert_eq!(IN_FLIGHT.get(), 0);
/// ```
pub type UpDownCounter = GenericCounter<i64>;

/// An exact counter sharded per CPU, counting in `V`: use it as [`Counter`] (`u64`) or
/// [`UpDownCounter`] (`i64`). The per-CPU twin of [`crate::GenericCounter`], kept a type of
/// its own because its cells live in the per-CPU engine and it has no group field or local
/// handle (a restartable sequence commits one store; module docs).
///
/// ```
/// let c = shardstat::percpu::Counter::new();
/// c.add(2);
/// assert_eq!(c.get(), 2);
/// ```
pub struct GenericCounter<V: CounterValue> {
    cells: Sharded<1, PerCpu>,
    _value: PhantomData<V>,
}

impl<V: CounterValue> GenericCounter<V> {
    sync::const_fn! {
        /// A counter at 0. `const`, so a counter can be a `static`.
        ///
        /// ```
        /// static REQUESTS: shardstat::percpu::Counter = shardstat::percpu::Counter::new();
        /// assert_eq!(REQUESTS.get(), 0);
        /// ```
        pub fn new() -> Self {
            GenericCounter {
                cells: Sharded::new(),
                _value: PhantomData,
            }
        }
    }

    /// Adds `n` (negative `n` subtracts, on an [`UpDownCounter`]), wrapping: one restartable
    /// sequence on the calling CPU's cell.
    ///
    /// ```
    /// let bytes = shardstat::percpu::Counter::new();
    /// bytes.add(4096);
    /// bytes.add(512);
    /// assert_eq!(bytes.get(), 4608);
    ///
    /// let queued = shardstat::percpu::UpDownCounter::new();
    /// queued.add(5);
    /// queued.add(-7);
    /// assert_eq!(queued.get(), -2);
    /// ```
    #[inline]
    pub fn add(&self, n: V) {
        add(&self.cells, 0, n.to_cell());
    }

    /// Adds 1.
    ///
    /// ```
    /// let syncs = shardstat::percpu::Counter::new();
    /// syncs.inc();
    /// assert_eq!(syncs.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(V::ONE);
    }

    /// The sum of every add since the last `set`/`reset`, wrapping: one cell per CPU that
    /// has added. Adds that happened-before the call are all included.
    ///
    /// ```
    /// let c = shardstat::percpu::Counter::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| c.add(2));
    ///     s.spawn(|| c.add(3));
    /// });
    /// assert_eq!(c.get(), 5);
    /// ```
    pub fn get(&self) -> V {
        V::from_cell(self.cells.sum(0))
    }

    /// Makes the counter read `value`, exactly, even while other threads add: each
    /// concurrent add is counted on top of `value` or not at all. Never writes a shard.
    ///
    /// ```
    /// let c = shardstat::percpu::Counter::new();
    /// c.add(10);
    /// c.set(100);
    /// c.add(1);
    /// assert_eq!(c.get(), 101);
    /// ```
    pub fn set(&self, value: V) {
        self.cells.set(0, value.to_cell());
    }

    /// Sets the counter to 0 (exactly as `set(0)`).
    ///
    /// ```
    /// let c = shardstat::percpu::Counter::new();
    /// c.add(7);
    /// c.reset();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn reset(&self) {
        self.set(V::ZERO);
    }

    /// Returns the value and leaves the counter at 0, as one step: every add is counted in
    /// exactly one take or in a later read, whatever runs concurrently — adds on any CPU,
    /// restarted or not, in signal handlers, in the per-thread fallback (see
    /// [`shardstat::Counter::take`](crate::GenericCounter::take)). Never writes a shard.
    ///
    /// ```
    /// let c = shardstat::percpu::Counter::new();
    /// c.add(7);
    /// assert_eq!(c.take(), 7);
    /// c.inc();
    /// assert_eq!((c.take(), c.get()), (1, 0));
    /// ```
    pub fn take(&self) -> V {
        V::from_cell(self.cells.take_sum(0))
    }

    /// Creates this counter's cells on every CPU the kernel may ever bring up, so that no
    /// later [`add`](GenericCounter::add) on any CPU takes a lock or allocates; returns
    /// whether adds are now **async-signal-safe** (see [Signal
    /// handlers](crate::percpu#signal-handlers)).
    ///
    /// An add normally creates its CPU's cells the first time it runs there, under the
    /// engine's mutex and with the allocator: a signal handler that adds while its thread is
    /// inside that first add (or inside `malloc`) would deadlock. Call this once, before
    /// installing the handler. Costs 8 bytes per possible CPU for this counter and the
    /// per-CPU counters near it (up to a few KiB per CPU). `false`, and nothing reserved,
    /// where restartable sequences do not run: there the shards are threads', which cannot
    /// be created in advance.
    ///
    /// ```
    /// static SIGNALS_SEEN: shardstat::percpu::Counter = shardstat::percpu::Counter::new();
    ///
    /// if SIGNALS_SEEN.reserve_all_cpus() {
    ///     // a signal handler may now call SIGNALS_SEEN.inc()
    ///     let cpus = std::thread::available_parallelism().unwrap().get();
    ///     assert!(SIGNALS_SEEN.shards() >= cpus, "a shard for every CPU, written or not");
    /// }
    /// SIGNALS_SEEN.inc();
    /// assert_eq!(SIGNALS_SEEN.get(), 1);
    /// ```
    pub fn reserve_all_cpus(&self) -> bool {
        reserve_all_cpus(&self.cells)
    }

    /// How many shards hold this counter's cells (and those of the per-CPU counters near
    /// it): at most one per CPU the process has run on (plus one if a thread without a
    /// registered rseq area wrote), or one per thread without restartable sequences. What
    /// [`get`](GenericCounter::get) reads. One load.
    ///
    /// ```
    /// let c = shardstat::percpu::Counter::new();
    /// assert_eq!(c.shards(), 0, "no add yet");
    /// c.inc();
    /// assert!(c.shards() >= 1);
    /// ```
    pub fn shards(&self) -> usize {
        self.cells.shard_bound()
    }
}

impl UpDownCounter {
    /// Subtracts `n`, wrapping. [`UpDownCounter`] only.
    ///
    /// ```
    /// let c = shardstat::percpu::UpDownCounter::new();
    /// c.sub(3);
    /// assert_eq!(c.get(), -3);
    /// ```
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Subtracts 1. [`UpDownCounter`] only.
    ///
    /// ```
    /// let c = shardstat::percpu::UpDownCounter::new();
    /// c.dec();
    /// assert_eq!(c.get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }
}

impl<V: CounterValue> Default for GenericCounter<V> {
    /// A counter at 0.
    fn default() -> Self {
        Self::new()
    }
}

impl<V: CounterValue> fmt::Debug for GenericCounter<V> {
    /// Shows the current value: `Counter { value: 42 }`, `UpDownCounter { value: -3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(V::NAMES[0])
            .field("value", &self.get())
            .finish()
    }
}

/// The largest value recorded since the last reset, sharded per CPU: [`crate::Max`]'s API
/// and semantics (an O(1) race-free reset), with memory and reads bounded by CPUs.
///
/// ```
/// use shardstat::percpu::Max;
///
/// static LONGEST_STALL_US: Max = Max::new();
/// std::thread::scope(|s| {
///     s.spawn(|| LONGEST_STALL_US.record(120));
///     s.spawn(|| LONGEST_STALL_US.record(80));
/// });
/// assert_eq!(LONGEST_STALL_US.get(), 120);
/// LONGEST_STALL_US.reset();
/// assert_eq!(LONGEST_STALL_US.get(), 0);
/// ```
pub type Max = Extremum<Largest>;

/// The smallest value recorded since the last reset (`u64::MAX` if none), sharded per CPU:
/// [`crate::Min`]'s API and semantics.
///
/// ```
/// use shardstat::percpu::Min;
///
/// let fastest_ns = Min::new();
/// assert_eq!(fastest_ns.get(), u64::MAX, "nothing recorded");
/// fastest_ns.record(300);
/// fastest_ns.record(120);
/// assert_eq!(fastest_ns.get(), 120);
/// ```
pub type Min = Extremum<Smallest>;

/// [`Max`] and [`Min`]: the extreme value recorded in direction `D`, sharded per CPU.
///
/// ```
/// let m: shardstat::percpu::Extremum<shardstat::Largest> = shardstat::percpu::Max::new();
/// m.record(3);
/// assert_eq!(m.get(), 3);
/// ```
pub struct Extremum<D: Direction> {
    /// Cell 0: the shard's epoch; cell 1: its stored value (`D::encode`d). Global 0: the
    /// current epoch.
    cells: Sharded<2, PerCpu>,
    direction: PhantomData<D>,
}

impl<D: Direction> Extremum<D> {
    sync::const_fn! {
        /// Nothing recorded. `const`, so it can be a `static`.
        ///
        /// ```
        /// static WORST: shardstat::percpu::Max = shardstat::percpu::Max::new();
        /// assert_eq!(WORST.get(), 0);
        /// ```
        pub fn new() -> Self {
            Extremum {
                cells: Sharded::new(),
                direction: PhantomData,
            }
        }
    }

    /// Records `value`: a restartable sequence on the calling CPU's cells, which stores
    /// only if `value` is the new extreme of that shard.
    ///
    /// ```
    /// let m = shardstat::percpu::Max::new();
    /// m.record(5);
    /// m.record(2);
    /// assert_eq!(m.get(), 5);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        record(&self.cells, D::encode(value));
    }

    /// The extreme value recorded since the last reset: `0` for a `Max`, `u64::MAX` for a
    /// `Min` if nothing was recorded. Reads one pair of cells per CPU.
    ///
    /// ```
    /// let m = shardstat::percpu::Min::new();
    /// m.record(9);
    /// m.record(4);
    /// assert_eq!(m.get(), 4);
    /// ```
    pub fn get(&self) -> u64 {
        D::encode(self.cells.best(0))
    }

    /// Forgets every value recorded so far, in O(1): a new epoch. A record concurrent with
    /// the reset is kept or retired whole; none that returned before it shows after it.
    ///
    /// ```
    /// let m = shardstat::percpu::Max::new();
    /// m.record(7);
    /// m.reset();
    /// m.record(3);
    /// assert_eq!(m.get(), 3);
    /// ```
    pub fn reset(&self) {
        self.cells.new_epoch(0);
    }

    /// Creates this extremum's cells on every CPU, so that records never lock or allocate;
    /// whether they are now async-signal-safe (see [`Counter::reserve_all_cpus`]).
    ///
    /// ```
    /// static LONGEST_HANDLER_NS: shardstat::percpu::Max = shardstat::percpu::Max::new();
    /// let _signal_safe = LONGEST_HANDLER_NS.reserve_all_cpus();
    /// LONGEST_HANDLER_NS.record(350);
    /// assert_eq!(LONGEST_HANDLER_NS.get(), 350);
    /// ```
    pub fn reserve_all_cpus(&self) -> bool {
        reserve_all_cpus(&self.cells)
    }

    /// How many shards hold this extremum's cells (see [`Counter::shards`]).
    ///
    /// ```
    /// let m = shardstat::percpu::Max::new();
    /// m.record(1);
    /// assert!(m.shards() >= 1);
    /// ```
    pub fn shards(&self) -> usize {
        self.cells.shard_bound()
    }
}

impl<D: Direction> Default for Extremum<D> {
    /// Nothing recorded.
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Direction> fmt::Debug for Extremum<D> {
    /// Shows the current value: `Max { value: 42 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(D::NAME).field("value", &self.get()).finish()
    }
}

/// A plain load and store on the calling CPU's cell, *without* a restartable sequence: the
/// bug the stress test's negative control must catch (a thread preempted between its load
/// and its store overwrites the adds made meanwhile on that CPU). Falls back to a correct
/// per-thread add where restartable sequences are unavailable. Reached through
/// `__private::percpu`; not part of the API.
pub(crate) fn unrestartable_add(counter: &Counter, n: u64) {
    let location = counter.cells.location();
    match rseq::get() {
        Some(rseq) => {
            let cell = cpu_engine().first_cell_of(location, shard_of(rseq.index()));
            // SAFETY: a live cell of the run (as in `add`). The race is the point.
            add_owned(unsafe { &*cell }, n);
        }
        None => add_slow(location, 0, n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Miri this runs the per-thread fallback; natively, restartable sequences.
    #[test]
    fn adds_records_sets_and_resets_from_several_threads() {
        let (c, u, max, min) = (Counter::new(), UpDownCounter::new(), Max::new(), Min::new());
        std::thread::scope(|s| {
            for t in 1..=4u64 {
                let (c, u, max, min) = (&c, &u, &max, &min);
                s.spawn(move || {
                    for i in 0..10 {
                        c.add(t);
                        u.sub(t as i64);
                        max.record(t * 100 + i);
                        min.record(t * 100 + i);
                    }
                });
            }
        });
        assert_eq!((c.get(), u.get()), (100, -100));
        assert_eq!((max.get(), min.get()), (409, 100));
        assert!(c.shards() >= 1);
        c.set(7);
        u.reset();
        max.reset();
        min.reset();
        assert_eq!(
            (c.get(), u.get(), max.get(), min.get()),
            (7, 0, 0, u64::MAX)
        );
        c.inc();
        max.record(3);
        min.record(3);
        assert_eq!((c.get(), max.get(), min.get()), (8, 3, 3));
        assert_eq!(
            format!("{c:?} {max:?} {min:?}"),
            "Counter { value: 8 } Max { value: 3 } Min { value: 3 }"
        );
    }

    #[test]
    fn a_dropped_counters_cells_are_cleared_for_the_next() {
        let c = Counter::new();
        c.add(5);
        drop(c);
        let next = Counter::new();
        assert_eq!(next.get(), 0);
        next.inc();
        assert_eq!(next.get(), 1);
    }

    #[test]
    fn the_mode_says_why_it_falls_back() {
        match mode() {
            Mode::PerThread { reason } => assert!(!reason.is_empty()),
            Mode::ConcurrencyId | Mode::CpuId => assert!(rseq::get().is_some()),
        }
        if cfg!(miri) {
            assert_eq!(
                mode(),
                Mode::PerThread {
                    reason: "Miri cannot run restartable sequences"
                }
            );
        }
    }
}
