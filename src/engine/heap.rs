//! Everything the engine allocates: every shard's chunk copies, carved from one heap of large
//! blocks, and the copy tables' arrays. Freed only with the engine (the process).
//!
//! A shard's copy of a chunk could be its own allocation, made by the thread that owns the
//! shard — and then a read of one counter over 256 shards took 2.5 µs instead of 0.4 on the
//! development machine. Two effects, measured apart:
//! - Copies allocated by different threads come from the allocator's per-thread arenas,
//!   scattered over the address space: every cell a reader loads is on a page whose
//!   translation shares nothing with the last one.
//! - Copies of one chunk whose starts are a power of two apart (2 KiB, 4 KiB, …) put one
//!   counter's cells in the same few cache sets, which then evict each other on every read.
//!
//! So copies are carved, under the engine's mutex, from **blocks** that grow from 8 KiB to
//! **128 KiB** — from 128 KiB on, the system allocator maps each block from the OS directly
//! (pages it commits only when written, placed beside each other, whichever thread asks);
//! the small first blocks keep a process with a few threads small, and a block is never
//! smaller than the copy that needs it — and each copy is followed by a **64-byte skew**,
//! so copies of one chunk are never a power of two apart. A copy larger than half a full
//! block gets a block of its own, starting at a per-shard offset (a multiple of 64 bytes)
//! for the same reason. Blocks are freed only with the engine (the process).

use crate::sync::{self, AtomicPtr, AtomicU64};
use std::ptr;

/// Cells in the first block (8 KiB); each next block doubles, up to `BLOCK_CELLS`.
const FIRST_BLOCK_CELLS: usize = if sync::MODEL { 4 } else { 1024 };
/// Cells per full-size block (128 KiB). Under loom every copy gets a block of its own, made
/// by the thread that needs the copy, so that each copy's publication is the only thing
/// that orders its creation before a reader's loads (and loom checks it).
const BLOCK_CELLS: usize = if sync::MODEL { 4 } else { 16 * 1024 };
/// Cells of skew after each copy (64 bytes), and the unit of a big copy's per-shard offset.
const SKEW_CELLS: usize = if sync::MODEL { 0 } else { 8 };
/// How many different offsets big copies start at.
const COLORS: usize = 64;

/// The blocks and the unused tail of the current one, and the tables' arrays.
#[derive(Debug)]
pub(crate) struct Heap {
    /// Every block, as its first cell and length: freed only by `free_all`.
    blocks: Vec<(*mut AtomicU64, usize)>,
    /// Every copy-table array, as its first entry and length: freed only by `free_all`.
    arrays: Vec<(*mut AtomicPtr<AtomicU64>, usize)>,
    /// The first free cell of the current block, and how many are left.
    next: *mut AtomicU64,
    left: usize,
}

// SAFETY: the raw pointers are owned allocations of atomics, reached only through `&self` of
// the engine (shared references to atomics, which any thread may use) and freed only by
// `free_all` with exclusive access. Nothing about them is tied to the creating thread.
unsafe impl Send for Heap {}

impl Heap {
    pub(crate) const fn new() -> Self {
        Heap {
            blocks: Vec::new(),
            arrays: Vec::new(),
            next: ptr::null_mut(),
            left: 0,
        }
    }

    /// A zeroed copy of `cells` cells for shard `shard`; lives until `free_all`.
    pub(crate) fn carve(&mut self, cells: usize, shard: usize) -> *mut AtomicU64 {
        let need = cells + SKEW_CELLS;
        if need > BLOCK_CELLS / 2 {
            let offset = SKEW_CELLS * (shard % COLORS);
            return self.block(cells + offset).wrapping_add(offset);
        }
        if need > self.left {
            // The next size in the doubling, but never smaller than the copy: a process's
            // first write may be to a large chunk (reads take runs without carving copies).
            let cells = (FIRST_BLOCK_CELLS << self.blocks.len().min(8))
                .min(BLOCK_CELLS)
                .max(need);
            self.next = self.block(cells);
            self.left = cells;
        }
        debug_assert!(need <= self.left);
        let copy = self.next;
        self.next = self.next.wrapping_add(need);
        self.left -= need;
        copy
    }

    /// A new zeroed block of `cells` cells.
    fn block(&mut self, cells: usize) -> *mut AtomicU64 {
        let block = Box::into_raw(sync::zeroed_atomics(cells)).cast::<AtomicU64>();
        self.blocks.push((block, cells));
        block
    }

    /// A copy-table array of `len` null entries; lives until `free_all`.
    pub(crate) fn entries(&mut self, len: usize) -> *mut AtomicPtr<AtomicU64> {
        let array: Box<[AtomicPtr<AtomicU64>]> =
            (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect();
        let array = Box::into_raw(array).cast::<AtomicPtr<AtomicU64>>();
        self.arrays.push((array, len));
        array
    }

    /// Whether the `cells` cells from `start` lie inside one block (the engine's
    /// self-check, [`super::check`]).
    pub(crate) fn contains(&self, start: *const AtomicU64, cells: usize) -> bool {
        let (start, end) = (start as usize, start as usize + cells * 8);
        self.blocks.iter().any(|&(block, len)| {
            let block = block as usize;
            start >= block && end <= block + len * 8
        })
    }

    /// The bytes of every block and array.
    pub(crate) fn bytes(&self) -> usize {
        let blocks: usize = self.blocks.iter().map(|&(_, cells)| cells * 8).sum();
        let arrays: usize = self.arrays.iter().map(|&(_, len)| len * 8).sum();
        blocks + arrays
    }

    /// Frees every block.
    ///
    /// # Safety
    /// No reference into any copy may be used afterwards.
    pub(crate) unsafe fn free_all(&mut self) {
        for (block, cells) in self.blocks.drain(..) {
            // SAFETY: `block` came from `Box::<[AtomicU64]>::into_raw` of `cells` cells in
            // `block()`, is freed exactly once (drained here), and the caller guarantees no
            // reference into it is used again.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(block, cells)) });
        }
        for (array, len) in self.arrays.drain(..) {
            // SAFETY: as for the blocks: from `Box::<[AtomicPtr<_>]>::into_raw` of `len`
            // entries in `entries()`, freed once, no reference used again.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(array, len)) });
        }
        self.next = ptr::null_mut();
        self.left = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_carved_from_blocks_with_a_skew() {
        let mut heap = Heap::new();
        let a = heap.carve(256, 0);
        let b = heap.carve(256, 1);
        let c = heap.carve(256, 2);
        assert_eq!(heap.blocks.len(), 1, "small copies share a block");
        assert_eq!(
            b as usize - a as usize,
            (256 + 8) * 8,
            "a 2 KiB copy and 64 bytes"
        );
        assert_eq!(c as usize - b as usize, (256 + 8) * 8);
        assert_eq!(heap.bytes(), 8 * 1024, "the first block is 8 KiB");
        // A big copy gets its own block, at an offset that depends on the shard.
        let big = heap.carve(BLOCK_CELLS, 3);
        assert_eq!(heap.blocks.len(), 2);
        assert_eq!(big as usize - heap.blocks[1].0 as usize, 3 * 64);
        // Copies are zeroed.
        // SAFETY: `c` is a live copy of 256 cells.
        assert!((0..256).all(|i| unsafe { &*c.add(i) }.load(sync::Ordering::Relaxed) == 0));
        // SAFETY: nothing is used after this.
        unsafe { heap.free_all() };
        assert_eq!(heap.bytes(), 0);
    }

    /// The block that holds `cells` cells from `copy`, if one does.
    fn block_of(heap: &Heap, copy: *mut AtomicU64, cells: usize) -> Option<usize> {
        heap.blocks.iter().position(|&(block, len)| {
            let (start, end) = (block as usize, block as usize + len * 8);
            copy as usize >= start && copy as usize + cells * 8 <= end
        })
    }

    /// Bug found in review (issue 22): a copy of up to half a full block took a new block
    /// sized by how many blocks existed, not by the copy. A process's first write to chunk 8
    /// (1,024 cells) got a 1,024-cell block for 1,032 cells, and every later copy came from
    /// past its end.
    #[test]
    fn a_large_first_copy_and_the_next_small_one_are_inside_their_blocks() {
        for first in [1024, 2048, 4096, 8192] {
            let mut heap = Heap::new();
            let big = heap.carve(first, 0);
            let small = heap.carve(256, 1);
            assert!(
                block_of(&heap, big, first).is_some(),
                "a copy of {first} cells"
            );
            assert!(block_of(&heap, small, 256).is_some(), "after {first}");
            // SAFETY: nothing is used after this.
            unsafe { heap.free_all() };
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..Default::default()
        })]

        /// Random copies of the engine's chunk sizes, for random shards, from a fresh heap:
        /// each copy lies inside one block, no two overlap, and each is zeroed (writing its
        /// cells, as an owner would, would show any overlap to the next check).
        #[test]
        fn every_copy_is_inside_a_block_and_no_two_overlap(
            copies in proptest::collection::vec(
                (0..super::super::CHUNKS.min(24), 0..300usize),
                1..if cfg!(miri) { 6 } else { 40 },
            )
        ) {
            let mut heap = Heap::new();
            let mut carved: Vec<(usize, usize)> = Vec::new();
            for (chunk, shard) in copies {
                let cells = super::super::chunk_cells(chunk);
                let copy = heap.carve(cells, shard);
                proptest::prop_assert!(
                    block_of(&heap, copy, cells).is_some(),
                    "a copy of {} cells for shard {} is outside every block", cells, shard
                );
                // SAFETY: the copy is inside a live block (just checked).
                let first = unsafe { &*copy };
                proptest::prop_assert_eq!(first.load(sync::Ordering::Relaxed), 0);
                first.store(u64::MAX, sync::Ordering::Relaxed);
                carved.push((copy as usize, cells * 8));
            }
            carved.sort_unstable();
            for pair in carved.windows(2) {
                proptest::prop_assert!(pair[0].0 + pair[0].1 <= pair[1].0, "copies overlap");
            }
            // SAFETY: nothing is used after this.
            unsafe { heap.free_all() };
        }
    }

    #[test]
    fn blocks_double_up_to_128_kib() {
        let mut heap = Heap::new();
        for shard in 0..1000 {
            heap.carve(256, shard);
        }
        let sizes: Vec<usize> = heap
            .blocks
            .iter()
            .map(|&(_, cells)| cells * 8 / 1024)
            .collect();
        assert_eq!(&sizes[..6], [8, 16, 32, 64, 128, 128], "KiB");
        assert!(sizes.iter().all(|&kib| kib <= 128));
        // SAFETY: nothing is used after this.
        unsafe { heap.free_all() };
    }
}
