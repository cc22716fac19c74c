//! Which cells are free: the engine's run allocator.
//!
//! Every arena has the same layout, so allocating a run means choosing cells in that
//! layout once, for all shards. Cells are numbered in one flat space, chunk after chunk
//! ([`chunk_start`]); free cells are kept as *extents* (a start and a length), none crossing
//! a chunk's end, ordered by start.
//!
//! - **Allocation is first fit, lowest address first**: the run goes into the first extent
//!   where it fits (after alignment). Live counters therefore stay packed in the lowest
//!   chunks, and a thread's arena holds only the chunks that live counters use. A chunk is
//!   opened (its cells added as one extent) only when no open one has room.
//! - **Alignment**: a run of `len` cells starts at a multiple of `min(len.next_power_of_two(),
//!   8)` cells, so a run of up to 8 cells never straddles a 64-byte line (a group snapshot
//!   reads the fewest lines) and small runs fill the gaps that alignment leaves.
//! - **Freeing** merges the extent with its free neighbours in the same chunk, so a freed
//!   run is reused by the next allocation that fits, and memory stays flat when counters are
//!   created and dropped in a loop.
//!
//! The cost of an allocation is the number of extents scanned before the first fit: one or
//! two when counters are created in bulk or created and dropped in turn; more only when
//! many small holes sit below a run that does not fit them. Allocation runs under the
//! engine's mutex, once per counter (its first use), never on the add path.

use super::{chunk_cells, CHUNKS};
use std::collections::BTreeMap;

/// Where each chunk starts in the flat numbering; `STARTS[CHUNKS]` is the total.
const STARTS: [usize; CHUNKS + 1] = {
    let mut starts = [0; CHUNKS + 1];
    let mut k = 0;
    while k < CHUNKS {
        starts[k + 1] = starts[k] + chunk_cells(k);
        k += 1;
    }
    starts
};

/// The first cell of `chunk` in the flat numbering (`chunk <= CHUNKS`).
pub(crate) const fn chunk_start(chunk: usize) -> usize {
    STARTS[chunk]
}

/// Every cell of every chunk: the most cells live counters can hold at once.
pub(crate) const TOTAL_CELLS: usize = chunk_start(CHUNKS);

/// A run: `len` consecutive cells of one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// The chunk.
    pub(crate) chunk: usize,
    /// The first cell's index inside the chunk.
    pub(crate) offset: usize,
    /// How many cells.
    pub(crate) len: usize,
}

/// The alignment of a run of `len` cells, in cells.
pub(crate) fn alignment(len: usize) -> usize {
    len.next_power_of_two().min(8)
}

/// The free cells.
#[derive(Debug)]
pub(crate) struct Runs {
    /// Free extents: flat start → length. None crosses a chunk's end; neighbours in one
    /// chunk are always merged.
    free: BTreeMap<usize, usize>,
    /// Chunks `0..opened` have their cells in `free` or in live runs; the others are
    /// untouched.
    opened: usize,
    /// Cells in live runs.
    in_use: usize,
}

impl Runs {
    /// Nothing allocated, no chunk opened.
    pub(crate) const fn new() -> Self {
        Runs {
            free: BTreeMap::new(),
            opened: 0,
            in_use: 0,
        }
    }

    /// Cells in live runs.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// Chunks opened so far (the highest chunk a live run may be in, plus one).
    #[cfg(test)]
    pub(crate) fn opened(&self) -> usize {
        self.opened
    }

    /// A run of `len` cells, aligned (see the module docs).
    ///
    /// # Panics
    /// If `len` is 0, larger than the largest chunk, or no chunk has room: the message says
    /// how many cells live counters hold.
    pub(crate) fn allocate(&mut self, len: usize) -> Run {
        assert!(len > 0, "shardstat: a run has at least one cell");
        let align = alignment(len);
        loop {
            if let Some(run) = self.first_fit(len, align) {
                self.in_use += len;
                return run;
            }
            self.open_chunk(len);
        }
    }

    fn first_fit(&mut self, len: usize, align: usize) -> Option<Run> {
        let (start, extent, at) = self.free.iter().find_map(|(&start, &extent)| {
            let at = start.next_multiple_of(align);
            (at + len <= start + extent).then_some((start, extent, at))
        })?;
        self.free.remove(&start);
        if at > start {
            self.free.insert(start, at - start);
        }
        if at + len < start + extent {
            self.free.insert(at + len, start + extent - (at + len));
        }
        let chunk = chunk_of(at);
        Some(Run {
            chunk,
            offset: at - chunk_start(chunk),
            len,
        })
    }

    /// Adds the next chunk's cells to the free extents (or, if the run is longer than that
    /// chunk, every chunk up to the first that can hold it).
    fn open_chunk(&mut self, len: usize) {
        assert!(
            self.opened < CHUNKS,
            "shardstat: out of counter cells: live counters hold {} cells and no chunk has \
             room for a run of {len} (the engine holds at most {TOTAL_CELLS} cells, and a \
             run at most {} cells)",
            self.in_use,
            chunk_cells(CHUNKS - 1),
        );
        let chunk = self.opened;
        self.opened += 1;
        self.insert_merged(chunk_start(chunk), chunk_cells(chunk));
    }

    /// Returns a run's cells. The caller has cleared them in every arena (see
    /// `Engine::free`).
    pub(crate) fn release(&mut self, run: Run) {
        debug_assert!(run.chunk < self.opened && run.offset + run.len <= chunk_cells(run.chunk));
        self.in_use -= run.len;
        self.insert_merged(chunk_start(run.chunk) + run.offset, run.len);
    }

    /// Inserts a free extent, merging it with free neighbours in the same chunk.
    fn insert_merged(&mut self, mut start: usize, mut len: usize) {
        let chunk = chunk_of(start);
        let (lo, hi) = (chunk_start(chunk), chunk_start(chunk + 1));
        if let Some((&before, &before_len)) = self.free.range(lo..start).next_back() {
            debug_assert!(before + before_len <= start, "double free of a run");
            if before + before_len == start {
                self.free.remove(&before);
                start = before;
                len += before_len;
            }
        }
        if let Some(&after_len) = self.free.get(&(start + len)) {
            if start + len < hi {
                self.free.remove(&(start + len));
                len += after_len;
            }
        }
        self.free.insert(start, len);
    }
}

/// The chunk that flat cell `cell` is in.
fn chunk_of(cell: usize) -> usize {
    debug_assert!(cell < TOTAL_CELLS);
    STARTS.partition_point(|&start| start <= cell) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(run: Run) -> usize {
        chunk_start(run.chunk) + run.offset
    }

    #[test]
    fn runs_are_packed_lowest_first_and_aligned() {
        let mut runs = Runs::new();
        let a = runs.allocate(1);
        let b = runs.allocate(1);
        let m = runs.allocate(2); // aligned to 2
        let c = runs.allocate(1);
        let g = runs.allocate(14); // a QEMU-sized group: aligned to 8 cells (64 bytes)
        assert_eq!([flat(a), flat(b), flat(m), flat(c)], [0, 1, 2, 4]);
        assert_eq!(flat(g), 8);
        // The gap that the group's alignment left (cells 5..8) is filled by small runs.
        let fill: Vec<usize> = (0..3).map(|_| flat(runs.allocate(1))).collect();
        assert_eq!(fill, [5, 6, 7]);
        assert_eq!(flat(runs.allocate(1)), 22);
        assert_eq!(runs.in_use(), 1 + 1 + 2 + 1 + 14 + 3 + 1);
    }

    #[test]
    fn a_released_run_is_reused_and_neighbours_merge() {
        let mut runs = Runs::new();
        let all: Vec<Run> = (0..6).map(|_| runs.allocate(1)).collect();
        runs.release(all[2]);
        runs.release(all[3]);
        // cells 2 and 3 merged: a run of 2 fits there again
        assert_eq!(flat(runs.allocate(2)), 2);
        runs.release(all[1]);
        assert_eq!(runs.allocate(1), all[1], "the lowest free cell first");
        assert_eq!(runs.in_use(), 6);
    }

    #[test]
    fn creating_and_dropping_in_a_loop_stays_in_place() {
        let mut runs = Runs::new();
        let keep = runs.allocate(3);
        let first = runs.allocate(1);
        runs.release(first);
        // Fewer rounds under Miri, where 10,000 took three minutes (the whole Miri step's
        // slowest test by far); the property is the same at every round.
        for _ in 0..if cfg!(miri) { 200 } else { 10_000 } {
            let r = runs.allocate(1);
            assert_eq!(r, first);
            runs.release(r);
        }
        runs.release(keep);
        assert_eq!(runs.in_use(), 0);
        assert_eq!(runs.opened(), 1);
        assert_eq!(runs.free.len(), 1, "everything merged back into one extent");
    }

    #[test]
    fn runs_never_cross_a_chunk_and_chunks_open_in_order() {
        let mut runs = Runs::new();
        let first = chunk_cells(0);
        for _ in 0..first - 1 {
            runs.allocate(1);
        }
        // One cell left in chunk 0: a run of 2 goes to chunk 1, the cell stays free.
        let two = runs.allocate(2);
        assert_eq!((two.chunk, two.offset), (1, 0));
        let one = runs.allocate(1);
        assert_eq!((one.chunk, one.offset), (0, first - 1));
        // A run longer than the next chunks opens chunks until one holds it.
        let big = runs.allocate(chunk_cells(1) + 1);
        assert!(chunk_cells(big.chunk) > chunk_cells(1));
        assert!(big.offset + big.len <= chunk_cells(big.chunk));
        // Freed extents at a chunk's end do not merge into the next chunk.
        runs.release(one);
        runs.release(two);
        assert!(runs
            .free
            .iter()
            .all(|(&s, &l)| chunk_of(s) == chunk_of(s + l - 1)));
    }

    #[test]
    fn the_chunk_layout_doubles_in_steps_and_is_large() {
        assert_eq!(chunk_start(0), 0);
        assert_eq!(chunk_start(1), chunk_cells(0));
        assert!((1..CHUNKS).all(|k| chunk_cells(k) >= chunk_cells(k - 1)));
        if !crate::sync::MODEL {
            assert_eq!(chunk_cells(0), 256, "the first chunk is 2 KiB");
            assert_eq!(TOTAL_CELLS, 58_719_232, "about 58 million cells in all");
        }
    }

    #[test]
    #[should_panic(expected = "shardstat: out of counter cells")]
    fn running_out_of_cells_says_so() {
        let mut runs = Runs::new();
        runs.allocate(chunk_cells(CHUNKS - 1) + 1);
    }
}
