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
//! - **Histograms are not supported**: `register_histogram` returns a no-op handle and the
//!   key is listed by [`ShardstatRecorder::problems`], so the loss is never silent. Record
//!   histograms with a dedicated recorder (for example with `metrics-util`'s fanout).
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
    CounterFn, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// A `metrics` recorder whose counters are shardstat counters. Cheap to clone (an `Arc`).
#[derive(Clone, Default)]
pub struct ShardstatRecorder {
    inner: Arc<Inner>,
}

/// A metric's identity after sanitising: its name and its sorted labels.
type Id = (String, Vec<(String, String)>);

#[derive(Default)]
struct Inner {
    counters: RwLock<BTreeMap<Id, Arc<CounterCell>>>,
    gauges: RwLock<BTreeMap<Id, Arc<GaugeCell>>>,
    help: RwLock<BTreeMap<String, String>>,
    problems: Mutex<Vec<String>>,
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
    /// histograms (which it does not record).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("http.requests").increment(1);
    ///     metrics::histogram!("latency").record(1.0);
    /// });
    /// let problems = recorder.problems();
    /// assert!(problems[0].contains("renamed metric \"http.requests\" to \"http_requests\""));
    /// assert!(problems[1].contains("histogram \"latency\""));
    /// ```
    pub fn problems(&self) -> Vec<String> {
        lock(&self.inner.problems).clone()
    }

    /// The current value of a counter, by name and labels as given to `metrics` (after
    /// the same sanitising), if it was registered.
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
        let id = self.identity(
            name,
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            true,
            false,
        );
        read(&self.inner.counters)
            .get(&id)
            .map(|cell| cell.counter.get())
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

    /// The sanitised identity of a key; records what had to be renamed (once, when
    /// `note` is set).
    fn identity(
        &self,
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
            self.problem(format!("renamed metric {name:?} to {clean:?}"));
        }
        let mut labels: Vec<(String, String)> = labels
            .map(|(k, v)| {
                let key = sanitize(&k, false);
                if note && key != k {
                    self.problem(format!("renamed label {k:?} of {name:?} to {key:?}"));
                }
                (key, v)
            })
            .collect();
        labels.sort();
        (clean, labels)
    }

    fn problem(&self, text: String) {
        let mut problems = lock(&self.inner.problems);
        if !problems.contains(&text) {
            problems.push(text);
        }
    }

    /// Stores the help text of the counter or gauge `name`.
    fn describe(&self, name: &str, counter: bool, description: SharedString) {
        let (name, _) = self.identity(name, std::iter::empty(), counter, false);
        self.inner
            .help
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, description.into_owned());
    }

    /// Records that histogram `name` is not recorded.
    fn histogram_refused(&self, name: &str) {
        self.problem(format!(
            "histogram {name:?} is not recorded: shardstat's recorder has counters and gauges only"
        ));
    }

    fn key_identity(&self, key: &Key, counter: bool) -> Id {
        self.identity(
            key.name(),
            key.labels()
                .map(|l| (l.key().to_string(), l.value().to_string())),
            counter,
            true,
        )
    }
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

fn get_or_insert<T: Default>(map: &RwLock<BTreeMap<Id, Arc<T>>>, id: Id) -> Arc<T> {
    if let Some(found) = read(map).get(&id) {
        return Arc::clone(found);
    }
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(map.entry(id).or_default())
}

impl Recorder for ShardstatRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), true, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), false, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, _: SharedString) {
        self.histogram_refused(key.as_str());
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Counter {
        let id = self.key_identity(key, true);
        ::metrics::Counter::from_arc(get_or_insert(&self.inner.counters, id))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Gauge {
        let id = self.key_identity(key, false);
        ::metrics::Gauge::from_arc(get_or_insert(&self.inner.gauges, id))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.histogram_refused(key.name());
        Histogram::noop()
    }
}

impl fmt::Debug for ShardstatRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardstatRecorder")
            .field("counters", &read(&self.inner.counters).len())
            .field("gauges", &read(&self.inner.gauges).len())
            .field("problems", &lock(&self.inner.problems).len())
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
        let help = read(&self.inner.help).clone();
        let counters: Vec<(Id, u64)> = read(&self.inner.counters)
            .iter()
            .map(|(id, cell)| (id.clone(), cell.counter.get()))
            .collect();
        let gauges: Vec<(Id, f64)> = read(&self.inner.gauges)
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
        })
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
