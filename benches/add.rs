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

use harness::{Config, Table};

fn main() {
    let cfg = Config::from_args("add");
    println!("{}\n", cfg.describe());
    let cores = harness::cores();
    let counts = impls::thread_counts();
    let mut tables = Vec::new();

    if cfg.wants("add") {
        let mut t = Table::new("add", "M adds/s");
        for &threads in &counts {
            let imps = impls::all(threads);
            t.measure(&cfg, threads, &impls::cases(&imps));
        }
        t.print();
        let two = 2.min(cores);
        t.ratio(
            "`Counter::add` / one shared atomic",
            "shardstat Counter::add",
            "AtomicU64::fetch_add",
            two,
        );
        t.ratio(
            "`Counter::add` / hytra",
            "shardstat Counter::add",
            "hytra TrAdder",
            two,
        );
        t.ratio(
            "`Counter::add` / a thread-local `Cell` in memory",
            "shardstat Counter::add",
            "thread-local Cell, in memory",
            two,
        );
        t.ratio(
            "`LocalCounter::add` / a thread-local `Cell` in memory",
            "shardstat LocalCounter::add",
            "thread-local Cell, in memory",
            two,
        );
        println!();
        tables.push(t);
    }

    if cfg.wants("add-15-counters") {
        let mut t = Table::new("add-15-counters", "M adds/s");
        for &threads in &counts {
            let imps = impls::many();
            t.measure(&cfg, threads, &impls::cases(&imps));
        }
        t.print();
        let two = 2.min(cores);
        t.ratio(
            "15 `Counter`s / 15 shared atomics",
            "shardstat 15 Counters",
            "15 AtomicU64s, fetch_add",
            two,
        );
        t.ratio(
            "15 `Counter`s / 15 thread-local `Cell`s",
            "shardstat 15 Counters",
            "15 thread-local Cells, in memory",
            two,
        );
        println!();
        tables.push(t);
    }

    if cfg.wants("add-approx") {
        let mut t = Table::new("add-approx", "M adds/s");
        for &threads in &counts {
            let imps = impls::limits();
            t.measure(&cfg, threads, &impls::cases(&imps));
        }
        t.print();
        let two = 2.min(cores);
        t.ratio(
            "`ApproxCounter::add` / `Counter::add`",
            "shardstat ApproxCounter::add",
            "shardstat Counter::add",
            two,
        );
        t.ratio(
            "`limited_add` / `Counter::add`",
            "shardstat ApproxCounter::limited_add",
            "shardstat Counter::add",
            two,
        );
        t.ratio(
            "`limited_add` / a shared atomic's `fetch_update` with the limit",
            "shardstat ApproxCounter::limited_add",
            "AtomicU64::fetch_update (limit)",
            two,
        );
        println!();
        tables.push(t);
    }

    if cfg.wants("add-percpu") {
        let mut counts = vec![1, cores, 64];
        counts.dedup();
        let mut t = Table::new("add-percpu", "M adds/s");
        for &threads in &counts {
            let imps = impls::per_cpu();
            t.measure(&cfg, threads, &impls::cases(&imps));
        }
        t.print();
        for threads in [cores, 64] {
            t.ratio(
                "per-CPU / per-thread",
                "shardstat percpu::Counter::add",
                "shardstat Counter::add",
                threads,
            );
            t.ratio(
                "per-CPU / one shared atomic",
                "shardstat percpu::Counter::add",
                "AtomicU64::fetch_add",
                threads,
            );
        }
        println!();
        tables.push(t);
    }

    harness::finish(&cfg, &tables);
}
