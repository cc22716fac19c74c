//! shardstat counters scraped by Prometheus: serves `/metrics` on a loopback port while
//! threads count, in the OpenMetrics text format written by `prometheus-client`'s encoder.
//!
//! ```text
//! cargo run --release --features prometheus-client,metrics --example prometheus
//! curl -s http://127.0.0.1:9898/metrics
//! cargo run --release --features prometheus-client,metrics --example prometheus -- --once
//! ```
//!
//! It exposes a `MigrationStats` group (labelled `vm="demo"`, one family per field, help
//! from the field docs), a standalone `Counter`, a `Max` and a `Histogram` of packet sizes,
//! and counters, a gauge and a histogram of send times made through the `metrics` facade
//! with shardstat's recorder. After a fixed workload, the gauge `demo_send_seconds_p90` is
//! the send-time histogram's snapshot p90, which `.ci/prometheus-e2e.sh` compares with
//! Prometheus's `histogram_quantile(0.9, …)` over the exported buckets. The recorder keeps
//! at most `LOGIN_LIMIT` (100) label sets per metric, and `demo_logins` is counted for 150
//! users: the last 50 count in its `overflow="true"` series, so Prometheus's
//! `sum(demo_logins_total)` is still every login (`.ci/prometheus-e2e.sh` checks it).
//!
//! Options: `--port N` (default 9898), `--once` (count a fixed workload, print one
//! exposition to stdout, exit), `--settle` (count the fixed workload, then serve without
//! counting more, so a scraper sees stable values: what `.ci/prometheus-e2e.sh` uses),
//! `--seconds N` (stop serving after N seconds; default: serve until killed), and
//! `--openmetrics` (with `--once`: print OpenMetrics instead of the Prometheus 0.0.4 text
//! that `promtool check metrics` reads). The server answers in OpenMetrics when the scraper
//! asks for it (Prometheus does), and in the 0.0.4 text otherwise.

use prometheus_client::registry::Registry;
use shardstat::metrics::ShardstatRecorder;
use shardstat::migration::MigrationStats;
use shardstat::{prometheus, Counter, Histogram, Max};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static MIGRATION: MigrationStats = MigrationStats::new();
static PACKETS: Counter = Counter::new();
static LARGEST_PACKET: Max = Max::new();
static PACKET_BYTES: Histogram = Histogram::new();
static PACKETS_PER_CPU: shardstat::percpu::Counter = shardstat::percpu::Counter::new();
static BYTES_BUDGETED: shardstat::ApproxCounter<4096> = shardstat::ApproxCounter::new();

const USAGE: &str = "usage: cargo run --release --features prometheus-client,metrics \
--example prometheus -- [--port N] [--once [--openmetrics] | --settle] [--seconds N]";

struct Options {
    port: u16,
    once: bool,
    settle: bool,
    seconds: Option<u64>,
    openmetrics: bool,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        port: 9898,
        once: false,
        settle: false,
        seconds: None,
        openmetrics: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                o.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number (1-65535)"))?;
                if o.port == 0 {
                    return Err("--port must not be 0".into());
                }
            }
            "--seconds" => {
                let v = value()?;
                o.seconds = Some(
                    v.parse()
                        .map_err(|_| format!("--seconds: {v:?} is not a whole number"))?,
                );
            }
            "--once" => o.once = true,
            "--settle" => o.settle = true,
            "--openmetrics" => o.openmetrics = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if o.once && o.settle {
        return Err("--once and --settle exclude each other".into());
    }
    Ok(o)
}

/// The fixed workload: 2 sender threads, 1,000 packets each.
fn fixed_workload() {
    std::thread::scope(|s| {
        for channel in 0..2u64 {
            s.spawn(move || sender(channel, 1000, &AtomicBool::new(false)));
        }
    });
}

/// One sender: counts `packets` packets (or until `stop`, when `packets` is 0).
fn sender(channel: u64, packets: u64, stop: &AtomicBool) {
    let local = MIGRATION.local();
    let sent = metrics::counter!("demo_packets_sent", "channel" => channel.to_string());
    let send_time = metrics::histogram!("demo_send_seconds");
    let mut i = 0u64;
    while (packets == 0 || i < packets) && !stop.load(Ordering::Relaxed) {
        let zero = (i + channel) % 4;
        let normal = 128 - zero;
        local.multifd_packet_sent(normal * 4096 + 64, normal, zero);
        PACKETS.inc();
        LARGEST_PACKET.record(normal * 4096 + 64);
        PACKET_BYTES.record(normal * 4096 + 64);
        PACKETS_PER_CPU.inc();
        BYTES_BUDGETED.add(normal * 4096 + 64);
        sent.increment(1);
        // A made-up send time between 0.1 ms and 100 ms, spread over the range.
        send_time.record(1e-4 * (1 + (i * 7919 + channel * 104_729) % 1000) as f64);
        i += 1;
        if packets == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn registry(recorder: &ShardstatRecorder) -> Result<Registry, prometheus::MetricError> {
    let mut registry = Registry::default();
    prometheus::register_group_with_labels(
        &mut registry,
        "demo_migration",
        &[("vm", "demo")],
        &MIGRATION,
    )?;
    prometheus::register(
        &mut registry,
        "demo_packets",
        "Packets counted by a standalone shardstat Counter.",
        &PACKETS,
    )?;
    prometheus::register(
        &mut registry,
        "demo_largest_packet_bytes",
        "The largest packet, by a shardstat Max.",
        &LARGEST_PACKET,
    )?;
    prometheus::register(
        &mut registry,
        "demo_packet_bytes",
        "Packet sizes, by a shardstat Histogram.",
        &PACKET_BYTES,
    )?;
    prometheus::register(
        &mut registry,
        "demo_packets_per_cpu",
        "Packets counted by a per-CPU shardstat Counter.",
        &PACKETS_PER_CPU,
    )?;
    prometheus::register(
        &mut registry,
        "demo_bytes_budgeted",
        "Bytes counted by a shardstat ApproxCounter (exported exactly).",
        &BYTES_BUDGETED,
    )?;
    registry.register_collector(Box::new(recorder.collector()));
    Ok(registry)
}

/// Names and labels Prometheus would not take as given (issue 24), each rewritten by the
/// recorder's naming rules and listed in its `problems()`: labels that sanitise alike, a
/// family name that a counter and a gauge both want, a label with an empty value, a user
/// `le` on a histogram, a help text with a backslash. `.ci/prometheus-e2e.sh` checks that a
/// real Prometheus scrapes them (`up == 1`) and stores their exact values.
fn unlucky_names() {
    metrics::describe_counter!("demo.unlucky", r"Counted in C:\new, from two spellings.");
    metrics::counter!("demo.unlucky", "x.y" => "1", "x_y" => "2").increment(5);
    metrics::describe_gauge!("demo_unlucky", "A gauge that wants the counter's name.");
    metrics::gauge!("demo_unlucky").set(7.0);
    metrics::describe_counter!("demo_empty_label", "A label with an empty value.");
    metrics::counter!("demo_empty_label", "k" => "").increment(3);
    metrics::describe_histogram!("demo_le_label", "A user label named le.");
    metrics::histogram!("demo_le_label", "le" => "user").record(0.5);
}

/// Label sets of their own per metric in this example's recorder.
const LOGIN_LIMIT: usize = 100;

/// Logins of 150 made-up users, user `u` logging in `1 + u % 7` times: 150 label sets for a
/// limit of 100, and 594 logins in all.
fn logins() {
    metrics::describe_counter!(
        "demo_logins",
        "Logins per user; past 100 users, overflow=\"true\"."
    );
    for user in 0..150u64 {
        let logins = metrics::counter!("demo_logins", "user" => format!("user{user}"));
        logins.increment(1 + user % 7);
    }
}

fn main() {
    let options = parse().unwrap_or_else(|problem| {
        eprintln!("prometheus: {problem}\n{USAGE}");
        std::process::exit(2);
    });
    let recorder = ShardstatRecorder::builder()
        .cardinality_limit(LOGIN_LIMIT)
        .expect("a limit above 0")
        .build();
    metrics::set_global_recorder(recorder.clone()).expect("no other recorder is installed");
    metrics::describe_counter!(
        "demo_packets_sent",
        "Packets per channel, through the metrics facade."
    );
    metrics::describe_gauge!("demo_channels", "Sender threads running.");
    metrics::gauge!("demo_channels").set(2.0);
    let registry = registry(&recorder).unwrap_or_else(|e| {
        eprintln!("prometheus: {e}");
        std::process::exit(1);
    });

    metrics::describe_histogram!("demo_send_seconds", "Time to send a packet.");
    if options.once || options.settle {
        fixed_workload();
        MIGRATION.dirty_sync_count().inc();
        let p90_ns = recorder
            .histogram_snapshot("demo_send_seconds", &[])
            .and_then(|snap| snap.p90())
            .expect("the workload recorded send times");
        metrics::describe_gauge!("demo_send_seconds_p90", "The send-time snapshot's p90.");
        metrics::gauge!("demo_send_seconds_p90").set(p90_ns as f64 * 1e-9);
        unlucky_names();
        logins();
    }
    if options.once {
        if options.openmetrics {
            print!("{}", prometheus::encode_text(&registry));
        } else {
            print!("{}", prometheus::encode_prometheus_text(&registry));
        }
        return;
    }

    let address = format!("127.0.0.1:{}", options.port);
    let server = tiny_http::Server::http(&address).unwrap_or_else(|e| {
        eprintln!("prometheus: cannot listen on {address}: {e}");
        std::process::exit(1);
    });
    eprintln!("serving http://{address}/metrics");
    let stop = AtomicBool::new(false);
    let deadline = options
        .seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    std::thread::scope(|s| {
        if !options.settle {
            for channel in 0..2 {
                let stop = &stop;
                s.spawn(move || sender(channel, 0, stop));
            }
        }
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let request = match server.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("prometheus: {e}");
                    break;
                }
            };
            let response = if request.url() == "/metrics" {
                let openmetrics = request.headers().iter().any(|h| {
                    h.field.equiv("Accept") && h.value.as_str().contains("openmetrics-text")
                });
                let (body, content_type) = if openmetrics {
                    (
                        prometheus::encode_text(&registry),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )
                } else {
                    (
                        prometheus::encode_prometheus_text(&registry),
                        "text/plain; version=0.0.4; charset=utf-8",
                    )
                };
                let header = tiny_http::Header::from_bytes("Content-Type", content_type)
                    .expect("a valid header");
                tiny_http::Response::from_string(body).with_header(header)
            } else {
                tiny_http::Response::from_string("see /metrics\n").with_status_code(404)
            };
            let _ = request.respond(response);
        }
        stop.store(true, Ordering::Relaxed);
    });
}
