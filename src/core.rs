//! The algorithm every counter type shares.
//!
//! A [`Core<N>`] is `N` 64-bit *slots* sharded per thread: each thread owns one
//! [`Block<N>`] (a sequence word and `N` cells, cache-line padded), and the core keeps one
//! *global* word per slot plus a `version` word. A standalone [`Counter`](crate::Counter) is
//! a `Core<1>`; a [`Max`](crate::Max) is a `Core<2>`; a stat group of eleven counters is a
//! `Core<11>` whose per-thread block is still one 128-byte line pair.
//!
//! Slots come in two kinds:
//! - a **sum** slot (counters): the value is `global + Σ cells` (wrapping). Only the owning
//!   thread writes its cell, with a plain load and store ([`add_owned`]). `set(v)` never
//!   touches a cell: it stores `global = v − Σ cells`, cancelling what the cells hold.
//! - an **extremum** pair (max/min): slot `i` holds an epoch, slot `i + 1` a value. The value
//!   is the largest cell value among shards whose epoch cell equals the global epoch; a reset
//!   bumps the global epoch, which retires every shard's old value at once. (Min stores `!v`,
//!   so that both start at 0 and share the code.)
//!
//! `set`/`reset` are serialised by making `version` odd for their duration (a seqlock:
//! [`Core::write_locked`]); readers ([`Core::read_stable`]) retry if `version` changed, so
//! a read sees a set either wholly or not at all. Group `update`s bracket their writes with
//! the block's own `seq` word, which snapshots and resets read with
//! [`Block::read_consistent`]. Writers never wait; readers and setters may retry.
//!
//! Every ordering used here is listed, with its reason, in `docs/design.md`.

use crate::shards::ShardTable;
use crate::sync::{current_thread, fence, wait_step, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// What a slot holds, for the whole-core operations ([`Core::snapshot`] and
/// [`Core::reset_all`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A wrapping sum: `global + Σ cells`.
    Sum,
    /// The epoch of the extremum whose value is in the next slot.
    Epoch,
    /// The value of the extremum whose epoch is in the previous slot.
    Value,
}

/// One thread's shard: a sequence word (odd while the owner is inside a group `update`) and
/// the cells. Only the owning thread writes any of it.
#[doc(hidden)]
pub struct Block<const N: usize> {
    seq: AtomicU64,
    cells: [AtomicU64; N],
}

impl<const N: usize> Default for Block<N> {
    fn default() -> Self {
        Block {
            seq: AtomicU64::new(0),
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const N: usize> Block<N> {
    /// The cell of `slot` in this shard.
    #[inline]
    pub(crate) fn cell(&self, slot: usize) -> &AtomicU64 {
        &self.cells[slot]
    }

    /// Runs `f` so that every write the owner makes to this block inside it becomes visible
    /// to [`Block::read_consistent`] all at once. Must be called by the block's owner.
    /// Nested calls join the outermost one. If `f` panics, the bracket is closed anyway
    /// (the writes made so far stay), so readers never wait forever.
    pub fn update<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Close<'a> {
            seq: &'a AtomicU64,
            even: u64,
        }
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                // Release: everything written inside the bracket happens-before a reader
                // that sees the even value.
                self.seq.store(self.even, Ordering::Release);
            }
        }

        // Only the owner writes `seq`, so a plain load sees its latest value.
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1 {
            return f(); // already inside an update on this thread
        }
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Release fence: a reader whose loads see any write made after this point, and that
        // then runs its acquire fence, also sees the odd `seq` and retries.
        fence(Ordering::Release);
        let _close = Close {
            seq: &self.seq,
            even: seq.wrapping_add(2),
        };
        f()
    }

    /// All cells, as of one moment between the owner's `update`s: never half of one.
    /// Waits while the owner is inside an `update`.
    #[inline]
    fn read_consistent(&self, core_owner: impl Fn(&Self) -> bool) -> [u64; N] {
        let mut step = 0;
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                // Acquire on each cell: an epoch cell must be read before its value cell
                // (see `record_best`).
                let cells = std::array::from_fn(|i| self.cells[i].load(Ordering::Acquire));
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return cells;
                }
            } else if core_owner(self) {
                panic!(
                    "shardstat: a group's snapshot() or reset() was called inside update() on \
                     the same thread; it would wait for that update to finish"
                );
            }
            wait_step(&mut step);
        }
    }
}

/// `N` slots sharded per thread, with exact race-free `set`/`reset`.
#[doc(hidden)]
pub struct Core<const N: usize> {
    shards: ShardTable<CachePadded<Block<N>>>,
    /// Even when no set/reset runs; odd while one does. Only changed under its own lock
    /// (the compare-and-swap in `write_locked`).
    version: AtomicU64,
    /// Per slot: the base of a sum slot, or the epoch of an extremum.
    globals: [AtomicU64; N],
}

impl<const N: usize> Core<N> {
    crate::const_fn! {
        /// An empty core: every slot reads 0 and no memory is allocated until a thread writes.
        pub fn new() -> Self {
            Core {
                shards: ShardTable::new(),
                version: AtomicU64::new(0),
                globals: new_atomics(),
            }
        }
    }

    /// The calling thread's shard, created on first use.
    #[inline]
    pub fn shard(&self) -> &Block<N> {
        self.shards.get(current_thread())
    }

    /// The global word of `slot`.
    #[inline]
    pub(crate) fn global(&self, slot: usize) -> &AtomicU64 {
        &self.globals[slot]
    }

    /// An upper bound of the number of shards that may hold writes: every slot of every
    /// bucket readers walk. One relaxed load.
    pub fn shard_capacity(&self) -> usize {
        self.shards.capacity()
    }

    /// How many shards are allocated.
    pub fn allocated_shards(&self) -> usize {
        self.shards.allocated()
    }

    /// Runs `read` until no set/reset overlapped it, and returns its result.
    #[inline]
    fn read_stable<R>(&self, read: impl Fn() -> R) -> R {
        let mut step = 0;
        loop {
            // Acquire: pairs with the Release that ends a set/reset, so `read` sees the
            // globals it wrote and shard values at least as new as the ones it counted.
            let before = self.version.load(Ordering::Acquire);
            if before & 1 == 0 {
                let result = read();
                // Acquire fence: if `read` saw any global written by a set/reset that began
                // after `before`, the version load below sees that set/reset's odd value.
                fence(Ordering::Acquire);
                if self.version.load(Ordering::Relaxed) == before {
                    return result;
                }
            }
            wait_step(&mut step);
        }
    }

    /// Runs `write` with `version` odd: one set/reset at a time, and readers retry around it.
    fn write_locked<R>(&self, write: impl FnOnce() -> R) -> R {
        struct Unlock<'a> {
            version: &'a AtomicU64,
            even: u64,
        }
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // Release: the globals written under the lock (and the shard values read to
                // compute them) happen-before any reader that sees this even version.
                self.version.store(self.even, Ordering::Release);
            }
        }

        let mut step = 0;
        let odd = loop {
            let current = self.version.load(Ordering::Relaxed);
            if current & 1 == 0 {
                // Acquire: the previous set/reset's writes happen-before ours.
                if self
                    .version
                    .compare_exchange_weak(
                        current,
                        current.wrapping_add(1),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    break current.wrapping_add(1);
                }
            }
            wait_step(&mut step);
        };
        // Release fence: a reader that sees a global written below, then runs its acquire
        // fence, sees the odd version and retries.
        fence(Ordering::Release);
        let _unlock = Unlock {
            version: &self.version,
            even: odd.wrapping_add(1),
        };
        write()
    }

    /// The wrapping sum of a sum slot.
    pub fn sum(&self, slot: usize) -> u64 {
        self.read_stable(|| {
            let base = self.globals[slot].load(Ordering::Relaxed);
            self.shards.iter().fold(base, |acc, shard| {
                acc.wrapping_add(shard.cells[slot].load(Ordering::Relaxed))
            })
        })
    }

    /// Makes a sum slot read `value`: every add counted so far is cancelled through the
    /// global word; no shard is written.
    pub fn set(&self, slot: usize, value: u64) {
        self.write_locked(|| {
            let counted = self.shards.iter().fold(0u64, |acc, shard| {
                acc.wrapping_add(shard.cells[slot].load(Ordering::Relaxed))
            });
            self.globals[slot].store(value.wrapping_sub(counted), Ordering::Relaxed);
        });
    }

    /// The largest value recorded into the extremum at `slot` since its last reset (0 if
    /// none).
    pub fn best(&self, slot: usize) -> u64 {
        self.read_stable(|| {
            let epoch = self.globals[slot].load(Ordering::Relaxed);
            self.shards
                .iter()
                .filter(|shard| shard.cells[slot].load(Ordering::Acquire) == epoch)
                .map(|shard| shard.cells[slot + 1].load(Ordering::Relaxed))
                .max()
                .unwrap_or(0)
        })
    }

    /// Retires every value recorded into the extremum at `slot`.
    pub fn new_epoch(&self, slot: usize) {
        self.write_locked(|| bump_epoch(&self.globals[slot]));
    }

    /// Every slot, combined per `kinds`, with no set/reset and no owner's `update` seen in
    /// part. Sum slots hold their sum, extremum pairs their epoch and value.
    ///
    /// Inlined so that a group's constant `kinds` fold away: the per-shard combine becomes
    /// straight-line adds.
    #[inline]
    pub fn snapshot(&self, kinds: &[SlotKind; N]) -> [u64; N] {
        self.read_stable(|| {
            let mut out: [u64; N] = std::array::from_fn(|i| match kinds[i] {
                SlotKind::Sum | SlotKind::Epoch => self.globals[i].load(Ordering::Relaxed),
                SlotKind::Value => 0,
            });
            for shard in self.shards.iter() {
                let cells = shard.read_consistent(|block| self.is_own(block));
                for i in 0..N {
                    match kinds[i] {
                        SlotKind::Sum => out[i] = out[i].wrapping_add(cells[i]),
                        SlotKind::Epoch if cells[i] == out[i] => {
                            out[i + 1] = out[i + 1].max(cells[i + 1]);
                        }
                        SlotKind::Epoch | SlotKind::Value => {}
                    }
                }
            }
            out
        })
    }

    /// Resets every slot at once: sums to 0, extrema to empty. An owner's `update` is
    /// cancelled wholly or counted wholly after the reset.
    pub fn reset_all(&self, kinds: &[SlotKind; N]) {
        self.write_locked(|| {
            let mut counted = [0u64; N];
            for shard in self.shards.iter() {
                let cells = shard.read_consistent(|block| self.is_own(block));
                for i in 0..N {
                    if kinds[i] == SlotKind::Sum {
                        counted[i] = counted[i].wrapping_add(cells[i]);
                    }
                }
            }
            for i in 0..N {
                match kinds[i] {
                    SlotKind::Sum => {
                        self.globals[i].store(counted[i].wrapping_neg(), Ordering::Relaxed)
                    }
                    SlotKind::Epoch => bump_epoch(&self.globals[i]),
                    SlotKind::Value => {}
                }
            }
        });
    }

    /// Whether `block` is the calling thread's own shard. Never allocates a thread slot: a
    /// thread without one owns no shard (and taking one here could hand it the very slot
    /// whose odd sequence count it just read from an exiting owner).
    #[cold]
    fn is_own(&self, block: &Block<N>) -> bool {
        crate::thread_id::try_current()
            .and_then(|slot| self.shards.try_get(slot))
            .is_some_and(|own| std::ptr::eq::<Block<N>>(&**own, block))
    }
}

/// Deliberately wrong variants of the algorithm, for the loom suite's negative controls
/// (`crate::loom_controls`). Never built outside `cfg(loom)`.
#[cfg(loom)]
impl<const N: usize> Core<N> {
    /// Adds through the shard of thread slot 0, whichever thread calls: two writers per shard.
    pub(crate) fn add_to_first_shard(&self, slot: usize, n: u64) {
        let shard = self.shards.get(crate::thread_id::Thread::new(0).slot);
        add_owned(&shard.cells[slot], n);
    }

    /// Resets by writing 0 into every shard: a non-owner write racing with the owner's
    /// load and store.
    pub(crate) fn zero_every_shard(&self, slot: usize) {
        self.write_locked(|| {
            for shard in self.shards.iter() {
                shard.cells[slot].store(0, Ordering::Relaxed);
            }
            self.globals[slot].store(0, Ordering::Relaxed);
        });
    }

    /// `sum` without the seqlock retry: may combine a new base with the world before it.
    pub(crate) fn sum_without_retry(&self, slot: usize) -> u64 {
        let base = self.globals[slot].load(Ordering::Acquire);
        self.shards.iter().fold(base, |acc, shard| {
            acc.wrapping_add(shard.cells[slot].load(Ordering::Relaxed))
        })
    }
}

impl<const N: usize> std::fmt::Debug for Block<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .field("cells", &self.cells)
            .finish()
    }
}

impl<const N: usize> std::fmt::Debug for Core<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("version", &self.version.load(Ordering::Relaxed))
            .field("globals", &self.globals)
            .field("allocated_shards", &self.allocated_shards())
            .finish()
    }
}

impl<const N: usize> Default for Core<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `n` to a cell that only the calling thread writes: a plain load and store, no
/// read-modify-write instruction. Relaxed: the cell orders nothing else, and a reader only
/// needs each cell's own modification order (which the single writer makes monotone).
#[inline]
pub(crate) fn add_owned(cell: &AtomicU64, n: u64) {
    let value = keep_in_register(cell.load(Ordering::Relaxed));
    cell.store(value.wrapping_add(n), Ordering::Relaxed);
}

/// Returns `value` unchanged, but hides where it came from, so that the compiler emits the
/// owner's add as a separate load, add and store instead of folding them into one
/// memory-destination `add` (x86-64 `add [mem], reg`: not locked, and not atomic either —
/// which is fine here, since only the owner writes the cell).
///
/// Why: on the x86-64 cores measured, a load that reads a value just stored to the same
/// address is served fast (~1 cycle) when it is a plain `mov`, but the load inside a
/// memory-destination `add` waits the full store-forwarding latency (~5 cycles). A loop of
/// adds to one cell is a chain of such loads: on the development machine, 2.0 ns per add
/// folded against 0.55 ns split (`docs/performance.md`). Other architectures have no
/// memory-destination add, and Miri and loom need no help, so there it is the identity.
#[inline(always)]
fn keep_in_register(value: u64) -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
    {
        let mut value = value;
        // SAFETY: the template is empty: the block executes no instruction, reads and writes
        // no memory (`nomem`), leaves the stack and flags alone, and returns its register
        // operand unchanged (`pure`: the output depends only on the input). It only stops
        // the compiler from seeing that `value` is the loaded value.
        unsafe {
            core::arch::asm!(
                "/* {0} */",
                inout(reg) value,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        value
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(loom))))]
    {
        value
    }
}

/// Records `v` into an extremum pair of a shard that only the calling thread writes.
#[inline]
pub(crate) fn record_best(global_epoch: &AtomicU64, epoch: &AtomicU64, value: &AtomicU64, v: u64) {
    // Relaxed: an epoch read here only decides which epoch `v` belongs to. A record that
    // happened-before a reset reads the old epoch (coherence), so it is retired by it.
    let current = global_epoch.load(Ordering::Relaxed);
    if epoch.load(Ordering::Relaxed) == current {
        if v > value.load(Ordering::Relaxed) {
            value.store(v, Ordering::Relaxed);
        }
    } else {
        start_epoch(epoch, value, current, v);
    }
}

/// The first record of a new epoch in this shard: the value first, then (Release) the
/// epoch, so a reader that sees the new epoch (Acquire) also sees this value or a later one,
/// never a value of an older epoch.
#[cold]
#[inline(never)]
fn start_epoch(epoch: &AtomicU64, value: &AtomicU64, current: u64, v: u64) {
    value.store(v, Ordering::Relaxed);
    epoch.store(current, Ordering::Release);
}

/// Advances an epoch word; called only under `write_locked`, so load + store is exclusive.
fn bump_epoch(epoch: &AtomicU64) {
    epoch.store(
        epoch.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

#[cfg(not(loom))]
const fn new_atomics<const N: usize>() -> [AtomicU64; N] {
    [const { AtomicU64::new(0) }; N]
}

#[cfg(loom)]
fn new_atomics<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}
