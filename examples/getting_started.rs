//! A service's metrics with shardstat: 8 worker threads count requests per route with
//! `metrics::counter!` and record their latency with `metrics::histogram!`, then the program
//! serves `/metrics` for Prometheus. The README's "Getting started" shows this file, whole.
//!
//!     cargo run --release --features metrics --example getting_started   # serves :9899
//!     curl -s http://127.0.0.1:9899/metrics
//!
//! `.ci/prometheus-e2e.sh` runs it on another port (the first argument) and has a real
//! Prometheus scrape it: `sum(requests_total)` must be 800,000.

use shardstat::metrics::{Matcher, ShardstatRecorder};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Install the recorder once, at start-up. Histograms whose names end in `_seconds`
    // export these `le` bounds (others: Prometheus's default buckets).
    let bounds = [1e-6, 1e-5, 1e-4, 1e-3];
    let recorder = ShardstatRecorder::builder()
        .histogram_bounds(Matcher::Suffix("_seconds".into()), &bounds)?
        .build();
    metrics::set_global_recorder(recorder.clone())?;
    metrics::describe_counter!("requests", "Requests handled, by route.");
    metrics::describe_histogram!(
        "request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to handle a request, by route."
    );

    // The hot path: each call adds to the calling thread's own cells, with no lock and no
    // locked instruction, however many threads count the same route.
    let workers: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                for i in 0..100_000 {
                    let route = ["/", "/login", "/api/items"][i % 3];
                    let start = Instant::now();
                    handle(route);
                    metrics::counter!("requests", "route" => route).increment(1);
                    metrics::histogram!("request_duration_seconds", "route" => route)
                        .record(start.elapsed());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker panicked");
    }

    // Serve `/metrics` (a real service would use its HTTP framework's handler).
    let port = std::env::args().nth(1).unwrap_or_else(|| "9899".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    eprintln!("serving http://127.0.0.1:{port}/metrics");
    for stream in listener.incoming() {
        let mut stream = stream?;
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear(); // the request line and headers, up to the empty line
        }
        let body = recorder.render(); // OpenMetrics text
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; \
             charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
    }
    Ok(())
}

/// Stands in for the work a request does.
fn handle(route: &str) {
    std::hint::black_box(route.bytes().map(u64::from).sum::<u64>());
}
