//! A [`metrics::Recorder`] backed by shardstat (Cargo feature
//! `metrics`): `metrics::counter!("x").increment(1)` adds to a sharded [`Counter`], so it
//! scales with the threads that increment it instead of bouncing one atomic between them.
//!
//! - **Counters** are shardstat [`Counter`]s. `increment` is a sharded add (the handle
//!   `metrics` returns is looked up once per call site or key, then each increment goes to
//!   the calling thread's shard). `absolute(v)` follows the `metrics` contract — the
//!   counter becomes at least `v` and never goes backwards — with an exact
//!   [`Counter::set`] under a per-counter lock taken only by `absolute`.
//! - **Gauges** are supported as one atomic `f64` each (a gauge is set, not summed: see
//!   [`Gauge`](crate::Gauge) for why it is not sharded).
//! - **Histograms** are shardstat [`Histogram`](crate::Histogram)s: `record(v)` is a sharded
//!   record into log-linear buckets (within 1/128 of every value), of `v` in units of
//!   10^-9 (nanoseconds for a histogram in seconds; `v` must be within `0.0..=1.8e10`).
//!   They render as classic Prometheus histograms with `le` bounds at `(2^k − 1) × 10^-9`,
//!   each count exact for its bound. Values that cannot be recorded (negative, NaN, above
//!   the range) are counted and listed by [`ShardstatRecorder::problems`], never dropped
//!   silently.
//!
//! Names: Prometheus allows `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names and
//! `[a-zA-Z_][a-zA-Z0-9_]*` for labels. Other characters (as in `http.requests`) are
//! replaced with `_`, and each renaming is listed by [`ShardstatRecorder::problems`]; a
//! counter's trailing `_total` is dropped, since the encoder adds it. What it holds renders
//! through `prometheus-client`'s encoder: [`ShardstatRecorder::render`], or register
//! [`ShardstatRecorder::collector`] in your own registry.
//!
//! ```
//! use shardstat::metrics::ShardstatRecorder;
//!
//! let recorder = ShardstatRecorder::new();
//! // (A program would call `metrics::set_global_recorder(recorder.clone())` once; a
//! // local recorder keeps this example self-contained, and applies to this thread only,
//! // so the handles are made here and moved to the sender threads.)
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("pages_sent", "Pages sent by the multifd channels.");
//!     std::thread::scope(|s| {
//!         for channel in ["0", "1"] {
//!             let pages = metrics::counter!("pages_sent", "channel" => channel);
//!             s.spawn(move || {
//!                 for _ in 0..1000 {
//!                     pages.increment(1); // a sharded add on this thread's shard
//!                 }
//!             });
//!         }
//!     });
//!     metrics::gauge!("dirty_pages_rate").set(1234.0);
//! });
//! let text = recorder.render();
//! assert!(text.contains("# HELP pages_sent Pages sent by the multifd channels."));
//! assert!(text.contains("pages_sent_total{channel=\"0\"} 1000"));
//! assert!(text.contains("dirty_pages_rate 1234.0"));
//! ```

use crate::Counter;
use ::metrics::{
    CounterFn, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};
use metrics_util::registry::{Registry as KeyRegistry, Storage};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// A `metrics` recorder whose counters are shardstat counters. Cheap to clone (an `Arc`).
///
/// # The lookup
/// Every `metrics::counter!(…)` call asks the recorder for the key's handle. The recorder
/// keeps its handles in `metrics-util`'s [`Registry`](metrics_util::registry::Registry),
/// keyed by the `metrics::Key` as given (whose hash `metrics` computes once, at the call
/// site for a static key): a hit is one hash-selected shard of the registry, a read lock and
/// a key compare — no allocation, no sanitising, and no lock shared by every key. Sanitising
/// the name and labels, reporting what had to change ([`problems`](Self::problems)), and
/// creating the shardstat [`Counter`] happen once per key, on its first registration. The
/// registry is the only map of keys the recorder keeps: counters whose keys sanitise to the
/// same Prometheus identity (`http.hits` and `http_hits`) render as one series, their sum;
/// gauges that do share one cell.
#[derive(Clone)]
pub struct ShardstatRecorder {
    inner: Arc<Inner>,
}

impl Default for ShardstatRecorder {
    fn default() -> Self {
        let shared = Arc::new(Shared::default());
        ShardstatRecorder {
            inner: Arc::new(Inner {
                keys: KeyRegistry::new(Cells(Arc::clone(&shared))),
                shared,
            }),
        }
    }
}

/// A metric's identity after sanitising: its name and its sorted labels.
type Id = (String, Vec<(String, String)>);

struct Inner {
    /// Handles by `metrics` key: the hit path of every `counter!`/`gauge!` call.
    keys: KeyRegistry<Key, Cells>,
    shared: Arc<Shared>,
}

/// What every key's first registration, the renderer and the problem list share. Taken only
/// on a key's first registration, by `render`, `counter_value` and `problems`. (Counters need
/// no map of their own: the registry holds them, and the renderer sums aliases.)
#[derive(Default)]
struct Shared {
    gauges: Mutex<BTreeMap<Id, Arc<GaugeCell>>>,
    /// Histograms by identity: keys that sanitise alike share one.
    histograms: Mutex<BTreeMap<Id, Arc<HistogramCell>>>,
    help: RwLock<BTreeMap<String, String>>,
    problems: Mutex<Vec<String>>,
}

/// The registry's storage: makes the cell of a key the registry has not seen — sanitising
/// its identity, noting renames, and sharing the cell of any key with the same identity.
struct Cells(Arc<Shared>);

impl Storage<Key> for Cells {
    type Counter = Arc<CounterCell>;
    type Gauge = Arc<GaugeCell>;
    type Histogram = Arc<HistogramCell>;

    fn counter(&self, key: &Key) -> Arc<CounterCell> {
        // Once per key: checks the name and labels, and reports what will be renamed.
        let _ = key_identity(&self.0, key, true, true);
        Arc::new(CounterCell::default())
    }

    fn gauge(&self, key: &Key) -> Arc<GaugeCell> {
        let id = key_identity(&self.0, key, false, true);
        Arc::clone(lock(&self.0.gauges).entry(id).or_default())
    }

    fn histogram(&self, key: &Key) -> Arc<HistogramCell> {
        let id = key_identity(&self.0, key, false, true);
        Arc::clone(lock(&self.0.histograms).entry(id).or_default())
    }
}

/// A histogram registered through `metrics`: values in units of `1 / PER_UNIT`.
#[derive(Default)]
struct HistogramCell {
    histogram: crate::Histogram,
    /// Values that could not be recorded (negative, NaN, too large).
    rejected: Counter,
}

/// How many of a recorder histogram's units make one recorded value: its `f64` values are
/// kept as `u64`s in units of 10^-9 (nanoseconds for a histogram in seconds), with ≤ 1/128
/// relative error from 10^-7 up.
const PER_UNIT: f64 = 1e9;

/// The largest value a recorder histogram takes: `u64::MAX` units.
const HISTOGRAM_MAX: f64 = u64::MAX as f64 / PER_UNIT;

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        if (0.0..=HISTOGRAM_MAX).contains(&value) {
            self.histogram.record((value * PER_UNIT).round() as u64);
        } else {
            self.rejected.inc();
        }
    }
}

/// A counter registered through `metrics`.
#[derive(Default)]
struct CounterCell {
    counter: Counter,
    /// Serialises `absolute` calls (never taken by `increment`).
    absolute: Mutex<()>,
}

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.counter.add(value);
    }

    fn absolute(&self, value: u64) {
        let _one_at_a_time = self.absolute.lock().unwrap_or_else(PoisonError::into_inner);
        if value > self.counter.get() {
            self.counter.set(value);
        }
    }
}

/// A gauge registered through `metrics`: one atomic holding an `f64`'s bits.
#[derive(Default)]
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(f(f64::from_bits(bits)).to_bits())
            });
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl ShardstatRecorder {
    /// An empty recorder.
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// assert!(recorder.problems().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything the recorder had to change or drop: renamed metric and label names, and
    /// how many values each histogram could not record (negative, NaN, or above its range).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("http.requests").increment(1);
    ///     metrics::histogram!("latency").record(-1.0);
    /// });
    /// let problems = recorder.problems();
    /// assert!(problems[0].contains("renamed metric \"http.requests\" to \"http_requests\""));
    /// assert!(problems[1].contains("histogram \"latency\" could not record 1 value"));
    /// ```
    pub fn problems(&self) -> Vec<String> {
        let mut problems = lock(&self.inner.shared.problems).clone();
        for ((name, labels), cell) in lock(&self.inner.shared.histograms).iter() {
            let rejected = cell.rejected.get();
            if rejected > 0 {
                let labels: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                let labels = if labels.is_empty() {
                    String::new()
                } else {
                    format!("{{{}}}", labels.join(","))
                };
                problems.push(format!(
                    "histogram {name:?}{labels} could not record {rejected} value(s): \
                     negative, NaN, or above {HISTOGRAM_MAX:e}"
                ));
            }
        }
        problems
    }

    /// A snapshot of a histogram, by name and labels as given to `metrics` (after the same
    /// sanitising), if it was registered; its values are in units of 10^-9 of the recorded
    /// ones (nanoseconds for seconds).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::histogram!("latency_seconds").record(0.25);
    /// });
    /// let snap = recorder.histogram_snapshot("latency_seconds", &[]).unwrap();
    /// assert_eq!(snap.count(), 1);
    /// let p50_seconds = snap.p50().unwrap() as f64 * 1e-9;
    /// assert!((p50_seconds - 0.25).abs() <= 0.25 / 128.0);
    /// ```
    pub fn histogram_snapshot(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<crate::HistogramSnapshot> {
        let id = identity(
            &self.inner.shared,
            name,
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            false,
            false,
        );
        lock(&self.inner.shared.histograms)
            .get(&id)
            .map(|cell| cell.histogram.snapshot())
    }

    /// The current value of a counter, by name and labels as given to `metrics` (after
    /// the same sanitising: the sum of every key that sanitises to them), if it was
    /// registered. Walks every counter key: a helper for tests and tools, not a hot path.
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("jobs", "queue" => "a").increment(3);
    /// });
    /// assert_eq!(recorder.counter_value("jobs", &[("queue", "a")]), Some(3));
    /// assert_eq!(recorder.counter_value("jobs", &[]), None);
    /// ```
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let id = identity(
            &self.inner.shared,
            name,
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            true,
            false,
        );
        let mut found = None;
        self.inner.keys.visit_counters(|key, cell| {
            if key_identity(&self.inner.shared, key, true, false) == id {
                *found.get_or_insert(0u64) += cell.counter.get();
            }
        });
        found
    }

    /// A `prometheus-client` collector over everything the recorder holds, to register in
    /// your own registry (`registry.register_collector(Box::new(recorder.collector()))`).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// let mut registry = prometheus_client::registry::Registry::default();
    /// registry.register_collector(Box::new(recorder.collector()));
    /// ```
    pub fn collector(&self) -> impl Collector {
        RecorderCollector {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Everything the recorder holds, in the OpenMetrics text format, encoded by
    /// `prometheus-client`.
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// assert_eq!(recorder.render(), "# EOF\n");
    /// ```
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.collector()));
        crate::prometheus::encode_text(&registry)
    }
}

/// The sanitised identity of a name and labels; records what had to be renamed (when `note`
/// is set: a key's first registration).
fn identity(
    shared: &Shared,
    name: &str,
    labels: impl Iterator<Item = (String, String)>,
    counter: bool,
    note: bool,
) -> Id {
    let mut clean = sanitize(name, true);
    if counter {
        if let Some(stripped) = clean.strip_suffix("_total") {
            clean = stripped.to_string();
        }
    }
    if note && clean != name && !(counter && format!("{clean}_total") == name) {
        problem(shared, format!("renamed metric {name:?} to {clean:?}"));
    }
    let mut labels: Vec<(String, String)> = labels
        .map(|(k, v)| {
            let key = sanitize(&k, false);
            if note && key != k {
                problem(
                    shared,
                    format!("renamed label {k:?} of {name:?} to {key:?}"),
                );
            }
            (key, v)
        })
        .collect();
    labels.sort();
    (clean, labels)
}

fn problem(shared: &Shared, text: String) {
    let mut problems = lock(&shared.problems);
    if !problems.contains(&text) {
        problems.push(text);
    }
}

/// Stores the help text of the counter or gauge `name`.
fn describe(shared: &Shared, name: &str, counter: bool, description: SharedString) {
    let (name, _) = identity(shared, name, std::iter::empty(), counter, false);
    shared
        .help
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name, description.into_owned());
}

/// A key's identity; `note` records renames (the storage sets it, once per key; reads do
/// not).
fn key_identity(shared: &Shared, key: &Key, counter: bool, note: bool) -> Id {
    identity(
        shared,
        key.name(),
        key.labels()
            .map(|l| (l.key().to_string(), l.value().to_string())),
        counter,
        note,
    )
}

/// Makes a name valid for Prometheus: invalid characters become `_`, a leading digit gets a
/// `_` prefix; `__` at the start of a label name (reserved) becomes `_`.
fn sanitize(name: &str, metric: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if !metric {
        while out.starts_with("__") {
            out.remove(0);
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

impl Recorder for ShardstatRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        describe(&self.inner.shared, key.as_str(), true, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        describe(&self.inner.shared, key.as_str(), false, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        describe(&self.inner.shared, key.as_str(), false, description);
    }

    /// The hit path of every `counter!` call: the registry's lookup and an `Arc` clone (the
    /// handle `metrics` returns owns one).
    #[inline]
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Counter {
        self.inner
            .keys
            .get_or_create_counter(key, |cell| ::metrics::Counter::from_arc(Arc::clone(cell)))
    }

    #[inline]
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Gauge {
        self.inner
            .keys
            .get_or_create_gauge(key, |cell| ::metrics::Gauge::from_arc(Arc::clone(cell)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.inner
            .keys
            .get_or_create_histogram(key, |cell| Histogram::from_arc(Arc::clone(cell)))
    }
}

impl fmt::Debug for ShardstatRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardstatRecorder")
            .field("counters", &{
                let mut n = 0usize;
                self.inner.keys.visit_counters(|_, _| n += 1);
                n
            })
            .field("gauges", &lock(&self.inner.shared.gauges).len())
            .field("histograms", &lock(&self.inner.shared.histograms).len())
            .field("problems", &lock(&self.inner.shared.problems).len())
            .finish()
    }
}

/// Encodes what a recorder holds: one family per name, one sample per label set.
struct RecorderCollector {
    inner: Arc<Inner>,
}

impl fmt::Debug for RecorderCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecorderCollector").finish_non_exhaustive()
    }
}

impl Collector for RecorderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let shared = &self.inner.shared;
        let help = read(&shared.help).clone();
        // Sanitised per scrape (the registry keeps the keys as given); keys that sanitise
        // alike are one series, their sum.
        let mut summed: BTreeMap<Id, u64> = BTreeMap::new();
        self.inner.keys.visit_counters(|key, cell| {
            let value = summed
                .entry(key_identity(shared, key, true, false))
                .or_default();
            *value = value.wrapping_add(cell.counter.get());
        });
        let counters: Vec<(Id, u64)> = summed.into_iter().collect();
        let gauges: Vec<(Id, f64)> = lock(&shared.gauges)
            .iter()
            .map(|(id, cell)| (id.clone(), cell.get()))
            .collect();
        encode_families(
            &mut encoder,
            &help,
            MetricType::Counter,
            &counters,
            |m, v| m.encode_counter::<NoLabelSet, _, u64>(v, None),
        )?;
        encode_families(&mut encoder, &help, MetricType::Gauge, &gauges, |m, v| {
            m.encode_gauge(v)
        })?;
        let histograms: Vec<(Id, crate::HistogramSnapshot)> = lock(&shared.histograms)
            .iter()
            .map(|(id, cell)| (id.clone(), cell.histogram.snapshot()))
            .collect();
        let bounds = crate::prometheus::default_histogram_bounds();
        encode_families(
            &mut encoder,
            &help,
            MetricType::Histogram,
            &histograms,
            |m, snap| crate::prometheus::encode_histogram(m, snap, &bounds, PER_UNIT),
        )
    }
}

fn encode_families<V>(
    encoder: &mut DescriptorEncoder,
    help: &BTreeMap<String, String>,
    metric_type: MetricType,
    samples: &[(Id, V)],
    encode: impl Fn(&mut prometheus_client::encoding::MetricEncoder, &V) -> Result<(), fmt::Error>,
) -> Result<(), fmt::Error> {
    let mut i = 0;
    while i < samples.len() {
        let name = &samples[i].0 .0;
        let end = i + samples[i..]
            .iter()
            .take_while(|(id, _)| &id.0 == name)
            .count();
        let text = help
            .get(name)
            .map(|h| crate::prometheus::help_text(h))
            .unwrap_or_default();
        let mut family = encoder.encode_descriptor(name, &text, None, metric_type)?;
        for ((_, labels), value) in &samples[i..end] {
            if labels.is_empty() {
                encode(&mut family, value)?;
            } else {
                let mut sample = family.encode_family(labels)?;
                encode(&mut sample, value)?;
            }
        }
        i = end;
    }
    Ok(())
}
