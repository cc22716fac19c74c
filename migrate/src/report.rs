//! The report, shaped like QEMU's `query-migrate`, in text or JSON, and the checks that the
//! statistics add up.

use super::*;

/// The `ram` section of QEMU's `query-migrate`, with the run's timings.
pub(super) fn report_fields(config: &Config, o: &Outcome) -> Vec<(&'static str, String)> {
    let s = &o.snapshot;
    vec![
        ("transferred", s.transferred.to_string()),
        ("remaining", "0".into()),
        ("total", config.ram.to_string()),
        ("duplicate", s.zero_pages.to_string()),
        ("normal", s.normal_pages.to_string()),
        ("normal-bytes", (s.normal_pages * PAGE_SIZE).to_string()),
        ("dirty-pages-rate", s.dirty_pages_rate.to_string()),
        ("mbps", format!("{:.3}", o.mbps)),
        ("dirty-sync-count", s.dirty_sync_count.to_string()),
        ("postcopy-requests", s.postcopy_requests.to_string()),
        ("page-size", PAGE_SIZE.to_string()),
        ("multifd-bytes", s.multifd_bytes.to_string()),
        ("pages-per-second", format!("{:.0}", o.pages_per_second)),
        ("precopy-bytes", s.precopy_bytes.to_string()),
        ("downtime-bytes", s.downtime_bytes.to_string()),
        ("postcopy-bytes", s.postcopy_bytes.to_string()),
        (
            "dirty-sync-missed-zero-copy",
            s.dirty_sync_missed_zero_copy.to_string(),
        ),
    ]
}

pub(super) fn report_json(config: &Config, o: &Outcome, stats_name: &str) -> String {
    let ram: Vec<String> = report_fields(config, o)
        .into_iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!(
        "{{\"status\": \"completed\", \"stats\": \"{stats_name}\", \"total-time\": {}, \
         \"downtime\": {}, \"setup-time\": {}, \"expected-downtime\": {}, \
         \"passes\": {}, \"converged\": {}, \"verified\": {}, \"channels\": {}, \
         \"packet-send-time-us\": {}, \"expected-downtime-per-pass-ms\": {}, \
         \"ram\": {{{}}}}}",
        o.total.as_millis(),
        o.downtime.as_millis(),
        o.setup.as_millis(),
        o.expected_downtime_ms
            .map_or("null".to_string(), |ms| format!("{ms:.0}")),
        o.passes,
        o.converged,
        o.verified,
        config.channels,
        distribution_json(&o.send_time, 1e3),
        distribution_json(&o.downtime_estimates, 1e3),
        ram.join(", ")
    )
}

/// A distribution as JSON: its count, and p50/p99 divided by `per_unit`.
pub(super) fn distribution_json(snap: &HistogramSnapshot, per_unit: f64) -> String {
    let q = |q: f64| snap.quantile(q).map_or(0.0, |v| v as f64 / per_unit);
    format!(
        "{{\"count\": {}, \"p50\": {:.3}, \"p99\": {:.3}}}",
        snap.count(),
        q(0.5),
        q(0.99)
    )
}

/// A distribution as text: p50 and p99 divided by `per_unit`, with `unit`.
pub(super) fn distribution_text(snap: &HistogramSnapshot, per_unit: f64, unit: &str) -> String {
    let q = |q: f64| snap.quantile(q).map_or(0.0, |v| v as f64 / per_unit);
    format!(
        "p50 {:.1} {unit}, p99 {:.1} {unit} (of {})",
        q(0.5),
        q(0.99),
        snap.count()
    )
}

pub(super) fn report_text(config: &Config, o: &Outcome, stats_name: &str) {
    println!("Migration status: completed ({stats_name})");
    println!(
        "total time: {} ms  downtime: {} ms  setup: {} ms  expected downtime: {}",
        o.total.as_millis(),
        o.downtime.as_millis(),
        o.setup.as_millis(),
        o.expected_downtime_ms
            .map_or("unknown (no bandwidth measured)".to_string(), |ms| format!(
                "{ms:.0} ms"
            ))
    );
    println!(
        "passes: {} ({})  channels: {}  guest dirtied {} pages",
        o.passes,
        if o.converged {
            "converged"
        } else {
            "forced after the pass limit"
        },
        config.channels,
        o.guest_dirtied
    );
    println!(
        "packet send time: {}   expected downtime per pass: {}",
        distribution_text(&o.send_time, 1e3, "µs"),
        distribution_text(&o.downtime_estimates, 1e3, "ms"),
    );
    println!("ram:");
    for (k, v) in report_fields(config, o) {
        println!("  {k}: {v}");
    }
    println!(
        "destination RAM matches source: {}",
        if o.verified { "yes" } else { "NO" }
    );
}

/// Checks that the statistics add up; returns what does not. QEMU's invariants: the bytes
/// counted per phase are exactly the bytes sent (page data, zero-page entries, packet
/// headers, main-stream markers), each counted once, so they sum to at most `transferred`
/// (here exactly: every byte sent goes through the main stream or a multifd channel);
/// `transferred` is file + multifd + rdma; `normal-bytes` is whole pages.
pub(super) fn consistency(config: &Config, o: &Outcome) -> Vec<String> {
    let s = &o.snapshot;
    let mut problems = Vec::new();
    let pages = s.normal_pages + s.zero_pages;
    let ops: u64 = o.counter_ops.iter().sum();
    let packets = ops - pages;
    let expected_multifd =
        s.normal_pages * PAGE_SIZE + s.zero_pages * ZERO_PAGE_ENTRY + packets * PACKET_HEADER;
    if s.multifd_bytes != expected_multifd {
        problems.push(format!(
            "multifd-bytes {} != pages and packets sent ({expected_multifd})",
            s.multifd_bytes
        ));
    }
    let sent = expected_multifd + packets * FILE_MARKER;
    let phases = s.precopy_bytes + s.downtime_bytes + s.postcopy_bytes;
    if phases != sent {
        problems.push(format!(
            "precopy + downtime + postcopy bytes {phases} != the bytes sent ({sent})"
        ));
    }
    if phases > s.transferred {
        problems.push(format!(
            "precopy + downtime + postcopy bytes {phases} > transferred {}",
            s.transferred
        ));
    }
    if s.transferred != s.multifd_bytes + s.qemu_file_transferred + s.rdma_bytes {
        problems.push("transferred != file + multifd + rdma bytes".into());
    }
    let report = report_fields(config, o);
    let normal_bytes: u64 = report
        .iter()
        .find(|(key, _)| *key == "normal-bytes")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(u64::MAX);
    if normal_bytes != s.normal_pages * PAGE_SIZE {
        problems.push(format!(
            "normal-bytes {normal_bytes} != normal pages × page size ({})",
            s.normal_pages * PAGE_SIZE
        ));
    }
    if !o.verified {
        problems.push("the destination RAM differs from the source".into());
    }
    problems
}

/// The counters an interval line carries, by their `query-migrate` names.
pub(super) fn interval_fields(s: &MigrationSnapshot) -> [(&'static str, u64); 11] {
    [
        ("transferred", s.transferred),
        ("duplicate", s.zero_pages),
        ("normal", s.normal_pages),
        ("normal-bytes", s.normal_pages * PAGE_SIZE),
        ("dirty-sync-count", s.dirty_sync_count),
        ("postcopy-requests", s.postcopy_requests),
        ("multifd-bytes", s.multifd_bytes),
        ("precopy-bytes", s.precopy_bytes),
        ("downtime-bytes", s.downtime_bytes),
        ("postcopy-bytes", s.postcopy_bytes),
        ("dirty-sync-missed-zero-copy", s.dirty_sync_missed_zero_copy),
    ]
}

/// One `--stats-interval` line: the interval's number, when it ended (ms since the start),
/// and its deltas.
pub(super) fn interval_json(n: u64, at: Duration, delta: &MigrationSnapshot) -> String {
    let fields: Vec<String> = interval_fields(delta)
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!(
        "{{\"interval\": {n}, \"ms\": {}, \"ram\": {{{}}}}}",
        at.as_millis(),
        fields.join(", ")
    )
}

/// `sum` with `delta`'s counters added (the fields an interval line carries).
pub(super) fn add_counters(
    mut sum: MigrationSnapshot,
    delta: &MigrationSnapshot,
) -> MigrationSnapshot {
    sum.transferred += delta.transferred;
    sum.zero_pages += delta.zero_pages;
    sum.normal_pages += delta.normal_pages;
    sum.dirty_sync_count += delta.dirty_sync_count;
    sum.postcopy_requests += delta.postcopy_requests;
    sum.multifd_bytes += delta.multifd_bytes;
    sum.precopy_bytes += delta.precopy_bytes;
    sum.downtime_bytes += delta.downtime_bytes;
    sum.postcopy_bytes += delta.postcopy_bytes;
    sum.dirty_sync_missed_zero_copy += delta.dirty_sync_missed_zero_copy;
    sum
}
