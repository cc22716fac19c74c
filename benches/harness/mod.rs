//! The one timing harness of every multi-threaded benchmark (`benches/add.rs`,
//! `benches/recorder.rs`, `benches/histogram.rs`) and of the chart
//! (`examples/contention.rs`, which includes this file with `#[path]`).
//!
//! How it measures, and why (docs/performance.md, "How the figures are made"):
//!
//! - **The threads time themselves.** Every worker waits at a start line, then takes its own
//!   start time, runs its loop, and takes its own end time. A sample's interval is the first
//!   start to the last end. The main thread takes no part: with more threads than cores it is
//!   one of many woken waiters and may run last, after most workers have finished (a
//!   main-thread clock once made 64 threads on 2 cores look 2.4× faster than 2 threads).
//! - **Enough work per sample.** Each case is calibrated first, so that every thread does
//!   about `--ms` milliseconds of its own work per sample (100 by default; with more threads
//!   than cores, the interval is that much longer), many scheduler slices.
//! - **Interleaved repeats.** Every case at a thread count is run once, in turn, then again,
//!   `--repeats` times (5 by default): a slow minute of the machine hits every case alike.
//! - **One estimator.** A case's figure is the **median** of its repeats' throughputs
//!   (operations over all threads divided by the interval), printed with the **min–max** of
//!   the repeats. Every ratio the benchmarks print is computed here, from the same run's
//!   medians.
//! - **A sanity check.** With more threads than cores, work on a thread's own memory cannot
//!   go faster than with one thread per core: a case whose median at N > cores threads is
//!   above its best repeat at `cores` threads by more than the noise (the spread of those
//!   repeats, and at least a tenth) is reported, and the run ends with exit status 1 (in
//!   `--quick` mode it is only reported): such a run is not to be published. Cases bound by
//!   one shared line or lock can legitimately do more when oversubscribed; theirs are notes
//!   (`Table::oversubscription_violations` says why).
//! - **Nothing lost.** A case that can say its total is checked against the operations the
//!   harness ran, after every repeat.
//! - **Checked itself.** `--quick` (CI's short mode) first runs `self_test`: the sanity check
//!   must flag the artifact it is for and pass a run within its noise.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The logical CPUs this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The CPU's model name (from `/proc/cpuinfo` where there is one), for every table's header.
pub fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".to_string())
}

/// How a benchmark run is configured, from its command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// Each thread's own work per sample.
    pub work: Duration,
    /// Repeats of every case (the median is taken over them).
    pub repeats: usize,
    /// CI's short mode: 20 ms samples, 3 repeats, figures not for publishing, the sanity
    /// check reported but not fatal.
    pub quick: bool,
    /// Only these groups (exact names, from a comma-separated argument).
    pub filter: Option<Vec<String>>,
}

impl Config {
    /// Parses `[--quick] [--ms MILLIS] [--repeats N] [FILTER]` (and ignores `--bench`, which
    /// `cargo bench` passes). Exits with a usage message on anything else.
    pub fn from_args(program: &str) -> Config {
        Config::from_args_with(program, &[]).0
    }

    /// As `from_args`, and also takes the program's own `extra` flags, each with a value:
    /// returns them as (flag, value) pairs.
    pub fn from_args_with(program: &str, extra: &[&str]) -> (Config, Vec<(String, String)>) {
        let usage = |problem: &str| -> ! {
            eprintln!("{program}: {problem}");
            let extra: String = extra.iter().map(|f| format!(" [{f} VALUE]")).collect();
            eprintln!(
                "usage: {program} [--quick] [--ms MILLIS (each thread's work per sample, 100)] \
                 [--repeats N (5)]{extra} [GROUP[,GROUP…]]"
            );
            std::process::exit(2)
        };
        let mut extras = Vec::new();
        let mut cfg = Config {
            work: Duration::from_millis(100),
            repeats: 5,
            quick: false,
            filter: None,
        };
        let (mut ms, mut repeats) = (None, None);
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |flag: &str| -> u64 {
                let v = args
                    .next()
                    .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
                match v.parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => usage(&format!("{flag} must be a whole number above 0, not {v:?}")),
                }
            };
            match arg.as_str() {
                "--bench" => {}
                "--quick" => cfg.quick = true,
                "--ms" => ms = Some(number("--ms")),
                "--repeats" => repeats = Some(number("--repeats")),
                "-h" | "--help" => usage("thread-timed throughput, median of repeats"),
                flag if extra.contains(&flag) => {
                    let v = args
                        .next()
                        .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
                    extras.push((flag.to_string(), v));
                }
                flag if flag.starts_with('-') => usage(&format!("unknown option {flag:?}")),
                groups => cfg.filter = Some(groups.split(',').map(str::to_string).collect()),
            }
        }
        if cfg.quick {
            cfg.work = Duration::from_millis(20);
            cfg.repeats = 3;
            self_test();
        }
        if let Some(ms) = ms {
            cfg.work = Duration::from_millis(ms);
        }
        if let Some(r) = repeats {
            cfg.repeats = r as usize;
        }
        (cfg, extras)
    }

    /// Whether the group `name` is to run.
    pub fn wants(&self, name: &str) -> bool {
        self.filter
            .as_ref()
            .map_or(true, |groups| groups.iter().any(|g| g == name))
    }

    /// The line that says how the figures were made.
    pub fn describe(&self) -> String {
        format!(
            "{} logical CPUs of {}; each thread timed by itself, ~{} ms of work per thread per sample, \
             median (min–max) of {} interleaved repeats{}",
            cores(),
            machine(),
            self.work.as_millis(),
            self.repeats,
            if self.quick {
                " — QUICK MODE: not figures to publish"
            } else {
                ""
            }
        )
    }
}

/// Runs `work(t)` on threads `t = 0..threads`, started together from a start line; each
/// thread times its own call. Returns the interval from the first thread's start to the last
/// thread's end.
///
/// The start line spins (yielding the CPU while it waits, so that threads not yet running get
/// to it): a blocking barrier wakes its waiters one by one through the kernel, and on this
/// kind of guest a waiter woken on an idle vCPU started up to milliseconds after the last
/// arrival, which the interval then counted as time with one core idle.
pub fn thread_timed(threads: usize, work: &(dyn Fn(usize) + Sync)) -> Duration {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let arrived = AtomicUsize::new(0);
    let stamps: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let arrived = &arrived;
                s.spawn(move || {
                    arrived.fetch_add(1, Ordering::AcqRel);
                    let mut spins = 0u32;
                    while arrived.load(Ordering::Acquire) < threads {
                        spins += 1;
                        if spins % 64 == 0 {
                            std::thread::yield_now();
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                    let start = Instant::now();
                    work(t);
                    (start, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let first = stamps
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let last = stamps
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    last - first
}

/// Runs `n` operations on thread `t` (its index).
pub type Run<'a> = Box<dyn Fn(usize, u64) + Sync + 'a>;

/// One thing to measure.
pub struct Case<'a> {
    /// Its label in the tables.
    pub name: String,
    run: Run<'a>,
    total: Option<Box<dyn Fn() -> u64 + 'a>>,
    shared: bool,
}

impl<'a> Case<'a> {
    /// A case that runs `run(thread, n)`: `n` operations on thread `thread`.
    pub fn new(name: impl Into<String>, run: impl Fn(usize, u64) + Sync + 'a) -> Case<'a> {
        Case {
            name: name.into(),
            run: Box::new(run),
            total: None,
            shared: false,
        }
    }

    /// Marks the case as bound by one line or lock that every thread writes (a shared
    /// atomic, a mutex, a registry's lock word): the sanity check only reports it (see
    /// `Table::oversubscription_violations`).
    pub fn shared(mut self, shared: bool) -> Case<'a> {
        self.shared = shared;
        self
    }

    /// The case's running total, which the harness checks against the operations it ran.
    pub fn with_total(mut self, total: impl Fn() -> u64 + 'a) -> Case<'a> {
        self.total = Some(Box::new(total));
        self
    }
}

/// The repeats' throughputs of one case at one thread count, in operations per second.
#[derive(Clone, Debug)]
pub struct Stats {
    /// The median: the figure.
    pub median: f64,
    /// The slowest repeat.
    pub min: f64,
    /// The fastest repeat.
    pub max: f64,
}

impl Stats {
    fn of(mut rates: Vec<f64>) -> Stats {
        rates.sort_by(f64::total_cmp);
        let n = rates.len();
        let median = if n % 2 == 1 {
            rates[n / 2]
        } else {
            (rates[n / 2 - 1] + rates[n / 2]) / 2.0
        };
        Stats {
            median,
            min: rates[0],
            max: rates[n - 1],
        }
    }
}

/// Measures every case at `threads` threads: calibrates each, then runs `cfg.repeats`
/// rounds, every case once per round in turn. Returns each case's statistics, in order.
pub fn measure(cfg: &Config, threads: usize, cases: &[Case<'_>]) -> Vec<Stats> {
    let running = threads.min(cores()) as f64;
    let mut done = vec![0u64; cases.len()];
    let mut run = |k: usize, n: u64| -> Duration {
        let work = &cases[k].run;
        let took = thread_timed(threads, &|t| work(t, n));
        done[k] += threads as u64 * n;
        if let Some(total) = &cases[k].total {
            let total = total();
            assert_eq!(
                total, done[k],
                "{} at {threads} threads: the total is {total}, but {} operations ran",
                cases[k].name, done[k]
            );
        }
        took
    };
    // Calibrate: grow n until a sample takes at least a tenth of the work, then size it so
    // each thread works about `cfg.work` (a thread's rate is the total over the threads that
    // can run at once).
    let sizes: Vec<u64> = (0..cases.len())
        .map(|k| {
            let mut n = 1_000u64;
            loop {
                let took = run(k, n);
                if took >= cfg.work / 10 || n >= 1 << 40 {
                    let per_thread_rate =
                        (threads as u64 * n) as f64 / took.as_secs_f64() / running;
                    break (per_thread_rate * cfg.work.as_secs_f64()).max(1.0) as u64;
                }
                n *= 4;
            }
        })
        .collect();
    let mut rates = vec![Vec::with_capacity(cfg.repeats); cases.len()];
    for _ in 0..cfg.repeats {
        for (k, &n) in sizes.iter().enumerate() {
            let took = run(k, n);
            rates[k].push((threads as u64 * n) as f64 / took.as_secs_f64());
        }
    }
    rates.into_iter().map(Stats::of).collect()
}

/// A figure with about three significant digits.
pub fn fmt(v: f64) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    // Thousands separators for the integer part.
    let (int, frac) = s.split_at(s.find('.').unwrap_or(s.len()));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out + frac
}

/// One benchmark group's results: cases × thread counts, throughput in millions per second.
pub struct Table {
    /// The group's name (`add`, `add-percpu`, …).
    pub group: String,
    /// What a figure counts, as "M adds/s".
    pub unit: String,
    /// The thread counts, in column order.
    pub counts: Vec<usize>,
    /// Each case's name and its statistics per thread count (ops/s).
    pub rows: Vec<(String, Vec<Stats>)>,
    /// The cases marked `Case::shared`.
    pub shared: Vec<String>,
}

impl Table {
    /// An empty table for `group`, whose figures count `unit` ("M adds/s").
    pub fn new(group: &str, unit: &str) -> Table {
        Table {
            group: group.to_string(),
            unit: unit.to_string(),
            counts: Vec::new(),
            rows: Vec::new(),
            shared: Vec::new(),
        }
    }

    /// Measures `cases` at `threads` threads (`measure`) as the table's next column.
    pub fn measure(&mut self, cfg: &Config, threads: usize, cases: &[Case<'_>]) {
        eprintln!("{}: {threads} threads …", self.group);
        let col = self.counts.len();
        self.counts.push(threads);
        for (case, s) in cases.iter().zip(measure(cfg, threads, cases)) {
            if case.shared && !self.shared.contains(&case.name) {
                self.shared.push(case.name.clone());
            }
            match self.rows.iter_mut().find(|(n, _)| *n == case.name) {
                Some((_, row)) => row.push(s),
                None => self.rows.push((case.name.clone(), vec![s])),
            }
            let row = &self.rows.iter().find(|(n, _)| *n == case.name).unwrap().1;
            assert_eq!(
                row.len(),
                col + 1,
                "{}: every case in every column",
                case.name
            );
        }
    }

    /// The statistics of case `name` at `threads` threads.
    pub fn get(&self, name: &str, threads: usize) -> Option<&Stats> {
        let col = self.counts.iter().position(|&t| t == threads)?;
        self.rows
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, r)| r.get(col))
    }

    /// The median of case `name` at `threads` threads, in millions per second.
    pub fn median(&self, name: &str, threads: usize) -> f64 {
        self.get(name, threads)
            .unwrap_or_else(|| panic!("{}: no figure for {name} at {threads} threads", self.group))
            .median
            / 1e6
    }

    /// Prints the table in Markdown: median (min–max) per cell, millions per second.
    pub fn print(&self) {
        println!("### {} ({})\n", self.group, self.unit);
        println!(
            "| case | {} |",
            self.counts
                .iter()
                .map(|t| format!("{t} thr"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!("|---|{}", "---:|".repeat(self.counts.len()));
        for (name, row) in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|s| {
                    format!(
                        "{} ({}–{})",
                        fmt(s.median / 1e6),
                        fmt(s.min / 1e6),
                        fmt(s.max / 1e6)
                    )
                })
                .collect();
            println!("| {name} | {} |", cells.join(" | "));
        }
        println!();
    }

    /// Prints `label: a / b = r×` from this run's medians at `threads` threads, and returns r.
    pub fn ratio(&self, label: &str, a: &str, b: &str, threads: usize) -> f64 {
        let (x, y) = (self.median(a, threads), self.median(b, threads));
        println!(
            "- {label} ({threads} thr): {} / {} = **{:.2}×**",
            fmt(x),
            fmt(y),
            x / y
        );
        x / y
    }

    /// The sanity check: every case whose median at more threads than cores is above its
    /// best repeat at `cores` threads by more than the noise, the larger of the spread (max −
    /// min) of the repeats at `cores` threads and a tenth of their median. Only the reference
    /// column's spread counts: a noisy oversubscribed column must not excuse itself (the
    /// artifact this check is for came with a wide spread); the tenth is what a run's repeats,
    /// seconds apart, do not show of the noise between runs.
    ///
    /// A case that works on its own memory (a per-thread or per-CPU shard) cannot do more
    /// with more threads than cores: a violation there is an artifact, and fails the run. A
    /// case marked `Case::shared` (one line or lock every thread writes) can: a waiter that
    /// sleeps on a lock leaves its core to a thread that then runs uncontended, and a shared
    /// atomic's line moves less when threads are preempted (`prometheus-client`'s mutex-based
    /// `observe` did 44% more at 4 threads than at 2 on 2 cores; a shared `fetch_add` 10–17%
    /// more in short runs). Those are reported as notes, not failures. Returns
    /// `(failures, notes)`.
    pub fn oversubscription_violations(&self) -> (Vec<String>, Vec<String>) {
        self.violations_on(cores())
    }

    /// `oversubscription_violations` for a machine of `cores` cores.
    fn violations_on(&self, cores: usize) -> (Vec<String>, Vec<String>) {
        let Some(at_cores) = self.counts.iter().position(|&t| t == cores) else {
            return (Vec::new(), Vec::new());
        };
        let (mut failures, mut notes) = (Vec::new(), Vec::new());
        for (name, row) in &self.rows {
            for (col, &threads) in self.counts.iter().enumerate() {
                let (best, here) = (&row[at_cores], &row[col]);
                let noise = (best.max - best.min).max(best.median / 10.0);
                if threads > cores && here.median > best.max + noise {
                    let shared = self.shared.contains(name);
                    let line = format!(
                        "{}: {name}: median {} at {threads} threads is above {} at {cores} \
                         threads ({}–{}) by more than the noise ({}){}",
                        self.group,
                        fmt(here.median / 1e6),
                        fmt(best.median / 1e6),
                        fmt(best.min / 1e6),
                        fmt(best.max / 1e6),
                        fmt(noise / 1e6),
                        if shared {
                            " (a shared line or lock: possible, not checked)"
                        } else {
                            ": more work than the cores can do, not a figure to publish"
                        }
                    );
                    if shared {
                        notes.push(line)
                    } else {
                        failures.push(line)
                    }
                }
            }
        }
        (failures, notes)
    }
}

/// Checks the harness's own arithmetic and its sanity check on made-up tables (every
/// `--quick` run starts with it, so CI runs it): panics if the check would pass the
/// artifact it exists for, or flag a run within its noise.
pub fn self_test() {
    let flat = |m: f64| Stats {
        median: m * 1e6,
        min: m * 1e6,
        max: m * 1e6,
    };
    let spread = |lo: f64, m: f64, hi: f64| Stats {
        median: m * 1e6,
        min: lo * 1e6,
        max: hi * 1e6,
    };
    // The published per-CPU table that a main-thread clock made (2 cores): 64 threads beat 2.
    let artifact = Table {
        group: "self-test".into(),
        unit: "M adds/s".into(),
        counts: vec![1, 2, 64],
        rows: vec![
            (
                "per-thread".into(),
                vec![flat(296.0), flat(572.0), spread(651.0, 775.0, 1021.0)],
            ),
            (
                "per-CPU".into(),
                vec![
                    flat(250.0),
                    spread(489.0, 500.0, 509.0),
                    spread(708.0, 856.0, 1111.0),
                ],
            ),
        ],
        shared: Vec::new(),
    };
    let (failures, _) = artifact.violations_on(2);
    assert_eq!(failures.len(), 2, "the check must flag the artifact");
    // Within the noise: a per-thread add 8% faster oversubscribed, with a tight spread. A
    // shared mutex 44% faster: only a note.
    let noise = Table {
        group: "self-test".into(),
        unit: "M adds/s".into(),
        counts: vec![1, 2, 4, 8],
        rows: vec![
            (
                "per-thread".into(),
                vec![
                    flat(380.0),
                    spread(700.0, 705.0, 710.0),
                    flat(760.0),
                    flat(700.0),
                ],
            ),
            (
                "mutex".into(),
                vec![flat(44.4), spread(16.4, 16.9, 17.2), flat(24.4), flat(17.0)],
            ),
        ],
        shared: vec!["mutex".into()],
    };
    let (failures, notes) = noise.violations_on(2);
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(notes.len(), 1, "{notes:?}");
    // Medians of odd and even counts; min and max.
    let s = Stats::of(vec![3.0, 1.0, 2.0]);
    assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    assert_eq!(Stats::of(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
    // The interval runs from the first thread's start to the last thread's end: a thread that
    // works 30 ms makes it at least that long, whichever thread it is.
    for slow in [0, 3] {
        let took = thread_timed(4, &|t| {
            if t == slow {
                std::thread::sleep(Duration::from_millis(30));
            }
        });
        assert!(took >= Duration::from_millis(30), "interval {took:?}");
    }
    assert_eq!(fmt(1234.4), "1,234");
    assert_eq!(fmt(56.78), "56.8");
    println!("harness self-test passed\n");
}

/// Prints the sanity check's verdict over `tables`; outside quick mode, exits with status 1
/// if a case that works on its own memory broke it (after everything was printed).
pub fn finish(cfg: &Config, tables: &[Table]) {
    let (mut failures, mut notes) = (Vec::new(), Vec::new());
    for t in tables {
        let (f, n) = t.oversubscription_violations();
        failures.extend(f);
        notes.extend(n);
    }
    for n in &notes {
        println!("note: {n}");
    }
    if failures.is_empty() {
        println!(
            "sanity check passed: no case on its own memory has a median at more threads than \
             the {} cores above the best repeat at {} threads by more than the noise",
            cores(),
            cores()
        );
        return;
    }
    println!("SANITY CHECK FAILED — do not publish this run:");
    for f in &failures {
        println!("  {f}");
    }
    if !cfg.quick {
        std::process::exit(1);
    }
}
