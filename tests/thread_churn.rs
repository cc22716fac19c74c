//! Memory and slot reuse under thread churn, measured with a counting global allocator.
//!
//! One test function, run alone in its own binary, so that no other test's threads take
//! thread slots or allocate while it measures.

use shardstat::{Counter, Max};
use std::thread;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const COUNTERS: usize = 64;
const SHARD_BYTES: usize = std::mem::size_of::<crossbeam_utils::CachePadded<[u64; 2]>>();

#[test]
fn memory_follows_peak_live_threads_and_reused_slots_carry_on() {
    let counters: Vec<Counter> = (0..COUNTERS).map(|_| Counter::new()).collect();

    // 1. Bytes per counter per thread: the first writer of each counter allocates exactly
    //    one padded shard (its slot is 0, in the one-shard first bucket).
    let before = live();
    for c in &counters {
        c.inc();
    }
    let first_thread = live() - before;
    println!(
        "first writing thread: {} bytes per counter",
        first_thread / COUNTERS
    );
    assert_eq!(first_thread, COUNTERS * SHARD_BYTES);

    // 2. A thread that exits leaves its count in the total, and the next new thread takes
    //    its slot (lowest free first) and carries on from the exited thread's shard.
    //    (An explicit `join` waits for the thread's thread-local destructors, which is where
    //    the slot is released; the implicit join at the end of `thread::scope` does not.)
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
        "the next thread reuses the exited thread's slot and carries on from its shard"
    );
    assert_eq!(handover.get(), 10);

    // 3. 8,000 short-lived threads, at most 4 alive at once, each adding to 64 counters:
    //    shards exist for the peak of live threads, so memory stops growing after the first
    //    batch.
    //    A barrier after the adds keeps all 4 threads of a batch holding their slots at the
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
        "5 threads (this one and a batch of 4): {} bytes per counter",
        (after_first_batch - before_churn + first_thread) / COUNTERS
    );
    for _ in 1..2_000 {
        batch(&counters);
    }
    let growth = live() as isize - after_first_batch as isize;
    println!("growth over the next 7,996 threads: {growth} bytes");
    // Slots 0..=4 are in use at the peak (this thread and the 4): buckets 0, 1 and 2, 7 shards
    // per counter; the batch allocated buckets 1 and 2.
    assert_eq!(after_first_batch - before_churn, COUNTERS * 6 * SHARD_BYTES);
    assert!(
        growth <= 16 * 1024,
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
