//! Memory, measured with a counting global allocator: bytes per counter per thread for
//! standalone counters, for a stat group, and for peer designs, and the growth over thread
//! churn.
//!
//! ```text
//! cargo run --release --example memory
//! ```
//!
//! Heap bytes are counted at the allocator; the size of the counter value itself
//! (`size_of`) is listed separately (it lives wherever the user puts it, often a `static`).

use shardstat::migration::MigrationStats;
use shardstat::Counter;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Barrier;

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Heap bytes that `threads` threads, alive together, add when each calls `touch` once.
fn heap_of(threads: usize, touch: &(dyn Fn() + Sync)) -> usize {
    let all_touched = Barrier::new(threads);
    let before = live();
    let mut during = 0;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    touch();
                    all_touched.wait();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        during = live();
    });
    during - before
}

fn main() {
    // Warm up: let 16 threads take (and free) thread slots 0..16, so the registry's free list
    // is allocated before measuring; and measure what spawning T threads costs by itself, to
    // subtract it.
    let warm = Counter::new();
    heap_of(16, &|| warm.inc());
    let noise: Vec<usize> = [1usize, 2, 4, 16]
        .iter()
        .map(|&t| heap_of(t, &|| {}))
        .collect();
    println!("heap bytes per counter, with T threads alive that each added once:\n");
    println!(
        "{:<40}{:>10}{:>10}{:>10}{:>10}{:>14}",
        "", "T = 1", "T = 2", "T = 4", "T = 16", "size_of"
    );
    let row = |name: &str, size: usize, make: &dyn Fn() -> Box<dyn Fn() + Sync>| {
        print!("{name:<40}");
        for (i, t) in [1usize, 2, 4, 16].into_iter().enumerate() {
            let touch = make();
            let bytes = heap_of(t, &*touch).saturating_sub(noise[i]);
            print!("{:>10}", bytes);
        }
        println!("{size:>14}");
    };
    row("shardstat Counter", size_of::<Counter>(), &|| {
        let c: &'static Counter = Box::leak(Box::new(Counter::new()));
        Box::new(move || c.inc())
    });
    row(
        "shardstat MigrationStats (17 fields)",
        size_of::<MigrationStats>(),
        &|| {
            let g: &'static MigrationStats = Box::leak(Box::new(MigrationStats::new()));
            Box::new(move || g.local().multifd_packet_sent(4096, 1, 0))
        },
    );
    row(
        "12 standalone shardstat Counters",
        12 * size_of::<Counter>(),
        &|| {
            let cs: &'static [Counter] =
                Box::leak((0..12).map(|_| Counter::new()).collect::<Vec<_>>().into());
            Box::new(move || cs.iter().for_each(|c| c.inc()))
        },
    );
    row(
        "hytra TrAdder (thread_local crate)",
        size_of::<hytra::TrAdder<u64>>(),
        &|| {
            let c: &'static hytra::TrAdder<u64> = Box::leak(Box::new(hytra::TrAdder::new()));
            Box::new(move || c.inc(1))
        },
    );
    row(
        "contatori Monotone (64 fixed slots)",
        size_of::<contatori::counters::monotone::Monotone>(),
        &|| {
            let c: &'static contatori::counters::monotone::Monotone =
                Box::leak(Box::new(contatori::counters::monotone::Monotone::new()));
            Box::new(move || c.add(1))
        },
    );
    row(
        "AtomicU64",
        size_of::<std::sync::atomic::AtomicU64>(),
        &|| {
            let c: &'static std::sync::atomic::AtomicU64 =
                Box::leak(Box::new(std::sync::atomic::AtomicU64::new(0)));
            Box::new(move || {
                c.fetch_add(1, SeqCst);
            })
        },
    );
    println!(
        "\n(shard tables grow in buckets of 1, 2, 4, … shards, so T threads hold at most 2T − 1 \
         shards; a bucket stays allocated once made)"
    );
    println!(
        "one thread's shard: Counter {} bytes, MigrationStats {} bytes",
        std::mem::size_of::<crossbeam_utils::CachePadded<[u64; 2]>>(),
        MigrationStats::BYTES_PER_THREAD
    );

    // Churn: 8,000 short-lived threads, at most 4 alive at once, each adding to 64 counters.
    let counters: Vec<Counter> = (0..64).map(|_| Counter::new()).collect();
    let batch = || {
        let all = Barrier::new(4);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        counters.iter().for_each(|c| c.inc());
                        all.wait();
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    };
    let start = live();
    batch();
    let after_first = live();
    for _ in 1..2000 {
        batch();
    }
    let end = live();
    println!(
        "\nthread churn, 64 counters: the first 4 threads allocated {} bytes; the next 7,996 \
         threads (at most 4 alive) added {} bytes",
        after_first - start,
        end as isize - after_first as isize
    );
    assert!(counters.iter().all(|c| c.get() == 8000));
}
