//! A quick thread sweep, no criterion needed: adds per second for every way to count, at
//! 1, 2, … cores threads and at 2× and 4× oversubscription. Prints a table and writes an SVG
//! chart.
//!
//! ```text
//! cargo run --release --example contention                    # ~1 minute on 2 cores
//! cargo run --release --example contention -- --ms 100 --out chart.svg
//! ```
//!
//! Each cell is the best of 3 runs of `--ms` milliseconds (default 300), in millions of adds
//! per second over all threads. The implementations are in `benches/impls/mod.rs`, shared
//! with the criterion benchmarks (`cargo bench --bench add`).

use plotters::prelude::*;
use std::time::{Duration, Instant};

#[path = "../benches/impls/mod.rs"]
mod impls;

fn usage(problem: &str) -> ! {
    eprintln!("contention: {problem}");
    eprintln!("usage: cargo run --release --example contention -- [--ms MILLIS] [--out FILE.svg]");
    std::process::exit(2);
}

/// Adds per second of `imp` on `threads` threads, measured for about `budget`.
fn measure(imp: &dyn impls::Impl, threads: usize, budget: Duration) -> f64 {
    // Calibrate: grow the per-thread count until one run takes at least a tenth of the budget.
    let mut per_thread = 10_000u64;
    let mut took = impls::timed_run(imp, threads, per_thread);
    while took < budget / 10 {
        per_thread *= 4;
        took = impls::timed_run(imp, threads, per_thread);
    }
    let per_thread =
        (per_thread as f64 * budget.as_secs_f64() / took.as_secs_f64()).max(1.0) as u64;
    (0..3)
        .map(|_| {
            let t = impls::timed_run(imp, threads, per_thread);
            (threads as u64 * per_thread) as f64 / t.as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn main() {
    let mut budget = Duration::from_millis(300);
    let mut out = String::from("target/contention.svg");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--ms" => {
                let v = args.next().unwrap_or_else(|| usage("--ms needs a value"));
                match v.parse::<u64>() {
                    Ok(ms) if ms > 0 => budget = Duration::from_millis(ms),
                    _ => usage(&format!("--ms must be a whole number above 0, not {v:?}")),
                }
            }
            "--out" => {
                out = args
                    .next()
                    .unwrap_or_else(|| usage("--out needs a file name"))
            }
            "-h" | "--help" => usage("a thread sweep of every counter implementation"),
            other => usage(&format!("unknown option {other:?}")),
        }
    }

    let counts = impls::thread_counts();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "M adds/s over all threads ({cores} cores; best of 3 runs of {} ms)\n",
        budget.as_millis()
    );
    print!("{:<34}", "threads");
    for t in &counts {
        print!("{t:>10}");
    }
    println!();

    let started = Instant::now();
    let mut rows: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for imp in impls::all() {
        print!("{:<34}", imp.name());
        let mut row = Vec::new();
        for &threads in &counts {
            let rate = measure(&*imp, threads, budget) / 1e6;
            print!("{rate:>10.1}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
            row.push(rate);
        }
        println!();
        rows.push((imp.name(), row));
    }

    let col = |name: &str, threads: usize| {
        let i = counts.iter().position(|&t| t == threads)?;
        rows.iter().find(|(n, _)| *n == name).map(|(_, r)| r[i])
    };
    if let (Some(atomic), Some(ours)) = (
        col("AtomicU64::fetch_add", cores.min(2)),
        col("shardstat Counter::add", cores.min(2)),
    ) {
        println!(
            "\nat {} threads, shardstat Counter::add does {:.1}x the adds of one shared AtomicU64",
            cores.min(2),
            ours / atomic
        );
    }

    match draw(&out, &counts, &rows) {
        Ok(()) => println!(
            "chart: {out}  ({:.0} s in all)",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("contention: could not write the chart {out}: {e}");
            std::process::exit(1);
        }
    }
}

/// A log-scale line chart: one line per implementation, threads on x. shardstat's lines are
/// thick and in strong colours, the peers' thin and muted; the legend sits in its own panel
/// right of the plot, with each implementation's ratio to the shared atomic at 2 threads.
fn draw(
    path: &str,
    counts: &[usize],
    rows: &[(&'static str, Vec<f64>)],
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let root = SVGBackend::new(path, (1280, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(800);
    let max = rows
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(1.0, f64::max);
    let min = rows
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(f64::MAX, f64::min)
        .max(0.1);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!("adds per second over all threads ({cores} cores; log scale)"),
            ("sans-serif", 24),
        )
        .margin(16)
        .margin_right(28)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(0..counts.len() - 1, (min / 2.0..max * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(counts.len())
        .x_label_formatter(&|i| counts[*i].to_string())
        .x_desc(if counts.iter().any(|&t| t > cores) {
            format!("threads (more than {cores}: oversubscribed)")
        } else {
            "threads".to_string()
        })
        .y_desc("millions of adds per second")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    // shardstat: strong, thick; peers and references: muted, thin.
    let strong = [
        RGBColor(200, 30, 30),
        RGBColor(20, 90, 200),
        RGBColor(0, 140, 60),
        RGBColor(150, 40, 170),
    ];
    let muted = [
        RGBColor(120, 120, 120),
        RGBColor(190, 140, 60),
        RGBColor(90, 160, 170),
        RGBColor(170, 110, 140),
        RGBColor(140, 150, 80),
        RGBColor(100, 100, 170),
        RGBColor(60, 60, 60),
        RGBColor(200, 170, 120),
    ];
    let two = counts.iter().position(|&t| t == 2.min(cores)).unwrap_or(0);
    let atomic_at_two = rows
        .iter()
        .find(|(n, _)| *n == "AtomicU64::fetch_add")
        .map(|(_, r)| r[two]);
    let (mut s, mut m) = (0, 0);
    let mut entries = Vec::new();
    for (name, row) in rows {
        let ours = name.starts_with("shardstat");
        let (color, width) = if ours {
            s += 1;
            (strong[(s - 1) % strong.len()], 5)
        } else {
            m += 1;
            (muted[(m - 1) % muted.len()], 2)
        };
        chart.draw_series(LineSeries::new(
            row.iter().enumerate().map(|(i, &v)| (i, v.max(min))),
            color.stroke_width(width),
        ))?;
        if ours {
            chart.draw_series(
                row.iter()
                    .enumerate()
                    .map(|(i, &v)| Circle::new((i, v.max(min)), 5, color.filled())),
            )?;
        }
        let ratio = atomic_at_two.map(|a| row[two] / a);
        entries.push((*name, color, width, ours, row[two], ratio));
    }

    // The legend panel: best at 2 threads first, with the ratio to the shared atomic.
    entries.sort_by(|a, b| b.4.total_cmp(&a.4));
    legend.draw(&Text::new(
        format!(
            "at {} threads: M adds/s, and × one shared AtomicU64",
            2.min(cores)
        ),
        (10, 30),
        ("sans-serif", 17).into_font().style(FontStyle::Bold),
    ))?;
    for (k, (name, color, width, ours, rate, ratio)) in entries.iter().enumerate() {
        let y = 64 + 44 * k as i32;
        legend.draw(&PathElement::new(
            vec![(10, y), (46, y)],
            color.stroke_width(*width),
        ))?;
        let style = if *ours {
            ("sans-serif", 17).into_font().style(FontStyle::Bold)
        } else {
            ("sans-serif", 17).into_font()
        };
        legend.draw(&Text::new(name.to_string(), (56, y - 10), style.clone()))?;
        let figures = match ratio {
            Some(r) => format!("{rate:.0} M/s, {r:.1}×"),
            None => format!("{rate:.0} M/s"),
        };
        legend.draw(&Text::new(
            figures,
            (56, y + 9),
            ("sans-serif", 15).into_font().color(&RGBColor(70, 70, 70)),
        ))?;
    }
    root.present()?;
    Ok(())
}
