//! Memory and shard reuse under thread churn, measured with a counting global allocator.
//!
//! One test function, run alone in its own binary, so that no other test's threads take
//! shards or allocate while it measures.

use shardstat::{Counter, Max};
use std::thread;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const COUNTERS: usize = 64;
/// The engine carves arena chunks from blocks that grow from 8 KiB (the first) to 128 KiB; a
/// shard's copy of the first chunk takes 2 KiB of one (and a 64-byte skew).
const FIRST_BLOCK: usize = 8 * 1024;
/// Bytes of the engine's table entry (a chunk pointer) per shard.
const ENTRY: usize = std::mem::size_of::<*const u8>();

#[test]
fn memory_follows_peak_live_threads_and_reused_shards_carry_on() {
    let counters: Vec<Counter> = (0..COUNTERS).map(|_| Counter::new()).collect();
    // The engine's allocator keeps its free cells in a map: let it make its first node (once
    // per process) before measuring. A read takes a run without taking a shard.
    Counter::new().get();

    // 1. The first writing thread takes shard 0: its arena's first chunk (all 64 counters
    //    fit in it, 8 bytes each), carved from the engine's first block, and its entry in
    //    the chunk's table (and the heap's list of blocks). Nothing per counter.
    let before = live();
    for c in &counters {
        c.inc();
    }
    let first_thread = live() - before;
    println!("first writing thread: {first_thread} bytes for {COUNTERS} counters");
    assert!(
        (FIRST_BLOCK + ENTRY..=FIRST_BLOCK + 256).contains(&first_thread),
        "{first_thread} bytes: the first block, and a table entry"
    );

    // 2. A thread that exits leaves its count in the total, and the next new thread takes
    //    its shard (lowest free first) and carries on from the exited thread's cell.
    //    (An explicit `join` waits for the thread's thread-local destructors, which is where
    //    the shard is released; the implicit join at the end of `thread::scope` does not.)
    let handover = Counter::new();
    let run = |f: &(dyn Fn() -> u64 + Sync)| thread::scope(|s| s.spawn(f).join().unwrap());
    let first = run(&|| {
        let local = handover.local();
        local.add(5);
        local.shard_value()
    });
    assert_eq!(first, 5);
    let second = run(&|| {
        let local = handover.local();
        local.add(5);
        local.shard_value()
    });
    assert_eq!(
        second, 10,
        "the next thread reuses the exited thread's shard and carries on from its cell"
    );
    assert_eq!(handover.get(), 10);

    // 3. 8,000 short-lived threads, at most 4 alive at once, each adding to 64 counters:
    //    arenas exist for the peak of live threads, so memory stops growing after the first
    //    batch.
    //    A barrier after the adds keeps all 4 threads of a batch holding their shards at the
    //    same time, so the first batch reaches the peak.
    let batch = |counters: &[Counter]| {
        let all_alive = std::sync::Barrier::new(4);
        thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        for c in counters {
                            c.inc();
                        }
                        all_alive.wait();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        })
    };
    let before_churn = live();
    batch(&counters);
    let after_first_batch = live();
    println!(
        "5 threads (this one and a batch of 4): {} bytes",
        after_first_batch - before_churn + first_thread
    );
    for _ in 1..2_000 {
        batch(&counters);
    }
    let growth = live() as isize - after_first_batch as isize;
    println!("growth over the next 7,996 threads: {growth} bytes");
    // Shards 0..=4 are in use at the peak (this thread and the 4). Shard 1 (the hand-over
    // threads') already has its chunk; the batch adds shards 2, 3 and 4: shard 2's chunk
    // fills the first block (three 2 KiB chunks), shards 3 and 4 open the second block
    // (16 KiB), and shard 4 grows the chunk's table from 4 entries to 8 (a new array; the old
    // one is kept). Nothing is per counter.
    assert_eq!(
        after_first_batch - before_churn,
        2 * FIRST_BLOCK + 8 * ENTRY
    );
    // (A few dozen bytes may come and go with the registry's free list and the runtime's own
    // per-thread bookkeeping; an arena chunk would be 2 KiB, a block 128 KiB.)
    assert!(
        growth <= 1024,
        "memory grew by {growth} bytes over 7,996 short-lived threads"
    );
    for c in &counters {
        assert_eq!(c.get(), 1 + 8_000, "no add lost across thread churn");
    }

    // 4. Max works the same way.
    let max = Max::new();
    for v in 0..100 {
        thread::scope(|s| s.spawn(|| max.record(v)).join().unwrap());
    }
    assert_eq!(max.get(), 99);
}
