//! A thread sweep of every way to count that adds: adds per second at 1, 2, … cores threads
//! and at 2× and 4× oversubscription. Prints a table and writes an SVG chart.
//!
//! ```text
//! cargo run --release --example contention                    # under a minute on 2 cores
//! cargo run --release --example contention -- --out chart.svg
//! cargo run --release --example contention -- --quick         # CI: the harness, no figures
//! ```
//!
//! Every point is measured by the thread-timed harness that `cargo bench --bench add` uses
//! (`benches/harness/mod.rs`): each thread times its own loop, ~100 ms of work per thread per
//! sample (`--ms`), and a point is the **median** of 5 interleaved repeats (`--repeats`),
//! drawn with a bar from the slowest to the fastest repeat. A run that fails the harness's
//! sanity check (more throughput with more threads than cores, where each thread works on its
//! own memory) draws no chart and exits 1.
//! The implementations are in `benches/impls/mod.rs`.

use plotters::prelude::*;
use std::time::Instant;

#[path = "../benches/harness/mod.rs"]
mod harness;
#[path = "../benches/impls/mod.rs"]
mod impls;

use harness::{Config, Table};

fn main() {
    let (cfg, extra) = Config::from_args_with("contention", &["--out"]);
    let out = extra
        .into_iter()
        .find(|(f, _)| f == "--out")
        .map_or_else(|| String::from("target/contention.svg"), |(_, v)| v);
    let cores = harness::cores();
    println!("{}\n", cfg.describe());
    let started = Instant::now();
    let table = impls::table(&cfg, "add", &impls::thread_counts(), impls::all);
    table.print();
    let two = 2.min(cores);
    table.ratio(
        "`Counter::add` / one shared atomic",
        "shardstat Counter::add",
        "AtomicU64::fetch_add",
        two,
    );
    let (violations, _) = table.oversubscription_violations();
    if !violations.is_empty() && !cfg.quick {
        println!("SANITY CHECK FAILED — no chart drawn:");
        violations.iter().for_each(|v| println!("  {v}"));
        std::process::exit(1);
    }
    match draw(&out, &table, &cfg) {
        Ok(()) => println!(
            "chart: {out}  ({:.0} s in all)",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("contention: could not write the chart {out}: {e}");
            std::process::exit(1);
        }
    }
    harness::finish(&cfg, std::slice::from_ref(&table));
}

/// A log-scale line chart: one line per implementation through its medians, threads on x,
/// and at each point a bar from the slowest to the fastest repeat. shardstat's lines are thick
/// and in strong colours, the peers' thin and muted; the legend sits in its own panel right of
/// the plot, with each implementation's median at 2 threads, the min–max of its repeats, and
/// its ratio to the shared atomic's median at 2 threads (all from this run).
fn draw(path: &str, table: &Table, cfg: &Config) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let cores = harness::cores();
    let counts = &table.counts;
    let m = |v: f64| v / 1e6;
    let root = SVGBackend::new(path, (1280, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, foot) = root.split_vertically(720);
    let (plot, legend) = top.split_horizontally(800);
    let all = table.rows.iter().flat_map(|(_, r)| r.iter());
    let max = all.clone().map(|s| m(s.max)).fold(1.0, f64::max);
    let min = all.map(|s| m(s.min)).fold(f64::MAX, f64::min).max(0.1);
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
        .y_desc("millions of adds per second (median; bar: min–max)")
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
    let two = 2.min(cores);
    let col = counts.iter().position(|&t| t == two).unwrap_or(0);
    let atomic = table.get("AtomicU64::fetch_add", two).map(|s| m(s.median));
    let (mut s, mut k) = (0, 0);
    let mut entries = Vec::new();
    for (name, row) in &table.rows {
        let ours = name.starts_with("shardstat");
        let (color, width) = if ours {
            s += 1;
            (strong[(s - 1) % strong.len()], 5)
        } else {
            k += 1;
            (muted[(k - 1) % muted.len()], 2)
        };
        chart.draw_series(LineSeries::new(
            row.iter().enumerate().map(|(i, st)| (i, m(st.median))),
            color.stroke_width(width),
        ))?;
        chart.draw_series(row.iter().enumerate().map(|(i, st)| {
            PathElement::new(vec![(i, m(st.min)), (i, m(st.max))], color.stroke_width(2))
        }))?;
        if ours {
            chart.draw_series(
                row.iter()
                    .enumerate()
                    .map(|(i, st)| Circle::new((i, m(st.median)), 5, color.filled())),
            )?;
        }
        let st = &row[col];
        let ratio = atomic.map(|a| m(st.median) / a);
        entries.push((name.clone(), color, width, ours, st.clone(), ratio));
    }

    // The legend panel: highest median at 2 threads first.
    entries.sort_by(|a, b| b.4.median.total_cmp(&a.4.median));
    legend.draw(&Text::new(
        format!("at {two} threads: median M adds/s (min–max),"),
        (10, 22),
        ("sans-serif", 17).into_font().style(FontStyle::Bold),
    ))?;
    legend.draw(&Text::new(
        "and × the shared AtomicU64's median".to_string(),
        (10, 42),
        ("sans-serif", 17).into_font().style(FontStyle::Bold),
    ))?;
    for (i, (name, color, width, ours, st, ratio)) in entries.iter().enumerate() {
        let y = 80 + 52 * i as i32;
        legend.draw(&PathElement::new(
            vec![(10, y), (46, y)],
            color.stroke_width(*width),
        ))?;
        let style = if *ours {
            ("sans-serif", 17).into_font().style(FontStyle::Bold)
        } else {
            ("sans-serif", 17).into_font()
        };
        legend.draw(&Text::new(name.clone(), (56, y - 10), style))?;
        let range = format!(
            "{} ({}–{})",
            harness::fmt(m(st.median)),
            harness::fmt(m(st.min)),
            harness::fmt(m(st.max))
        );
        let figures = match ratio {
            Some(r) => format!("{range}, {r:.1}×"),
            None => range,
        };
        legend.draw(&Text::new(
            figures,
            (56, y + 9),
            ("sans-serif", 15).into_font().color(&RGBColor(70, 70, 70)),
        ))?;
    }
    foot.draw(&Text::new(
        format!(
            "cargo run --release --example contention: {}",
            cfg.describe()
        ),
        (16, 12),
        ("sans-serif", 14).into_font().color(&RGBColor(70, 70, 70)),
    ))?;
    root.present()?;
    Ok(())
}
