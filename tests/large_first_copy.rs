//! A shard's first copy of a large chunk (issue 22, bug 1).
//!
//! Reads give a counter its run without carving any shard's copy, so a process can read
//! counters up to chunk 8 (1,024 cells per copy) before its first write. The engine's heap
//! then carved that first copy from a block sized by how many blocks existed (1,024 cells
//! for a 1,032-cell copy): a debug build panicked, a release build handed out every later
//! copy from past the block's end.
//!
//! One test function in its own binary: the bug shows only in a process's first blocks. Miri
//! runs this file too (`.ci/miri.sh`), where an access past a block is an error.

use shardstat::{Counter, Max};

/// Cells of chunks 0–7: 4 × 256 + 4 × 512.
const BELOW_CHUNK_8: usize = 3072;

#[test]
fn counters_read_before_any_write_then_written_stay_in_their_blocks() {
    let read_only: Vec<Counter> = (0..BELOW_CHUNK_8).map(|_| Counter::new()).collect();
    for c in &read_only {
        assert_eq!(c.get(), 0);
    }
    // The process's first write: a counter in chunk 8, so this thread's first copy is
    // 1,024 cells.
    let late: Vec<Counter> = (0..4).map(|_| Counter::new()).collect();
    late[0].add(7);
    shardstat::__private::engine::check().unwrap();
    // Copies that follow it in the heap: the first chunks, another thread's chunk 8, and a
    // two-cell kind.
    for (i, c) in read_only.iter().enumerate().step_by(97) {
        c.add(i as u64);
    }
    let max = Max::new();
    max.record(3);
    std::thread::scope(|s| {
        s.spawn(|| {
            late[1].add(11);
            read_only[5].add(1);
            max.record(9);
        });
    });
    shardstat::__private::engine::check().unwrap();
    for (i, c) in read_only.iter().enumerate() {
        let expected = if i % 97 == 0 { i as u64 } else { 0 } + u64::from(i == 5);
        assert_eq!(c.get(), expected, "counter {i}");
    }
    let values: Vec<u64> = late.iter().map(Counter::get).collect();
    assert_eq!(
        values,
        [7, 11, 0, 0],
        "never-written counters read 0 in their own cells"
    );
    assert_eq!(max.get(), 9);
}
