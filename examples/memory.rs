//! Memory, measured with a counting global allocator: heap bytes for many counters written by
//! many threads — shardstat's engine beside hytra, the `thread_local` crate and one shared
//! atomic — a stat group against standalone counters, the `metrics` recorder against
//! `metrics-util`'s atomic storage (with `--features metrics`), and thread churn.
//!
//! ```text
//! cargo run --release --example memory
//! cargo run --release --features metrics --example memory   # adds the recorder table
//! ```
//!
//! Each figure is measured in a fresh child process (this program runs itself with
//! `--measure`), because shardstat's arenas, once allocated, are reused by later counters:
//! measuring one configuration after another in one process would hide the later ones'
//! cost. A figure is the heap held while the threads are still alive, after each added once
//! to each counter, minus what the same number of idle threads hold, and includes the
//! counters themselves (a `Vec` of them).

use crossbeam_utils::CachePadded;
use shardstat::migration::MigrationStats;
use shardstat::Counter;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Heap bytes held while `threads` threads, alive together, have each run `touch` once,
/// beyond what the process held before `make` built the counters.
fn held<T: Sync>(threads: usize, make: impl FnOnce() -> T, touch: impl Fn(&T) + Sync) -> usize {
    let idle = {
        let before = live();
        with_threads(threads, &|| {}, before)
    };
    let before = live();
    let counters = make();
    let bytes = with_threads(threads, &|| touch(&counters), before);
    drop(counters);
    bytes.saturating_sub(idle)
}

fn with_threads(threads: usize, touch: &(dyn Fn() + Sync), before: usize) -> usize {
    let touched = Barrier::new(threads + 1);
    let measured = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                touch();
                touched.wait();
                measured.wait();
            });
        }
        touched.wait();
        let bytes = live() - before;
        measured.wait();
        bytes
    })
}

/// The counter designs measured: (name, size_of one counter).
const DESIGNS: &[(&str, usize)] = &[
    ("shardstat Counter", size_of::<Counter>()),
    (
        "shardstat percpu::Counter",
        size_of::<shardstat::percpu::Counter>(),
    ),
    ("hytra TrAdder", size_of::<hytra::TrAdder<u64>>()),
    (
        "thread_local ThreadLocal<AtomicU64>",
        size_of::<thread_local::ThreadLocal<AtomicU64>>(),
    ),
    (
        "thread_local ThreadLocal<CachePadded<AtomicU64>>",
        size_of::<thread_local::ThreadLocal<CachePadded<AtomicU64>>>(),
    ),
    ("one AtomicU64 (shared)", size_of::<AtomicU64>()),
];

/// Heap bytes for design `design`: `counters` counters, each written once by each of
/// `threads` threads.
fn measure_counters(design: usize, counters: usize, threads: usize) -> usize {
    match design {
        0 => held(
            threads,
            || (0..counters).map(|_| Counter::new()).collect::<Vec<_>>(),
            |cs| cs.iter().for_each(Counter::inc),
        ),
        1 => held(
            threads,
            || {
                (0..counters)
                    .map(|_| shardstat::percpu::Counter::new())
                    .collect::<Vec<_>>()
            },
            |cs| cs.iter().for_each(shardstat::percpu::Counter::inc),
        ),
        2 => held(
            threads,
            || {
                (0..counters)
                    .map(|_| hytra::TrAdder::new())
                    .collect::<Vec<_>>()
            },
            |cs| cs.iter().for_each(|c| c.inc(1)),
        ),
        3 => held(
            threads,
            || {
                (0..counters)
                    .map(|_| thread_local::ThreadLocal::<AtomicU64>::new())
                    .collect::<Vec<_>>()
            },
            |cs| {
                cs.iter()
                    .for_each(|c| _ = c.get_or_default().fetch_add(1, Relaxed))
            },
        ),
        4 => held(
            threads,
            || {
                (0..counters)
                    .map(|_| thread_local::ThreadLocal::<CachePadded<AtomicU64>>::new())
                    .collect::<Vec<_>>()
            },
            |cs| {
                cs.iter()
                    .for_each(|c| _ = c.get_or_default().fetch_add(1, Relaxed))
            },
        ),
        5 => held(
            threads,
            || (0..counters).map(|_| AtomicU64::new(0)).collect::<Vec<_>>(),
            |cs| cs.iter().for_each(|c| _ = c.fetch_add(1, Relaxed)),
        ),
        _ => unreachable!(),
    }
}

/// Heap bytes for QEMU's statistics written by `threads` threads: one group, or the same 12
/// counters standalone.
fn measure_group(standalone: bool, threads: usize) -> usize {
    if standalone {
        held(
            threads,
            || (0..12).map(|_| Counter::new()).collect::<Vec<_>>(),
            |cs| cs.iter().for_each(Counter::inc),
        )
    } else {
        held(
            threads,
            || Box::new(MigrationStats::new()),
            |g| g.local().multifd_packet_sent(4096, 1, 0),
        )
    }
}

#[cfg(feature = "metrics")]
mod recorder {
    //! The `metrics` facade's idiomatic path, through shardstat's recorder and through
    //! `metrics-util`'s registry with its atomic storage (what the ecosystem's exporters use).
    use super::held;
    use metrics::{Key, Label, Metadata, Recorder};

    pub const KEYS: usize = 100_000;
    /// The hot workload's hot keys: every `HOT_EVERY`-th key (1 %).
    pub const HOT_EVERY: usize = 100;
    /// How many times each thread increments each hot key in the hot workload...
    pub const HOT_ROUNDS: usize = 1_000;
    /// ...and each key.
    pub const COLD_ADDS: usize = 3;

    fn keys() -> Vec<Key> {
        (0..KEYS)
            .map(|i| Key::from_parts("requests", vec![Label::new("route", format!("/r{i}"))]))
            .collect()
    }

    /// Runs one thread's share of a workload: each key incremented once (`hot: false`), or
    /// `COLD_ADDS` times and then the hot keys `HOT_ROUNDS` times, round after round, so
    /// that the threads increment the same hot keys at once.
    fn workload(keys: &[Key], hot: bool, increment: impl Fn(&Key)) {
        let adds = if hot { COLD_ADDS } else { 1 };
        for _ in 0..adds {
            keys.iter().for_each(&increment);
        }
        if hot {
            for _ in 0..HOT_ROUNDS {
                keys.iter().step_by(HOT_EVERY).for_each(&increment);
            }
        }
    }

    /// Heap bytes for `KEYS` keys under a workload ([`workload`]) run by each of `threads`
    /// threads.
    pub fn measure(shardstat: bool, threads: usize, hot: bool) -> usize {
        let keys = keys();
        let meta = Metadata::new("memory", metrics::Level::INFO, None);
        if shardstat {
            // Every key kept: a cardinality limit of `KEYS` (the default, 2,000, would send
            // 98,000 of the keys to the overflow series, which keeps none of them).
            let recorder = || {
                shardstat::metrics::ShardstatRecorder::builder()
                    .cardinality_limit(KEYS)
                    .expect("a limit above 0")
                    .build()
            };
            held(threads, recorder, |r| {
                workload(&keys, hot, |key| {
                    r.register_counter(key, &meta).increment(1)
                })
            })
        } else {
            held(
                threads,
                metrics_util::registry::Registry::<Key, _>::atomic,
                |r| {
                    workload(&keys, hot, |key| {
                        r.get_or_create_counter(key, |c| {
                            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        });
                    })
                },
            )
        }
    }
}

/// Runs this program as a child that measures one figure, and returns it.
fn child(args: &[String]) -> usize {
    let out = Command::new(std::env::current_exe().expect("the example's own path"))
        .arg("--measure")
        .args(args)
        .output()
        .expect("the measuring child runs");
    assert!(
        out.status.success(),
        "measuring {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the child prints a number")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        let n = |i: usize| args[i].parse::<usize>().expect("a number");
        let bytes = match args[1].as_str() {
            "counters" => measure_counters(n(2), n(3), n(4)),
            "group" => measure_group(args[2] == "standalone", n(3)),
            #[cfg(feature = "metrics")]
            "recorder" => recorder::measure(args[2] == "shardstat", n(3), args[4] == "hot"),
            other => panic!("unknown measurement {other}"),
        };
        println!("{bytes}");
        return;
    }

    println!("heap bytes held by N counters, each written once by each of T live threads\n");
    let configs = [
        (1usize, 1usize),
        (1, 16),
        (100, 16),
        (100, 64),
        (10_000, 16),
    ];
    print!("{:<50}", "");
    for (n, t) in configs {
        print!("{:>14}", format!("N={n}, T={t}"));
    }
    println!("{:>16}{:>9}", "per N per T", "size_of");
    for (d, (name, size)) in DESIGNS.iter().enumerate() {
        print!("{name:<50}");
        let mut last = 0;
        for (n, t) in configs {
            last = child(&[
                "counters".into(),
                d.to_string(),
                n.to_string(),
                t.to_string(),
            ]);
            print!("{last:>14}");
        }
        println!("{:>16.1}{size:>9}", last as f64 / 160_000.0);
    }
    println!(
        "\n(\"per N per T\": the N = 10,000, T = 16 figure divided by 160,000; it includes the \
         counters themselves. shardstat's small figures are its fixed cost: a thread's first \
         chunk is 2 KiB, carved from blocks of 8 KiB growing to 128 KiB. percpu::Counter's \
         shards are the CPUs' (concurrency IDs): at most one per CPU, however many threads \
         write.)"
    );

    println!("\nQEMU's migration statistics (12 counters, 5 gauges), written by T live threads\n");
    println!("{:<50}{:>14}{:>14}", "", "T = 1", "T = 16");
    for (name, how) in [
        ("shardstat MigrationStats (one group)", "group"),
        ("12 standalone shardstat Counters", "standalone"),
    ] {
        print!("{name:<50}");
        for t in [1, 16] {
            print!(
                "{:>14}",
                child(&["group".into(), how.into(), t.to_string()])
            );
        }
        println!();
    }
    println!(
        "(a thread's copy of the group is {} bytes of its arena)",
        MigrationStats::BYTES_PER_THREAD
    );

    #[cfg(feature = "metrics")]
    {
        use recorder::{COLD_ADDS, HOT_EVERY, HOT_ROUNDS, KEYS};
        println!(
            "\nthe `metrics` facade: {KEYS} keys, `counter!(...).increment(1)` by each of T live \
             threads: once on each key (once), or {COLD_ADDS} times on each key and then \
             {HOT_ROUNDS} rounds over the 1 % hot keys (hot: {} increments of each hot key by \
             each thread)\n",
            COLD_ADDS + HOT_ROUNDS
        );
        println!(
            "{:<50}{:>14}{:>14}{:>14}{:>14}",
            "", "once, T = 1", "once, T = 8", "hot, T = 1", "hot, T = 8"
        );
        let hot_keys = KEYS / HOT_EVERY;
        for (name, which) in [
            ("shardstat ShardstatRecorder", "shardstat"),
            ("metrics-util Registry, AtomicStorage", "metrics-util"),
        ] {
            print!("{name:<50}");
            let mut figures = Vec::new();
            for workload in ["once", "hot"] {
                for t in [1, 8] {
                    let bytes = child(&[
                        "recorder".into(),
                        which.into(),
                        t.to_string(),
                        workload.into(),
                    ]);
                    figures.push(bytes);
                    print!("{bytes:>14}");
                }
            }
            println!(
                "\n{:<50}bytes per key (once, T = 8): {:.1}; hot against once at T = 8: {:+.1} \
                 per hot key per thread",
                "",
                figures[1] as f64 / KEYS as f64,
                (figures[3] as f64 - figures[1] as f64) / (hot_keys * 8) as f64
            );
        }
    }

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
