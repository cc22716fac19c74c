//! The engine: where every shard's cells live (`docs/design.md` §2–4).
//!
//! Each **shard** (one per live thread: [`shard`]) owns an **arena** of 8-byte **cells**.
//! Every counter, extremum and stat group is a **run** of consecutive cells at the same place
//! in every arena — Linux's per-CPU allocator and librseq's `rseq_mempool` lay memory out the
//! same way. An arena is written only by its owner, so the cells inside it need no padding
//! between them: 8 bytes per counter per shard, and a thread that updates 15 counters
//! touches two cache lines, not fifteen.
//!
//! - **Chunks.** An arena is made of chunks that never move: chunk `k` holds
//!   [`chunk_cells(k)`](chunk_cells) cells (256, four times, then doubling every four chunks;
//!   63 chunks, about 58 million cells). A shard's copy of a chunk is carved, zeroed, from
//!   the engine's [`heap`] the first time its owner writes a run in that chunk, and lives as
//!   long as the engine (the process). Readers find shard `s`'s copy of chunk `k` in
//!   `copies[k + 1]`, a [`CopyTable`]: walking one counter's shards is one flat loop reading 8
//!   bytes of pointer and one cell per shard.
//! - **Runs** come from one allocator for all arenas ([`runs`]): first fit, lowest address
//!   first, so live counters stay packed in the first chunks. A run is assigned the first
//!   time its counter is used (a `const fn new()` counter has none before, and one never
//!   used never takes any); its location is one word in the counter.
//! - **Reuse.** Dropping a counter *clears* its run in every shard's arena, then returns it
//!   to the allocator. A counter created later at the same place therefore reads 0 in every
//!   shard. Clearing is the one time a thread writes cells of arenas it does not own; it is
//!   safe because a dropped counter has no writer left (every write to it happened-before
//!   the drop), and the next counter's first write is ordered after the clearing by the
//!   engine's mutex and the `Release`/`Acquire` pair on the location word.
//! - **The add path** ([`own_cached`]) is: load the counter's location word, load the
//!   thread's cached start of that chunk from thread-local storage, test it, add the offset.
//!   The location word's low bits name a cache slot; slot 0 is always null, so a counter
//!   with no run yet and a thread that has not looked the chunk up take the same branch to
//!   the slow path ([`own_slow`]).

mod heap;
mod runs;
pub(crate) mod shard;
mod table;

use heap::Heap;
pub(crate) use runs::Run;
use runs::Runs;
use shard::ShardIds;
use table::CopyTable;

use crate::sync::{self, fence, lock, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};

/// How many chunks an arena can have. Under loom, 3 small chunks keep models small and
/// still let a model grow an arena.
pub(crate) const CHUNKS: usize = if sync::MODEL { 3 } else { 63 };
const FIRST_CHUNK_CELLS: usize = if sync::MODEL { 4 } else { 256 };
const CHUNKS_PER_DOUBLING: usize = if sync::MODEL { 1 } else { 4 };

/// How many cells chunk `chunk` holds: 256 (2 KiB) for the first four chunks, doubling
/// every four chunks after.
pub(crate) const fn chunk_cells(chunk: usize) -> usize {
    FIRST_CHUNK_CELLS << (chunk / CHUNKS_PER_DOUBLING)
}

/// Slots in the thread cache: one per chunk, plus the always-null slot 0.
pub(crate) const CACHE_SLOTS: usize = 64;
const _: () = assert!(CHUNKS < CACHE_SLOTS);

/// A run's location, packed in one word: the cache slot (`chunk + 1`) in the low 6 bits,
/// the offset of the run's first cell inside the chunk above them. 0 means "no run yet".
/// (Slot low, offset high: the add path splits the word with one `and` and one shift.)
const SLOT_BITS: u32 = 6;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const _: () = assert!(CACHE_SLOTS == 1 << SLOT_BITS);

/// A run's location word (in every counter, group and histogram page): `usize`-wide. A
/// location fits in 32 bits (6 bits of cache slot, at most 23 of offset: the largest chunk
/// holds 2^23 cells), so on targets without 64-bit atomics the add path's first load is one
/// plain 32-bit atomic load, not a split word's checked read (`docs/design.md` §15); where
/// `usize` is 64 bits it is the same load as an `AtomicU64`'s.
#[repr(transparent)]
pub(crate) struct LocationWord(AtomicUsize);

const _: () = assert!(
    (chunk_cells(CHUNKS - 1) as u64) << SLOT_BITS | SLOT_MASK <= u32::MAX as u64,
    "a location must fit in 32 bits"
);

impl LocationWord {
    sync::const_fn! {
        /// No run yet.
        pub(crate) fn new() -> Self {
            LocationWord(AtomicUsize::new(0))
        }
    }

    /// The location (0: no run yet).
    #[inline(always)]
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.0.load(order) as u64
    }

    /// Sets the location (a packed run, below 2^32).
    #[inline(always)]
    pub(crate) fn store(&self, location: u64, order: Ordering) {
        self.0.store(location as usize, order);
    }

    /// The location, through a unique reference.
    pub(crate) fn get_mut(&mut self) -> u64 {
        sync::usize_get_mut(&mut self.0) as u64
    }
}

fn pack(run: Run) -> u64 {
    ((run.offset as u64) << SLOT_BITS) | (run.chunk as u64 + 1)
}

fn unpack(location: u64, len: usize) -> Run {
    debug_assert_ne!(location, 0);
    Run {
        chunk: chunk_of_slot(slot_of(location)),
        offset: offset_of(location),
        len,
    }
}

/// The thread-cache slot of a location (`< 64` by construction).
#[inline(always)]
fn slot_of(location: u64) -> usize {
    (location & SLOT_MASK) as usize
}

/// The offset of a location's run inside its chunk, in cells.
#[inline(always)]
pub(crate) fn offset_of(location: u64) -> usize {
    (location >> SLOT_BITS) as usize
}

fn chunk_of_slot(slot: usize) -> usize {
    slot - 1
}

/// Every arena, and the books: which cells are free, which shard indices are taken.
pub(crate) struct Engine {
    /// `copies[k + 1]`: each shard's copy of chunk `k` (none until the shard's owner first
    /// writes a run in chunk `k`). Indexed by cache slot (chunk + 1; `copies[0]` stays
    /// empty), so that a location's table is `copies[location & 63]`, with no bounds check.
    /// Set under the registry's mutex, read without a lock.
    copies: [CopyTable; CACHE_SLOTS],
    /// The allocator, the shard indices and the memory. Taken once per counter (its first use
    /// and its drop), once per thread (its first write and its exit) and once per chunk a
    /// thread first writes in; never on the add path.
    pub(crate) registry: Mutex<Registry>,
    /// Held by a thread whose rseq area is not registered while it writes the per-CPU
    /// engine's locked shard (`crate::percpu`); unused in the per-thread engine.
    pub(crate) unregistered: Mutex<()>,
}

/// What the engine's mutex guards.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) runs: Runs,
    pub(crate) shards: ShardIds,
    heap: Heap,
}

sync::global! {
    static ENGINE: Engine = Engine::new();
    pub(crate) fn engine();
    fn engine_handle();
}

sync::global! {
    static CPU_ENGINE: Engine = Engine::new();
    pub(crate) fn cpu_engine();
}

/// `fork(2)` in a multi-threaded process copies only the forking thread: a mutex another
/// thread held at that moment stays held in the child forever. So every engine mutex is
/// taken before the fork (in the forking thread, waiting for any holder to finish) and
/// released after it in both processes, as glibc does for `malloc`'s locks. The child then
/// creates counters, threads and copies as any process does.
///
/// The handlers are installed when this object is loaded (`sync::at_load!`), while one
/// thread runs: installing them at the first lock instead left a window in which a fork
/// copied a half-done installation (a `Once` in progress) into the child, which then waited
/// for it forever (2 of 60 runs of `tests/fork.rs`).
mod fork {
    use super::{cpu_engine, engine, Registry};
    use crate::sync::{self, MutexGuard};
    use std::cell::RefCell;

    /// The engines' mutexes, held from `prepare` to `parent`/`child`, in the order every
    /// thread nests them (the per-CPU engine's locked shard before its registry).
    struct Held {
        _cpu_unregistered: MutexGuard<'static, ()>,
        _cpu: MutexGuard<'static, Registry>,
        _threads: MutexGuard<'static, Registry>,
    }

    sync::per_thread! {
        static HELD: RefCell<Option<Held>> = RefCell::new(None);
    }

    sync::at_load!(install);

    extern "C" fn install() {
        sync::install_fork_handlers(prepare, release, release);
    }

    extern "C" fn prepare() {
        let held = Held {
            _cpu_unregistered: sync::lock(&cpu_engine().unregistered),
            _cpu: sync::lock(&cpu_engine().registry),
            _threads: sync::lock(&engine().registry),
        };
        HELD.with(|current| *current.borrow_mut() = Some(held));
    }

    /// After the fork, in the parent and in the child (whose one thread is the forking one).
    extern "C" fn release() {
        HELD.with(|current| drop(current.borrow_mut().take()));
    }
}

/// Whose shards a run's copies are: a thread's ([`PerThread`], every type but the
/// `percpu` ones) or a CPU's ([`PerCpu`]). Each kind has its own engine — its own arenas,
/// run allocator and copy tables — so a per-CPU counter's shard index is never a thread's.
/// Sealed.
pub trait Shards: sealed::Sealed + Send + Sync + 'static {
    /// Whether the shards are the per-CPU engine's.
    const PER_CPU: bool;
}

/// Shards per thread: the default engine.
#[derive(Debug)]
pub enum PerThread {}

/// Shards per CPU (per concurrency ID): the `percpu` engine (`crate::percpu`).
#[derive(Debug)]
pub enum PerCpu {}

impl Shards for PerThread {
    const PER_CPU: bool = false;
}

impl Shards for PerCpu {
    const PER_CPU: bool = true;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::PerThread {}
    impl Sealed for super::PerCpu {}
}

/// The engine that holds `S`'s shards.
#[inline(always)]
pub(crate) fn engine_of<S: Shards>() -> &'static Engine {
    if S::PER_CPU {
        cpu_engine()
    } else {
        engine()
    }
}

impl Engine {
    sync::const_fn! {
        fn new() -> Self {
            Engine {
                copies: sync::repeat![CopyTable::new(); CACHE_SLOTS],
                registry: Mutex::new(Registry {
                    runs: Runs::new(),
                    shards: ShardIds::new(),
                    heap: Heap::new(),
                }),
                unregistered: Mutex::new(()),
            }
        }
    }

    /// The engine's mutex, taken.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// The lock of the locked shard (`crate::percpu`), taken.
    pub(crate) fn lock_unregistered(&self) -> MutexGuard<'_, ()> {
        lock(&self.unregistered)
    }

    /// The location of a run of `len` cells for the counter whose location word is
    /// `location`: its run if another thread assigned one meanwhile, else a new one.
    #[cold]
    #[inline(never)]
    pub(crate) fn assign(&self, location: &LocationWord, len: usize) -> u64 {
        let mut registry = self.lock();
        // Relaxed: assignments happen under this mutex, which orders them for us.
        let current = location.load(Ordering::Relaxed);
        if current != 0 {
            return current;
        }
        let packed = pack(registry.runs.allocate(len));
        // Release: publishes, with the location, everything that happened-before this
        // allocation under the mutex — in particular the clearing of a reused run by the
        // thread that dropped its previous counter. Writers and readers load the location
        // with Acquire.
        location.store(packed, Ordering::Release);
        packed
    }

    /// Shard `shard`'s copy of chunk `chunk`, created (zeroed) if it has none. Called only
    /// by the thread that owns `shard`.
    pub(crate) fn chunk_copy(&self, chunk: usize, shard: usize) -> *const AtomicU64 {
        let mut registry = self.lock();
        let table = &self.copies[chunk + 1];
        if let Some(existing) = table.get(shard) {
            // An earlier owner of this shard made it; its exit happened-before our taking the
            // index (the mutex), so its cells are visible here.
            return existing;
        }
        let fresh = registry.heap.carve(chunk_cells(chunk), shard);
        table.set(shard, fresh, &mut registry.heap);
        // SeqCst fence: the store-buffering half of the limited add's argument. This thread
        // raised the copy count and will later load an approximate counter's carried word;
        // a limited add elsewhere raises a carried word, runs the same fence and loads the
        // count. With both fences, at least one of them sees the other's store: either the
        // limited add counts this shard in its error bound, or this shard's later checks see
        // that add's carry (`docs/design.md` §10). Once per shard per chunk.
        fence(Ordering::SeqCst);
        fresh
    }

    /// The first cell of the run at `location` (not 0) in shard `shard`'s copy of its chunk,
    /// creating the copy if the shard has none: how per-CPU writers, which change shards
    /// as they move between CPUs, find their cells on every write.
    #[inline(always)]
    pub(crate) fn first_cell_of(&self, location: u64, shard: usize) -> *const AtomicU64 {
        let mut start = self.existing_chunk_start(location, shard);
        if start.is_null() {
            start = self.new_copy(chunk_of_slot(slot_of(location)), shard);
        }
        // `wrapping_add` keeps this safe; the run's offset is inside the chunk.
        start.wrapping_add(offset_of(location))
    }

    /// The start (first cell) of shard `shard`'s copy of the chunk of the run at `location` (not 0), or
    /// null if the shard has no copy yet. The run's first cell is [`offset_of`]`(location)`
    /// cells further.
    #[inline(always)]
    pub(crate) fn existing_chunk_start(&self, location: u64, shard: usize) -> *const AtomicU64 {
        self.copies[slot_of(location)].entry(shard).cast_const()
    }

    #[cold]
    #[inline(never)]
    fn new_copy(&self, chunk: usize, shard: usize) -> *const AtomicU64 {
        self.chunk_copy(chunk, shard)
    }

    /// Calls `f` with the first cell of the run at `location` in every shard that has a copy
    /// of its chunk, in shard-index order. Nothing for location 0 (no run yet).
    #[inline]
    pub(crate) fn for_each_copy(&self, location: u64, mut f: impl FnMut(*const AtomicU64)) {
        if location == 0 {
            return;
        }
        let offset = offset_of(location);
        self.copies[slot_of(location)].for_each(|start| {
            // `wrapping_add` keeps this safe; the run's offset is inside the chunk (the
            // allocator's invariant), so the result is in bounds.
            f(start.cast_const().wrapping_add(offset));
        });
    }

    /// Calls `f` with each shard index that has a copy of the chunk of the run at `location`,
    /// and the run's first cell in that copy, in shard-index order. Nothing for location 0.
    /// (For a reader that must find the same shard's copies of other runs: see
    /// [`existing_chunk_start`](Self::existing_chunk_start).)
    #[inline]
    pub(crate) fn for_each_shard(&self, location: u64, mut f: impl FnMut(usize, *const AtomicU64)) {
        if location == 0 {
            return;
        }
        let offset = offset_of(location);
        self.copies[slot_of(location)].for_each_indexed(|shard, start| {
            // `wrapping_add` keeps this safe; the run's offset is inside the chunk.
            f(shard, start.cast_const().wrapping_add(offset));
        });
    }

    /// Clears the run in every arena and returns it to the allocator.
    ///
    /// The caller guarantees that nothing writes or reads the run any more: every write to
    /// it happened-before this call (the counter is being dropped).
    pub(crate) fn free(&self, location: u64, len: usize) {
        self.for_each_copy(location, |first| {
            for i in 0..len {
                // SAFETY: `first` is the first of `len` cells of the run inside a live chunk
                // copy (see `for_each_copy`); chunk copies live as long as the engine.
                let cell = unsafe { &*first.add(i) };
                // Relaxed: nothing reads or writes the run now; the next counter to get it
                // is ordered after these stores by the mutex below and the Release store
                // of its location (`assign`).
                cell.store(0, Ordering::Relaxed);
            }
        });
        self.lock().runs.release(unpack(location, len));
    }

    /// An upper bound of the shards that may have written the run at `location`: the shards
    /// with a copy of its chunk. One relaxed load.
    #[inline]
    pub(crate) fn shard_bound(&self, location: u64) -> usize {
        if location == 0 {
            return 0;
        }
        self.copies[slot_of(location)].count()
    }

    /// The engine's memory invariants, checked under its mutex: every shard's copy of every
    /// chunk lies inside one of the heap's blocks, and no two copies overlap.
    fn check(&self) -> Result<(), String> {
        let registry = self.lock();
        let mut copies = Vec::new();
        for chunk in 0..CHUNKS {
            let cells = chunk_cells(chunk);
            let mut outside = None;
            self.copies[chunk + 1].for_each_indexed(|shard, copy| {
                if !registry.heap.contains(copy, cells) {
                    outside.get_or_insert(shard);
                }
                copies.push((copy as usize, cells * 8, chunk, shard));
            });
            if let Some(shard) = outside {
                return Err(format!(
                    "shard {shard}'s copy of chunk {chunk} ({cells} cells) is not inside a block"
                ));
            }
        }
        copies.sort_unstable();
        for pair in copies.windows(2) {
            let ((a, len, chunk_a, shard_a), (b, _, chunk_b, shard_b)) = (pair[0], pair[1]);
            if a + len > b {
                return Err(format!(
                    "shard {shard_a}'s copy of chunk {chunk_a} overlaps shard {shard_b}'s copy \
                     of chunk {chunk_b}"
                ));
            }
        }
        Ok(())
    }

    /// What the engine holds now.
    fn stats(&self) -> EngineStats {
        let (cells_in_use, live_shards) = {
            let registry = self.lock();
            (registry.runs.in_use(), registry.shards.live())
        };
        EngineStats {
            cells_in_use,
            live_shards,
            heap_bytes: self.heap_bytes(),
        }
    }

    /// The heap bytes the engine holds: the copies' blocks and the tables.
    fn heap_bytes(&self) -> usize {
        self.lock().heap.bytes()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Only loom builds drop the engine (one per model execution); a failing model
        // unwinds outside the model, where loom's atomics can no longer be used: leak.
        if sync::unwinding_model() {
            return;
        }
        let registry = self
            .registry
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: `&mut self`: no counter, reader or thread cache of this engine is in use
        // (loom drops the engine after every model thread has finished).
        unsafe { registry.heap.free_all() };
    }
}

/// What shardstat's engine holds, for watching its own memory: from [`engine_stats`].
///
/// ```
/// let pages = shardstat::Counter::new();
/// pages.inc(); // the first write takes a cell, and this thread a shard
/// let stats = shardstat::engine_stats();
/// assert!(stats.cells_in_use >= 1 && stats.live_shards >= 1);
/// assert!(stats.heap_bytes >= 2048, "at least this thread's first chunk");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Cells held by live counters: 8 bytes each in every arena whose chunk holds them.
    /// (A `Counter` holds 1, a `Max`/`Min` 2, a stat group one per sharded field plus 1.)
    /// Per-CPU counters ([`crate::percpu`]) included.
    pub cells_in_use: usize,
    /// Shards in use: threads that have written a counter and not exited yet.
    pub live_shards: usize,
    /// Heap bytes held by every arena's chunks and the engine's tables, per-CPU arenas
    /// included. Arenas are kept when their thread exits (the next thread reuses them), so
    /// this follows the peak number of threads alive at once (and of CPUs used).
    pub heap_bytes: usize,
}

/// What the engine holds now: cells in use, shards in use, heap bytes. Takes the engine's
/// mutex and walks its tables: for monitoring, not for hot paths.
///
/// ```
/// let before = shardstat::engine_stats().cells_in_use;
/// let c = shardstat::Counter::new();
/// c.inc();
/// assert_eq!(shardstat::engine_stats().cells_in_use, before + 1);
/// drop(c); // gives its cell back
/// assert_eq!(shardstat::engine_stats().cells_in_use, before);
/// ```
pub fn engine_stats() -> EngineStats {
    let (threads, cpus) = (engine().stats(), cpu_engine().stats());
    EngineStats {
        cells_in_use: threads.cells_in_use + cpus.cells_in_use,
        live_shards: threads.live_shards,
        heap_bytes: threads.heap_bytes + cpus.heap_bytes,
    }
}

/// Checks the memory invariants of both engines (per-thread and per-CPU): every shard's copy
/// of every chunk inside one heap block, no two copies overlapping. For the tests (the
/// engine's property test and the large-copy tests run it after every step); takes each
/// engine's mutex.
pub fn check() -> Result<(), String> {
    engine().check()?;
    cpu_engine().check()
}

/// The calling thread's copy of the run at `location`, if the thread has that chunk cached:
/// the whole lookup of the add path. `None` for location 0.
#[inline(always)]
pub(crate) fn own_cached(location: u64) -> Option<*const AtomicU64> {
    let start = shard::cached_chunk(slot_of(location));
    if start.is_null() {
        return None;
    }
    // `wrapping_add` keeps this safe; the cache holds only starts of live copies of chunk
    // `slot_of(location) − 1`, and the run's offset is inside that chunk, so the result is
    // in bounds.
    Some(start.wrapping_add(offset_of(location)))
}

/// The calling thread's copy of the run of `len` cells whose location word is `location`:
/// assigns the run if it has none, takes a shard if the thread has none, creates the
/// shard's copy of the chunk if it has none.
#[cold]
#[inline(never)]
pub(crate) fn own_slow(location: &LocationWord, len: usize) -> *const AtomicU64 {
    let engine = engine();
    // Acquire: as on the add path (the reused-run clearing must be visible).
    let mut packed = location.load(Ordering::Acquire);
    if packed == 0 {
        packed = engine.assign(location, len);
    }
    if let Some(first) = own_cached(packed) {
        return first;
    }
    shard::own_chunk(engine, slot_of(packed)).wrapping_add(offset_of(packed))
}

sync::model_only! {
    /// Returns a run to the allocator *without* clearing it: the bug the loom suite's
    /// reuse control must catch.
    pub fn release_without_clearing(location: u64, len: usize) {
        engine().lock().runs.release(unpack(location, len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_round_trips_and_names_its_cache_slot() {
        for (chunk, offset) in [(0, 0), (0, 255), (5, 17), (CHUNKS - 1, 1000)] {
            let run = Run {
                chunk,
                offset,
                len: 1,
            };
            let packed = pack(run);
            assert_ne!(packed, 0);
            assert_eq!(slot_of(packed), chunk + 1);
            assert_eq!(unpack(packed, 1), run);
        }
        assert_eq!(slot_of(0), 0, "no run: the always-null slot");
        assert!(own_cached(0).is_none());
    }
}
