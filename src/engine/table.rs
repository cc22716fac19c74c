//! Where each shard's copy of one chunk is: an array of chunk pointers, indexed by shard,
//! that readers walk with one flat loop.
//!
//! The engine keeps one `CopyTable` per chunk: entry `s` points to shard `s`'s copy of the
//! chunk, or is null while shard `s` has none. Reading a counter walks its chunk's table in
//! shard order and loads one cell per non-null entry.
//!
//! The array grows by doubling, and a grown array is a *copy* of the old one with room for
//! more shards: a reader always walks a single array, whichever it loaded. (A table of
//! buckets that never move — 1, 2, 4, … entries — needs no copying, but its readers walk
//! nested loops whose varying lengths the branch predictor misses at every bucket: on the
//! development machine a read of 8 shards took 22 ns that way against 6 ns flat.) Old
//! arrays are never freed while the engine lives, because a reader may still be walking
//! one; together they are smaller than the latest (8 bytes per shard per chunk in all, at
//! most twice).
//!
//! # Synchronization
//! Every write — an entry set, a growth — happens under the engine's mutex, so writers are
//! ordered among themselves. Readers take no lock:
//! - An entry is set once (null → copy) with a `Release` store; readers load it `Acquire`,
//!   so they see the zeroed copy or later values.
//! - Growth fills the new array with the old entries, then stores the array pointer
//!   (`Release`), then the length (`Release`). A reader loads the length (`Acquire`) and then
//!   the pointer (`Acquire`): if it saw the new length, it synchronised with a store made
//!   after the pointer's, so it sees that array or a later one; if it saw an older length,
//!   any array it sees is at least that long (arrays only grow). Either way it walks inside
//!   the array, and sees the entries copied into it (they were written before the pointer's
//!   `Release`).
//! - An entry set after a reader loaded the length may be missed: it is a shard whose first
//!   write to this chunk is concurrent with the read, so its writes are too.

use super::heap::Heap;
use crate::sync::{self, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::ptr;

/// The first array's length. Loom builds start at 2, so that in a model with three writing
/// threads the second publishes its copy into an array with room (its entry store is the
/// only publication) and the third grows the array.
const MIN_LEN: usize = if sync::MODEL { 2 } else { 4 };

/// One chunk's copies, one entry per shard index.
pub(crate) struct CopyTable {
    /// The latest array's length (0: none yet). Stored after `entries`.
    len: AtomicUsize,
    /// The latest array: `len` entries.
    entries: AtomicPtr<AtomicPtr<AtomicU64>>,
    /// How many entries are set: the number of shards with a copy. Only grows.
    count: AtomicUsize,
}

impl CopyTable {
    sync::const_fn! {
        /// No array yet.
        pub(crate) fn new() -> Self {
            CopyTable {
                len: AtomicUsize::new(0),
                entries: AtomicPtr::new(ptr::null_mut()),
                count: AtomicUsize::new(0),
            }
        }
    }

    /// The array as a reader sees it (see the module docs).
    #[inline]
    fn array(&self) -> &[AtomicPtr<AtomicU64>] {
        // Acquire, then Acquire: the array loaded second is at least `len` long.
        let len = self.len.load(Ordering::Acquire);
        let entries = self.entries.load(Ordering::Acquire);
        if len == 0 {
            return &[];
        }
        // SAFETY: a non-zero length was stored after an array of at least that many entries
        // was published (module docs); arrays are allocated by `Heap::entries`, initialised
        // before publication, and freed only with the engine, which outlives `&self`.
        unsafe { std::slice::from_raw_parts(entries, len) }
    }

    /// Calls `f` with every copy (non-null entry), in shard order.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(*mut AtomicU64)) {
        self.for_each_indexed(|_, copy| f(copy));
    }

    /// Calls `f` with every shard index that has a copy, and the copy, in shard order.
    #[inline]
    pub(crate) fn for_each_indexed(&self, mut f: impl FnMut(usize, *mut AtomicU64)) {
        for (shard, entry) in self.array().iter().enumerate() {
            // Acquire: pairs with the Release that set the entry (the copy's zeroing).
            let copy = entry.load(Ordering::Acquire);
            if !copy.is_null() {
                f(shard, copy);
            }
        }
    }

    /// Shard `shard`'s copy, or null if it has none (yet): the per-CPU write path's lookup.
    #[inline(always)]
    pub(crate) fn entry(&self, shard: usize) -> *mut AtomicU64 {
        match self.array().get(shard) {
            // Acquire: pairs with the Release that set the entry, so the writer sees the
            // copy's zeroed cells (a plain load on x86-64).
            Some(entry) => entry.load(Ordering::Acquire),
            None => ptr::null_mut(),
        }
    }

    /// Shard `shard`'s copy, if it has one. Called under the engine's mutex, which orders
    /// it after every write to the table.
    pub(crate) fn get(&self, shard: usize) -> Option<*mut AtomicU64> {
        let array = self.array();
        // Relaxed: every write to the table happened-before this, through the mutex.
        let copy = array.get(shard)?.load(Ordering::Relaxed);
        (!copy.is_null()).then_some(copy)
    }

    /// Sets shard `shard`'s copy, growing the array (from `heap`) if it is too short. Called
    /// under the engine's mutex, once per shard per chunk.
    pub(crate) fn set(&self, shard: usize, copy: *mut AtomicU64, heap: &mut Heap) {
        let old = self.array();
        if shard >= old.len() {
            let len = (shard + 1).next_power_of_two().max(MIN_LEN);
            let grown = heap.entries(len);
            for (i, entry) in old.iter().enumerate() {
                // Relaxed, both: under the mutex, and published by the Release below.
                // SAFETY: `grown` has `len > old.len()` entries, all initialised.
                unsafe { &*grown.add(i) }.store(entry.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            // Release, then Release: see the module docs.
            self.entries.store(grown, Ordering::Release);
            self.len.store(len, Ordering::Release);
        }
        // Relaxed: under the mutex (writers are ordered by it); readers of the count need
        // only a bound, and the caller's `SeqCst` fence orders it for the limited add
        // (`Engine::chunk_copy`).
        self.count
            .store(self.count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        // Release: readers that see the copy (Acquire) see its zeroed cells.
        self.array()[shard].store(copy, Ordering::Release);
    }

    /// How many shards have a copy: every shard that may hold a write to a run of this
    /// chunk. One load.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        // Relaxed: a bound for approximate reads; see `Engine::chunk_copy` for the one place
        // that needs more, which a fence gives.
        self.count.load(Ordering::Relaxed)
    }

    /// How many shards the table has room for (for the tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_per_shard_and_the_array_grows_by_copying() {
        let mut heap = Heap::new();
        let table = CopyTable::new();
        assert_eq!((table.capacity(), table.count()), (0, 0));
        let (a, b) = (heap.carve(256, 0), heap.carve(256, 1));
        table.set(0, a, &mut heap);
        assert_eq!(table.capacity(), 4);
        table.set(9, b, &mut heap);
        assert_eq!(table.capacity(), 16, "grown to the next power of two");
        assert_eq!(table.count(), 2, "two shards have a copy");
        assert_eq!(
            (table.get(0), table.get(9), table.get(1)),
            (Some(a), Some(b), None)
        );
        let mut seen = vec![];
        table.for_each(|copy| seen.push(copy));
        assert_eq!(seen, [a, b], "in shard order, the copied entry included");
        assert_eq!(heap.bytes(), 8 * 1024 + (4 + 16) * 8);
        // SAFETY: nothing is used after this.
        unsafe { heap.free_all() };
    }
}
