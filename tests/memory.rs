//! The engine's memory goals, measured with a counting global allocator: 8 bytes per
//! counter per thread that wrote it, plus a fixed cost per thread; a stat group's share per
//! thread; counters created and dropped at run time without growth.
//!
//! One test function, run alone in its own binary, so that no other test allocates or takes
//! shards while it measures. `cargo test --test memory -- --nocapture` prints the figures.

use shardstat::migration::MigrationStats;
use shardstat::Counter;
use std::sync::Barrier;
use std::thread;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Heap bytes held while `threads` threads, alive together, have each run `touch` once
/// (measured before any of them exits), minus what `baseline` held.
fn held_by(threads: usize, touch: &(dyn Fn() + Sync), baseline: usize) -> usize {
    let all_touched = Barrier::new(threads + 1);
    let measured = Barrier::new(threads + 1);
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                touch();
                all_touched.wait();
                measured.wait();
            });
        }
        all_touched.wait();
        let held = live() - baseline;
        measured.wait();
        held
    })
}

#[test]
fn eight_bytes_per_counter_per_writing_thread_and_flat_under_churn() {
    // What spawning 16 threads holds by itself (their stacks are not on the heap, but the
    // runtime allocates a little per thread), so that it can be subtracted.
    let spawn_noise = held_by(16, &|| {}, live());
    // Let every shard the measurements use exist first, with its first chunk: the fixed
    // per-thread cost, measured here once. A first chunk is 2 KiB, followed by a 64-byte
    // skew, carved from the engine's blocks (8 KiB, doubling to 128 KiB); a table entry is 8
    // bytes. The goal: at most 4 KiB per thread, block slack included.
    let warm = Counter::new();
    let before_arenas = live();
    let arenas = held_by(16, &|| warm.inc(), before_arenas) - spawn_noise;
    println!(
        "fixed cost: {arenas} bytes for 16 threads' first chunks and table entries ({} per \
         thread)",
        arenas / 16
    );
    assert!(arenas <= 16 * 4096, "{arenas} bytes for 16 threads");
    drop(warm);

    // 1. 10,000 counters, 16 threads each adding once to each: at most 2 MiB of heap, the
    //    counters themselves included (24 bytes each), where one 128-byte padded shard per
    //    counter per thread would be 20 MiB.
    let before = live();
    let counters: Vec<Counter> = (0..10_000).map(|_| Counter::new()).collect();
    let heap = held_by(16, &|| counters.iter().for_each(Counter::inc), before) - spawn_noise;
    println!(
        "10,000 counters x 16 threads: {heap} bytes ({:.1} per counter per thread)",
        heap as f64 / 160_000.0
    );
    assert!(
        heap <= 2 << 20,
        "{heap} bytes for 10,000 counters x 16 threads"
    );
    assert!(counters.iter().all(|c| c.get() == 16));

    // 2. QEMU's migration statistics: 1,000 groups written by the same 16 threads, after the
    //    counters (which stay). Each group is 13 cells (12 counters and its sequence word):
    //    104 bytes per thread, in runs that start on a 64-byte line (so at most 128 apart).
    //    The heap grows by whole chunks, so allow for the last chunk's unused part (a new
    //    chunk is at most half of what the arena already holds).
    let cells_before = shardstat::engine_stats().cells_in_use;
    let before = live();
    let groups: Vec<MigrationStats> = (0..1_000).map(|_| MigrationStats::new()).collect();
    let group_bytes = groups.len() * std::mem::size_of::<MigrationStats>();
    let touch = || {
        for g in &groups {
            g.local().multifd_packet_sent(4096, 1, 0);
        }
    };
    let heap = held_by(16, &touch, before) - spawn_noise - group_bytes;
    let cells = shardstat::engine_stats().cells_in_use - cells_before;
    println!(
        "1,000 MigrationStats x 16 threads: {} cells each ({} bytes per thread); the arenas \
         grew by {heap} bytes ({:.1} per group per thread)",
        cells / 1_000,
        cells / 1_000 * 8,
        heap as f64 / 16_000.0
    );
    assert_eq!(cells, 1_000 * 13);
    assert!(heap <= 1_000 * 16 * 128 * 3 / 2);
    drop(groups);
    drop(counters);

    // 3. Counters created and dropped at run time: 1,000,000 creations and drops across 8
    //    threads. A dropped counter's cells are reused, so memory is the same after the
    //    millionth as after the first thousand.
    let per_thread = 125_000;
    let warm_up = 1_000;
    let paused = Barrier::new(9);
    let resumed = Barrier::new(9);
    let (after_warm_up, at_end) = thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for i in 0..per_thread {
                    if i == warm_up {
                        paused.wait();
                        resumed.wait();
                    }
                    let c = Counter::new();
                    c.add(i);
                    drop(c);
                }
                paused.wait();
                resumed.wait();
            });
        }
        paused.wait();
        let after_warm_up = live();
        resumed.wait();
        paused.wait();
        let at_end = live();
        resumed.wait();
        (after_warm_up, at_end)
    });
    println!(
        "1,000,000 counters created and dropped on 8 threads: {} bytes more after the last \
         than after the first 8,000",
        at_end as isize - after_warm_up as isize
    );
    assert_eq!(
        at_end, after_warm_up,
        "memory grew while counters came and went"
    );
}
