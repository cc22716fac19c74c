//! Add throughput of every way to count, side by side, at 1, 2, … cores threads and at 2×
//! and 4× oversubscription, through the thread-timed harness (`benches/harness/mod.rs`:
//! each thread times its own loop; the median of 5 interleaved repeats, with the min–max).
//! Throughput is adds per second over all threads. Prints Markdown tables and the ratios the
//! docs quote, computed from this run's medians.
//!
//! ```text
//! cargo bench --bench add                    # every group, about 2 minutes on 2 cores
//! cargo bench --bench add -- add-15-counters # groups by name: add, add-15-counters, add-approx, add-percpu
//! cargo bench --bench add -- --quick         # CI's short mode: the harness and its checks, no figures
//! ```
//!
//! The implementations are in `benches/impls/mod.rs`.

mod harness;
mod impls;

use harness::Config;

/// A ratio printed under a table: (label, numerator, denominator), from this run's medians.
type Ratio = (&'static str, &'static str, &'static str);

/// One benchmark group: the implementations at each thread count, and the ratios printed
/// under its table at the counts in `at`.
struct Group<'a> {
    name: &'static str,
    counts: &'a [usize],
    make: fn(usize) -> Vec<Box<dyn impls::Impl>>,
    at: &'a [usize],
    ratios: &'a [Ratio],
}

fn main() {
    let cfg = Config::from_args("add");
    println!("{}\n", cfg.describe());
    let cores = harness::cores();
    let two = 2.min(cores);
    let sweep = impls::thread_counts();
    let mut percpu_counts = vec![1, cores, 64];
    percpu_counts.dedup();
    let groups = [
        Group {
            name: "add",
            counts: &sweep,
            make: impls::all,
            at: &[two],
            ratios: &[
                (
                    "`Counter::add` / one shared atomic",
                    "shardstat Counter::add",
                    "AtomicU64::fetch_add",
                ),
                (
                    "`Counter::add` / hytra",
                    "shardstat Counter::add",
                    "hytra TrAdder",
                ),
                (
                    "`Counter::add` / a thread-local `Cell` in memory",
                    "shardstat Counter::add",
                    "thread-local Cell, in memory",
                ),
                (
                    "`LocalCounter::add` / a thread-local `Cell` in memory",
                    "shardstat LocalCounter::add",
                    "thread-local Cell, in memory",
                ),
            ],
        },
        Group {
            name: "add-15-counters",
            counts: &sweep,
            make: |_| impls::many(),
            at: &[two],
            ratios: &[
                (
                    "15 `Counter`s / 15 shared atomics",
                    "shardstat 15 Counters",
                    "15 AtomicU64s, fetch_add",
                ),
                (
                    "15 `Counter`s / 15 thread-local `Cell`s",
                    "shardstat 15 Counters",
                    "15 thread-local Cells, in memory",
                ),
            ],
        },
        Group {
            name: "add-approx",
            counts: &sweep,
            make: |_| impls::limits(),
            at: &[two],
            ratios: &[
                (
                    "`ApproxCounter::add` / `Counter::add`",
                    "shardstat ApproxCounter::add",
                    "shardstat Counter::add",
                ),
                (
                    "`limited_add` / `Counter::add`",
                    "shardstat ApproxCounter::limited_add",
                    "shardstat Counter::add",
                ),
                (
                    "`limited_add` / a shared atomic's `fetch_update` with the limit",
                    "shardstat ApproxCounter::limited_add",
                    "AtomicU64::fetch_update (limit)",
                ),
            ],
        },
        Group {
            name: "add-percpu",
            counts: &percpu_counts,
            make: |_| impls::per_cpu(),
            at: &[cores, 64],
            ratios: &[
                (
                    "per-CPU / per-thread",
                    "shardstat percpu::Counter::add",
                    "shardstat Counter::add",
                ),
                (
                    "per-CPU / one shared atomic",
                    "shardstat percpu::Counter::add",
                    "AtomicU64::fetch_add",
                ),
            ],
        },
    ];
    let mut tables = Vec::new();
    for g in groups {
        if !cfg.wants(g.name) {
            continue;
        }
        let t = impls::table(&cfg, g.name, g.counts, g.make);
        t.print();
        for &threads in g.at {
            for &(label, a, b) in g.ratios {
                t.ratio(label, a, b, threads);
            }
        }
        println!();
        tables.push(t);
    }
    harness::finish(&cfg, &tables);
}
