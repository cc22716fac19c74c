//! The optional integrations: `prometheus-client`, `metrics`, `serde`
//! (`cargo test --all-features`).
#![cfg(all(feature = "prometheus-client", feature = "metrics", feature = "serde"))]

use prometheus_client::registry::Registry;
use shardstat::metrics::ShardstatRecorder;
use shardstat::prometheus::{self, MetricError};
use shardstat::{stats, Counter, Gauge, Max, Min, UpDownCounter};

stats! {
    /// A group to export.
    #[snapshot = PairSnapshot]
    #[local = PairLocal]
    pub struct Pair {
        /// Moved first in each step.
        pub first: Counter,
        /// Moved last in each step.
        pub last: Counter,
        /// In flight.
        pub depth: UpDownCounter,
        /// Set by the owner.
        pub rate: Gauge,
    }
}

static C: Counter = Counter::new();
static U: UpDownCounter = UpDownCounter::new();
static G: Gauge = Gauge::new();
static X: Max = Max::new();
static N: Min = Min::new();
static PAIR: Pair = Pair::new();

fn sample(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .map(|l| l[series.len() + 1..].to_string())
}

#[test]
fn every_type_encodes_with_its_metric_type_and_value() {
    let mut r = Registry::default();
    prometheus::register(&mut r, "c", "A counter.", &C).unwrap();
    prometheus::register(&mut r, "u", "An up-down counter.", &U).unwrap();
    prometheus::register(&mut r, "g", "A gauge.", &G).unwrap();
    prometheus::register(&mut r, "x", "A max.", &X).unwrap();
    prometheus::register(&mut r, "n", "A min.", &N).unwrap();
    // The approximate and per-CPU counters register as they are too, in their sign's kind.
    static A: shardstat::ApproxCounter = shardstat::ApproxCounter::new();
    static AD: shardstat::ApproxUpDownCounter<64> = shardstat::ApproxUpDownCounter::new();
    static PC: shardstat::percpu::Counter = shardstat::percpu::Counter::new();
    static PU: shardstat::percpu::UpDownCounter = shardstat::percpu::UpDownCounter::new();
    static PX: shardstat::percpu::Max = shardstat::percpu::Max::new();
    static PN: shardstat::percpu::Min = shardstat::percpu::Min::new();
    prometheus::register(&mut r, "a", "An approximate counter.", &A).unwrap();
    prometheus::register(&mut r, "ad", "An approximate up-down counter.", &AD).unwrap();
    prometheus::register(&mut r, "pc", "A per-CPU counter.", &PC).unwrap();
    prometheus::register(&mut r, "pu", "A per-CPU up-down counter.", &PU).unwrap();
    prometheus::register(&mut r, "px", "A per-CPU max.", &PX).unwrap();
    prometheus::register(&mut r, "pn", "A per-CPU min.", &PN).unwrap();
    C.add(7);
    U.sub(3);
    G.set(11);
    X.record(5);
    N.record(2);
    A.add(1500); // one batch carried, 476 in this thread's cell: exported exactly
    AD.sub(70);
    PC.add(9);
    PU.sub(4);
    PX.record(8);
    PN.record(6);
    let text = prometheus::encode_text(&r);
    assert!(text.contains("# TYPE a counter"), "{text}");
    assert_eq!(sample(&text, "a_total").as_deref(), Some("1500"));
    assert!(text.contains("# TYPE ad gauge"), "{text}");
    assert_eq!(sample(&text, "ad").as_deref(), Some("-70"));
    assert!(text.contains("# TYPE pc counter"), "{text}");
    assert_eq!(sample(&text, "pc_total").as_deref(), Some("9"));
    assert!(text.contains("# TYPE pu gauge"), "{text}");
    assert_eq!(sample(&text, "pu").as_deref(), Some("-4"));
    assert_eq!(sample(&text, "px").as_deref(), Some("8"));
    assert_eq!(sample(&text, "pn").as_deref(), Some("6"));
    assert!(text.contains("# TYPE c counter"), "{text}");
    assert_eq!(sample(&text, "c_total").as_deref(), Some("7"));
    assert!(text.contains("# TYPE u gauge"));
    assert_eq!(sample(&text, "u").as_deref(), Some("-3"));
    assert_eq!(sample(&text, "g").as_deref(), Some("11"));
    assert_eq!(sample(&text, "x").as_deref(), Some("5"));
    assert_eq!(sample(&text, "n").as_deref(), Some("2"));
    assert!(
        text.contains("# HELP c A counter.\n"),
        "one final period, not two"
    );
}

/// A histogram exports as a classic histogram: cumulative counts exact at its bounds (bucket
/// boundaries), `+Inf` = count, and the sum.
#[test]
fn a_histogram_exports_cumulative_buckets_exact_at_its_bounds() {
    static SIZES: shardstat::Histogram = shardstat::Histogram::new();
    let mut r = Registry::default();
    prometheus::register(&mut r, "sizes", "Sizes.", &SIZES).unwrap();
    for v in [0, 1, 2, 3, 100, 4095, 4096, 1 << 40] {
        SIZES.record(v);
    }
    let text = prometheus::encode_text(&r);
    assert!(text.contains("# TYPE sizes histogram"), "{text}");
    let at = |le: &str| sample(&text, &format!("sizes_bucket{{le=\"{le}\"}}"));
    assert_eq!(at("0.0").as_deref(), Some("1"));
    assert_eq!(at("3.0").as_deref(), Some("4"));
    assert_eq!(at("127.0").as_deref(), Some("5"));
    assert_eq!(
        at("4095.0").as_deref(),
        Some("6"),
        "4095 is a boundary: exact"
    );
    assert_eq!(at("8191.0").as_deref(), Some("7"));
    assert_eq!(at("+Inf").as_deref(), Some("8"));
    assert_eq!(sample(&text, "sizes_count").as_deref(), Some("8"));
    // Every bound printed is the exact bound whose count follows it (issue 23: bounds of
    // 2^54 − 1 and up printed as the next power of two).
    let les: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("sizes_bucket{le=\""))
        .map(|l| &l[..l.find('"').unwrap()])
        .filter(|&le| le != "+Inf")
        .collect();
    let printed: Vec<u64> = les
        .iter()
        .map(|le| le.parse::<f64>().unwrap() as u64)
        .collect();
    assert_eq!(printed, prometheus::default_histogram_bounds(), "{les:?}");
    let sum = (1u64 << 40) + 4096 + 4095 + 100 + 6;
    assert_eq!(
        sample(&text, "sizes_sum").as_deref(),
        Some(format!("{}.0", sum).as_str())
    );
}

#[test]
fn a_group_exports_every_field_with_its_docs_and_labels_from_one_snapshot() {
    let mut r = Registry::default();
    prometheus::register_group_with_labels(&mut r, "pair", &[("channel", "3")], &PAIR).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let local = PAIR.local();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                local.update(|l| {
                    l.first.inc();
                    l.last.inc();
                });
            }
        });
        for _ in 0..200 {
            let text = prometheus::encode_text(&r);
            let a = sample(&text, "pair_first_total{channel=\"3\"}").unwrap();
            let b = sample(&text, "pair_last_total{channel=\"3\"}").unwrap();
            assert_eq!(a, b, "one scrape is one snapshot: no step seen in half");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    PAIR.depth().add(4);
    PAIR.rate().set(9);
    let text = prometheus::encode_text(&r);
    assert!(
        text.contains("# HELP pair_first Moved first in each step.\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE pair_depth gauge"));
    assert_eq!(
        sample(&text, "pair_depth{channel=\"3\"}").as_deref(),
        Some("4")
    );
    assert_eq!(
        sample(&text, "pair_rate{channel=\"3\"}").as_deref(),
        Some("9")
    );
}

#[test]
fn invalid_names_and_label_sets_are_clear_errors() {
    let mut r = Registry::default();
    let err = prometheus::register(&mut r, "bytes/s", "x", &C).unwrap_err();
    assert_eq!(
        err,
        MetricError::InvalidName {
            name: "bytes/s".into()
        }
    );
    assert!(err.to_string().contains("[a-zA-Z_:][a-zA-Z0-9_:]*"));
    assert!(prometheus::register(&mut r, "", "x", &C).is_err());
    assert!(matches!(
        prometheus::register_group(&mut r, "9", &PAIR),
        Err(MetricError::InvalidName { .. })
    ));
    assert!(matches!(
        prometheus::register_group_with_labels(&mut r, "p", &[("__x", "1")], &PAIR),
        Err(MetricError::InvalidLabelName { .. })
    ));
    assert!(matches!(
        prometheus::register_group_with_labels(&mut r, "p", &[("a", "1"), ("a", "2")], &PAIR),
        Err(MetricError::DuplicateLabel { .. })
    ));
    // Nothing was registered by the failed calls.
    assert_eq!(prometheus::encode_text(&r), "# EOF\n");
}

#[test]
fn the_metrics_recorder_counts_sharded_and_absolute_never_goes_back() {
    let recorder = ShardstatRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let c = metrics::counter!("jobs_total", "queue" => "q1");
        std::thread::scope(|s| {
            for _ in 0..4 {
                let c = c.clone();
                s.spawn(move || (0..10_000).for_each(|_| c.increment(1)));
            }
        });
        assert_eq!(
            recorder.counter_value("jobs", &[("queue", "q1")]),
            Some(40_000)
        );
        c.absolute(100_000);
        assert_eq!(
            recorder.counter_value("jobs", &[("queue", "q1")]),
            Some(100_000)
        );
        c.absolute(5);
        assert_eq!(
            recorder.counter_value("jobs", &[("queue", "q1")]),
            Some(100_000),
            "absolute never moves a counter backwards"
        );
        let g = metrics::gauge!("temperature");
        g.set(20.5);
        g.increment(1.0);
        g.decrement(0.25);
        let latency = metrics::histogram!("latency_seconds", "route" => "/a");
        std::thread::scope(|s| {
            for t in 0..4 {
                let latency = latency.clone();
                s.spawn(move || {
                    for i in 1..=250 {
                        latency.record(0.001 * (i + 250 * t) as f64); // 1 ms .. 1 s
                    }
                });
            }
        });
        latency.record(-1.0); // cannot be recorded: counted, reported
        latency.record(f64::NAN);
    });
    let text = recorder.render();
    assert_eq!(
        sample(&text, "jobs_total{queue=\"q1\"}").as_deref(),
        Some("100000")
    );
    assert_eq!(sample(&text, "temperature").as_deref(), Some("21.25"));
    // The histogram: every recorded value, its quantiles within 1/128, rendered as a
    // classic histogram whose +Inf bucket and count are the values recorded.
    let snap = recorder
        .histogram_snapshot("latency_seconds", &[("route", "/a")])
        .expect("the histogram was registered");
    assert_eq!(snap.count(), 1000);
    let p99 = snap.p99().unwrap() as f64 * 1e-9;
    assert!((p99 - 0.990).abs() <= 0.990 / 128.0, "p99 {p99}");
    assert_eq!(
        sample(&text, "latency_seconds_count{route=\"/a\"}").as_deref(),
        Some("1000")
    );
    assert_eq!(
        sample(&text, "latency_seconds_bucket{le=\"+Inf\",route=\"/a\"}")
            .or_else(|| sample(&text, "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"}"))
            .as_deref(),
        Some("1000"),
        "{text}"
    );
    assert!(recorder
        .problems()
        .iter()
        .any(|p| p
            .contains("histogram \"latency_seconds\"{route=\"/a\"} could not record 2 value(s)")));
    assert!(
        !recorder.problems().iter().any(|p| p.contains("jobs_total")),
        "a counter's _total suffix is dropped without complaint"
    );
}

/// 10,000 distinct label sets registered from 4 threads at once (each thread registers every
/// set, in its own order): nothing is lost, each set is one counter, and each renders once.
/// Renamed keys are reported once however often they are looked up, and two keys that
/// sanitise to the same name share one counter.
#[test]
fn ten_thousand_label_sets_from_four_threads_render_once_each() {
    const SETS: usize = 10_000;
    // Above the default cardinality limit (2,000), which would send 8,000 of them to the
    // overflow series.
    let recorder = ShardstatRecorder::builder()
        .cardinality_limit(SETS)
        .unwrap()
        .build();
    std::thread::scope(|s| {
        for t in 0..4usize {
            let recorder = &recorder;
            s.spawn(move || {
                metrics::with_local_recorder(recorder, || {
                    for k in 0..SETS {
                        let i = (k * 7919 + t * 2503) % SETS;
                        metrics::counter!("requests", "id" => i.to_string()).increment(1);
                        metrics::counter!("http.hits").increment(1);
                    }
                });
            });
        }
    });
    let text = recorder.render();
    for i in [0, 1, 4999, SETS - 1] {
        assert_eq!(
            sample(&text, &format!("requests_total{{id=\"{i}\"}}")).as_deref(),
            Some("4"),
            "label set {i}: one add per thread"
        );
    }
    let lines = text
        .lines()
        .filter(|l| l.starts_with("requests_total{"))
        .count();
    assert_eq!(lines, SETS, "each label set renders exactly once");
    let total: u64 = text
        .lines()
        .filter(|l| l.starts_with("requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 4 * SETS as u64, "nothing lost");
    assert_eq!(recorder.counter_value("requests", &[("id", "77")]), Some(4));
    assert_eq!(sample(&text, "http_hits_total").as_deref(), Some("40000"));
    metrics::with_local_recorder(&recorder, || metrics::counter!("http_hits").increment(1));
    assert_eq!(
        recorder.counter_value("http_hits", &[]),
        Some(40_001),
        "\"http.hits\" and \"http_hits\" are one counter"
    );
    let renames = recorder
        .problems()
        .iter()
        .filter(|p| p.contains("renamed metric \"http.hits\""))
        .count();
    assert_eq!(renames, 1, "a rename is reported once");
}

#[test]
fn a_histogram_snapshot_serializes_its_count_sum_and_buckets() {
    let h = shardstat::Histogram::new();
    assert_eq!(
        serde_json::to_string(&h.snapshot()).unwrap(),
        r#"{"count":0,"sum":0,"buckets":[]}"#
    );
    h.record(3);
    assert_eq!(
        serde_json::to_string(&h.snapshot()).unwrap(),
        r#"{"count":1,"sum":3,"buckets":[{"low":3,"high":3,"count":1}]}"#
    );
    h.record(1_000);
    let json = serde_json::to_value(h.snapshot()).unwrap();
    assert_eq!(json["count"], 2);
    assert_eq!(json["sum"], 1_003);
    let buckets = json["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2);
    assert_eq!(
        buckets[1],
        serde_json::json!({"low": 1_000, "high": 1_007, "count": 1})
    );
    // Past u64::MAX the sum is written as a u128, exactly.
    h.record(u64::MAX);
    let text = serde_json::to_string(&h.snapshot()).unwrap();
    let sum = 1_003u128 + u128::from(u64::MAX);
    assert!(text.contains(&format!(r#""sum":{sum},"#)), "{text}");
}

#[test]
fn snapshots_serialize_with_serde() {
    let pair = Pair::new();
    pair.first().add(2);
    pair.depth().sub(1);
    let json = serde_json::to_value(pair.snapshot()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"first": 2, "last": 0, "depth": -1, "rate": 0})
    );
}

/// `promtool check metrics` accepts the exposition. Skipped (with a note) where promtool is
/// not installed, unless `SHARDSTAT_REQUIRE_PROMTOOL` is set, as `.ci/run` does.
#[test]
fn promtool_accepts_the_exposition() {
    let mut r = Registry::default();
    prometheus::register(&mut r, "promtool_c", "A counter.", &C).unwrap();
    static PA: shardstat::ApproxCounter = shardstat::ApproxCounter::new();
    static PD: shardstat::ApproxUpDownCounter = shardstat::ApproxUpDownCounter::new();
    static PP: shardstat::percpu::Counter = shardstat::percpu::Counter::new();
    static PM: shardstat::percpu::Max = shardstat::percpu::Max::new();
    PA.add(3);
    PD.sub(2);
    PP.inc();
    PM.record(4);
    prometheus::register(&mut r, "promtool_approx", "An approximate counter.", &PA).unwrap();
    prometheus::register(&mut r, "promtool_approx_level", "A level.", &PD).unwrap();
    prometheus::register(&mut r, "promtool_percpu", "A per-CPU counter.", &PP).unwrap();
    prometheus::register(&mut r, "promtool_percpu_max", "A per-CPU max.", &PM).unwrap();
    prometheus::register_group_with_labels(&mut r, "promtool_pair", &[("k", "v")], &PAIR).unwrap();
    let recorder = ShardstatRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("promtool_jobs", "Jobs.");
        metrics::counter!("promtool_jobs", "queue" => "a").increment(1);
        metrics::describe_histogram!("promtool_latency_seconds", "Latency.");
        metrics::histogram!("promtool_latency_seconds", "route" => "/a").record(0.003);
    });
    static H: shardstat::Histogram = shardstat::Histogram::new();
    H.record(4096);
    prometheus::register(&mut r, "promtool_sizes", "Sizes.", &H).unwrap();
    let classic = prometheus::ClassicHistogram::new(&H, [1_000, 10_000]).unwrap();
    prometheus::register(&mut r, "promtool_sizes_coarse", "Sizes.", classic).unwrap();
    r.register_collector(Box::new(recorder.collector()));
    let text = prometheus::encode_prometheus_text(&r);
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match promtool {
        Ok(child) => child,
        Err(e) => {
            assert!(
                std::env::var_os("SHARDSTAT_REQUIRE_PROMTOOL").is_none(),
                "promtool is required here but could not run: {e}"
            );
            eprintln!("promtool not installed ({e}): skipped (.ci/run installs and requires it)");
            return;
        }
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejected the exposition:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

shardstat::stats! {
    /// A raw identifier and doc lines without spaces (issue 24).
    #[snapshot = RawSnapshot]
    #[local = RawLocal]
    pub struct Raw {
        ///Bytes in.
        ///Counted once.
        pub r#in: Counter,
    }
}

/// A raw identifier field exports, serialises and is registered under its name without the
/// `r#` (before: the serde key `"r#in"`, and `register_group` refused `g_r#in`); its help
/// is its doc lines joined with a space.
#[test]
fn a_raw_identifier_field_is_named_without_its_prefix() {
    static RAW: Raw = Raw::new();
    RAW.r#in().add(4);
    let json = serde_json::to_value(RAW.snapshot()).unwrap();
    assert_eq!(json, serde_json::json!({"in": 4}));
    let mut r = Registry::default();
    prometheus::register_group(&mut r, "g", &RAW).unwrap();
    let text = prometheus::encode_text(&r);
    assert!(
        text.contains("# HELP g_in Bytes in. Counted once."),
        "{text}"
    );
    assert!(text.contains("g_in_total 4"), "{text}");
}

/// The `le` labels and counts of `family`'s buckets in `text`, `+Inf` left out.
fn buckets(text: &str, family: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{family}_bucket{{le=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter(|l| !l.starts_with("+Inf"))
        .map(|l| {
            let (le, rest) = l.split_once('"').unwrap();
            let count = rest.rsplit(' ').next().unwrap();
            (le.parse().unwrap(), count.parse().unwrap())
        })
        .collect()
}

#[test]
fn recorder_histogram_bounds_follow_full_then_prefix_then_suffix_rules() {
    use shardstat::metrics::Matcher;
    let recorder = ShardstatRecorder::builder()
        .histogram_bounds(Matcher::Suffix("_seconds".into()), &[1.0])
        .unwrap()
        .histogram_bounds(Matcher::Suffix("_seconds".into()), &[2.0])
        .unwrap()
        .histogram_bounds(Matcher::Prefix("db_".into()), &[3.0])
        .unwrap()
        .histogram_bounds(Matcher::Full("db_query_seconds".into()), &[4.0])
        .unwrap()
        .default_histogram_bounds(&[5.0, 6.0])
        .unwrap()
        .build();
    let first = |name: &str| recorder.histogram_bounds(name)[0].ceil();
    assert_eq!(first("db_query_seconds"), 4.0, "a full rule wins");
    assert_eq!(first("db_write_seconds"), 3.0, "then a prefix rule");
    assert_eq!(
        first("rpc_seconds"),
        1.0,
        "then the first suffix rule added"
    );
    assert_eq!(
        recorder.histogram_bounds("queue_depth").len(),
        2,
        "else the default"
    );
    metrics::with_local_recorder(&recorder, || {
        for name in [
            "db_query_seconds",
            "db_write_seconds",
            "rpc_seconds",
            "queue_depth",
        ] {
            metrics::histogram!(name).record(0.5);
        }
    });
    let text = recorder.render();
    for (family, count) in [
        ("db_query_seconds", 1),
        ("db_write_seconds", 1),
        ("rpc_seconds", 1),
        ("queue_depth", 2),
    ] {
        assert_eq!(buckets(&text, family).len(), count, "{family}: {text}");
        assert_eq!(
            sample(&text, &format!("{family}_bucket{{le=\"+Inf\"}}")).as_deref(),
            Some("1")
        );
    }
    // The default recorder: Prometheus's eleven default buckets, not 54 powers of two.
    let recorder = ShardstatRecorder::new();
    metrics::with_local_recorder(&recorder, || metrics::histogram!("t").record(0.2));
    let text = recorder.render();
    let exported = buckets(&text, "t");
    assert_eq!(exported.len(), 11, "{text}");
    for ((le, _), asked) in exported
        .iter()
        .zip(ShardstatRecorder::DEFAULT_HISTOGRAM_BOUNDS)
    {
        assert!(
            *le <= asked && *le >= asked * (1.0 - 1.0 / 64.0),
            "{le} for {asked}"
        );
    }
    // A registered histogram keeps its bounds; the query says what it exports.
    assert_eq!(
        recorder.histogram_bounds("t"),
        exported.iter().map(|b| b.0).collect::<Vec<_>>()
    );
}

#[test]
fn bad_recorder_histogram_bounds_are_errors_that_say_what_is_wrong() {
    use shardstat::metrics::Matcher;
    let bad = |bounds: &[f64]| {
        ShardstatRecorder::builder()
            .histogram_bounds(Matcher::Full("h".into()), bounds)
            .unwrap_err()
            .to_string()
    };
    let cases: [(&[f64], &str); 9] = [
        (&[], "no bounds given"),
        (&[f64::NAN], "NaN is not a bound"),
        (&[1.0, f64::INFINITY], "inf is not a bound"),
        (&[-1.0, 1.0], "-1 is not a bound"),
        (&[1e7], "10000000 is not a bound"),
        (&[1.0, 1.0], "must increase strictly: 1 is followed by 1"),
        (&[2.0, 1.0], "must increase strictly: 2 is followed by 1"),
        (&[1.0, 1.001], "1 and 1.001 fall in one bucket"),
        (&[0.0, 1e-10], "0 and 0.0000000001 fall in one bucket"),
    ];
    for (bounds, expected) in cases {
        let message = bad(bounds);
        assert!(message.contains(expected), "{bounds:?}: {message}");
        assert!(message.contains("Full(\"h\")"), "{message}");
    }
    let message = ShardstatRecorder::builder()
        .default_histogram_bounds(&[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("by default: no bounds given"), "{message}");
    // The largest bound allowed, and the smallest step between two.
    let max = ((1u64 << 53) - 1) as f64 / 1e9;
    let ok = ShardstatRecorder::builder()
        .default_histogram_bounds(&[0.0, 1e-9, 1.0, 1.02, max])
        .unwrap()
        .build();
    assert_eq!(ok.histogram_bounds("h")[..2], [0.0, 1e-9]);
    assert_eq!(ok.histogram_bounds("h")[4], max);
    assert!(bad(&[max * (1.0 + 1e-15)]).contains("is not a bound"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever bounds are chosen, each `le` label is at or just below the bound asked for
    /// (by less than 1/64), and the count beside it is exactly the number of values recorded
    /// at or below it (buckets are cumulative; values are kept in whole units of 10^-9).
    #[test]
    fn recorder_histogram_counts_are_exact_at_every_exported_bound(
        asked in proptest::collection::btree_set(0u64..(1 << 40), 1..12),
        units in proptest::collection::vec(0u64..(1 << 41), 0..200),
        at_bounds in proptest::collection::vec(0usize..12, 0..20),
    ) {
        let asked: Vec<f64> = asked.into_iter().map(|u| u as f64 / 1e9).collect();
        let recorder = match ShardstatRecorder::builder().default_histogram_bounds(&asked) {
            Ok(builder) => builder.build(),
            Err(e) => {
                proptest::prop_assert!(e.to_string().contains("fall in one bucket"), "{e}");
                return Ok(());
            }
        };
        let exported = recorder.histogram_bounds("h");
        // Values on, just below and just above each exported bound, and anywhere.
        let mut values: Vec<u64> = units;
        for i in at_bounds {
            let b = (exported[i % exported.len()] * 1e9).round() as u64;
            values.extend([b, b.saturating_sub(1), b + 1]);
        }
        metrics::with_local_recorder(&recorder, || {
            let h = metrics::histogram!("h");
            for &u in &values {
                h.record(u as f64 / 1e9);
            }
        });
        let text = recorder.render();
        let got = buckets(&text, "h");
        proptest::prop_assert_eq!(got.len(), asked.len());
        for ((le, count), asked) in got.iter().zip(&asked) {
            proptest::prop_assert!(*le <= *asked && *le >= asked * (1.0 - 1.0 / 64.0) - 1e-9,
                "le {} for {}", le, asked);
            let bound = (le * 1e9).round() as u64;
            let at_or_below = values.iter().filter(|&&u| u <= bound).count() as u64;
            proptest::prop_assert_eq!(*count, at_or_below, "le={} (cumulative): {}", le, text);
        }
    }
}

/// The recorder's drain while 4 threads increment two counters and record into a histogram:
/// every increment and record in exactly one drain (the deltas and interval histograms sum
/// to the totals, per bucket too), and the cumulative view untouched by the drains.
#[test]
fn recorder_drains_hold_every_increment_and_record_exactly_once() {
    let recorder = ShardstatRecorder::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut counted = std::collections::BTreeMap::<String, u64>::new();
    let (mut records, mut sum) = (0u64, 0u128);
    let mut merged = std::collections::BTreeMap::<u64, u64>::new();
    let mut absorb = |d: shardstat::metrics::Drained| {
        for c in d.counters {
            let route = c.labels[0].1.clone();
            *counted.entry(route).or_default() += c.delta;
        }
        for h in d.histograms {
            records += h.interval.count();
            sum += h.interval.sum();
            for b in h.interval.buckets() {
                *merged.entry(b.low).or_default() += b.count;
            }
        }
    };
    let mut drains = 0;
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let recorder = &recorder;
                s.spawn(move || {
                    metrics::with_local_recorder(recorder, || {
                        for i in 0..50_000u64 {
                            let route = if (t + i) % 3 == 0 { "/a" } else { "/b" };
                            metrics::counter!("hits", "route" => route).increment(1 + i % 5);
                            metrics::histogram!("rtt_seconds").record((1 + i % 97) as f64 * 1e-6);
                        }
                    })
                })
            })
            .collect();
        let done = &done;
        s.spawn(move || {
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            absorb(recorder.drain());
            drains += 1;
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    });
    absorb(recorder.drain());
    assert!(
        recorder.drain().counters.is_empty(),
        "nothing left after the last drain"
    );
    for route in ["/a", "/b"] {
        assert_eq!(
            Some(counted[route]),
            recorder.counter_value("hits", &[("route", route)]),
            "{route}: the deltas of {drains} drains sum to the cumulative value"
        );
    }
    let expected: u64 = (0..4u64)
        .flat_map(|_| (0..50_000u64).map(|i| 1 + i % 5))
        .sum();
    assert_eq!(counted.values().sum::<u64>(), expected);
    let all = recorder.histogram_snapshot("rtt_seconds", &[]).unwrap();
    assert_eq!((records, sum), (all.count(), all.sum()));
    assert_eq!(records, 200_000);
    let whole: std::collections::BTreeMap<u64, u64> =
        all.buckets().map(|b| (b.low, b.count)).collect();
    assert_eq!(merged, whole, "per bucket");
}
