//! A [`metrics::Recorder`] backed by shardstat (Cargo feature
//! `metrics`): `metrics::counter!("x").increment(1)` adds to a sharded [`Counter`], so it
//! scales with the threads that increment it instead of bouncing one atomic between them.
//!
//! - **Counters** are shardstat [`LazyCounter`]s: a key's counter is one word, added to by
//!   compare-and-swap, until two increments collide; then each increment goes to the
//!   calling thread's shard, as a [`Counter`]'s. So a cold key costs no per-thread memory,
//!   and a hot one scales. `absolute(v)` follows the `metrics` contract — the
//!   counter becomes at least `v` and never goes backwards — in one step under a per-counter
//!   lock taken only by `absolute` ([`LazyCounter::raise_to`]).
//! - **Gauges** are supported as one atomic `f64` each (a gauge is set, not summed: see
//!   [`Gauge`](crate::Gauge) for why it is not sharded).
//! - **Histograms** are shardstat [`Histogram`](crate::Histogram)s: `record(v)` is a sharded
//!   record into log-linear buckets (within 1/128 of every value), of `v` in units of
//!   10^-9 (nanoseconds for a histogram in seconds; `v` must be within `0.0..=1.8e10`).
//!   They render as classic Prometheus histograms at the `le` bounds you choose per metric
//!   name, prefix or suffix ([`ShardstatRecorder::builder`]; by default Prometheus's eleven
//!   [`DEFAULT_HISTOGRAM_BOUNDS`](ShardstatRecorder::DEFAULT_HISTOGRAM_BOUNDS)), each bound
//!   moved down to a bucket boundary so that its count is exact, and a sum that cannot wrap
//!   (128 bits of 10^-9 units). Values that cannot be recorded (negative, NaN, above the
//!   range) are counted and listed by [`ShardstatRecorder::problems`], never dropped
//!   silently.
//!
//! **Whatever names, labels and kinds a program registers, the exposition is one that a
//! strict OpenMetrics parser and Prometheus accept, with no sample silently dropped**: the
//! naming rules (invalid characters, a counter's `_total`, reserved and repeated labels,
//! empty label values, families whose names clash — `docs/integrations.md`, "Naming
//! rules") are applied once per key, when it is first registered, and every decision is
//! listed once by [`ShardstatRecorder::problems`]. Keys with the same exported identity
//! share one counter, gauge or histogram. A `describe_*` unit is exported as `# UNIT` when
//! the family's name ends with it, as OpenMetrics requires. What it holds renders through
//! `prometheus-client`'s encoder: [`ShardstatRecorder::render`], or register
//! [`ShardstatRecorder::collector`] in your own registry and encode it with
//! [`crate::prometheus::encode_text`] (which escapes `# HELP` as OpenMetrics requires).
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

use crate::families::{self, Families, Kind, Problems};
use crate::thread_cache::{self, ThreadCache};
use crate::{Counter, LazyCounter};
use ::metrics::{
    CounterFn, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};
use metrics_util::registry::{Registry as KeyRegistry, Storage};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit as ExportedUnit};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A `metrics` recorder whose counters are shardstat counters. Cheap to clone (an `Arc`).
///
/// # The lookup
/// Every `metrics::counter!(…)` call asks the recorder for the key's handle. Each thread
/// keeps a small cache of the handles it used (256 per kind, chosen by the key's hash, which
/// `metrics` computes once, at the call site for a static key): a hit compares the key and
/// clones a handle that the thread owns, so the call writes nothing that another thread
/// writes — no lock word, no shared reference count — and scales with threads. A miss asks
/// `metrics-util`'s [`Registry`](metrics_util::registry::Registry) (one hash-selected shard,
/// a read lock and a key compare). Applying
/// the naming rules, noting what they changed ([`problems`](Self::problems)), checking the
/// [cardinality limit](RecorderBuilder::cardinality_limit) and finding or
/// creating the shardstat cell of the key's exported identity happen once per key, on its
/// first registration, under one mutex; a scrape takes that mutex once to list the cells.
/// A key's identity is stored once, in the registry's copy of the key (about 180 bytes a
/// counter key in all; `docs/design.md` §17).
/// Keys whose identities are the same (`http.hits` and `http_hits`, or a label with an
/// empty value and none) share one cell.
#[derive(Clone)]
pub struct ShardstatRecorder {
    inner: Arc<Inner>,
}

impl Default for ShardstatRecorder {
    /// A recorder with the default histogram bounds: [`ShardstatRecorder::new`].
    fn default() -> Self {
        RecorderBuilder::default().build()
    }
}

/// Which metric names a histogram-bounds rule of [`RecorderBuilder::histogram_bounds`]
/// applies to, matched against the name as given to `metrics::histogram!` (as
/// metrics-exporter-prometheus's `Matcher`). When several rules match a name, a `Full`
/// rule wins over a `Prefix` rule, which wins over a `Suffix` rule; among rules of one
/// kind, the first added wins.
///
/// ```
/// use shardstat::metrics::Matcher;
///
/// assert!(Matcher::Suffix("_bytes".into()).matches("request_bytes"));
/// assert!(Matcher::Prefix("http_".into()).matches("http_latency_seconds"));
/// assert!(!Matcher::Full("latency".into()).matches("latency_seconds"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Matcher {
    /// The name, exactly.
    Full(String),
    /// Every name that starts with this.
    Prefix(String),
    /// Every name that ends with this.
    Suffix(String),
}

impl Matcher {
    /// Whether this matcher applies to the metric name `name`.
    ///
    /// ```
    /// assert!(shardstat::metrics::Matcher::Full("rtt".into()).matches("rtt"));
    /// ```
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Full(full) => name == full,
            Matcher::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => name.ends_with(suffix.as_str()),
        }
    }

    /// The order in which kinds of rules are tried: full, then prefix, then suffix.
    fn precedence(&self) -> u8 {
        match self {
            Matcher::Full(_) => 0,
            Matcher::Prefix(_) => 1,
            Matcher::Suffix(_) => 2,
        }
    }
}

/// Bounds that [`RecorderBuilder`] refused: empty, not finite, negative, not increasing,
/// two in one bucket, or too large to print exactly. Its message names the bounds, the
/// matcher, and the values at fault.
///
/// ```
/// use shardstat::metrics::{Matcher, ShardstatRecorder};
///
/// let err = ShardstatRecorder::builder()
///     .histogram_bounds(Matcher::Full("latency".into()), &[0.1, 0.05])
///     .unwrap_err();
/// assert!(err.to_string().contains("must increase strictly: 0.1 is followed by 0.05"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BoundsError {
    whose: String,
    reason: String,
}

impl fmt::Display for BoundsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid histogram bounds {}: {}",
            self.whose, self.reason
        )
    }
}

impl std::error::Error for BoundsError {}

/// Why [`RecorderBuilder::cardinality_limit`] refused a limit: it was 0.
///
/// ```
/// let err = shardstat::metrics::ShardstatRecorder::builder()
///     .cardinality_limit(0)
///     .unwrap_err();
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardinalityLimitError {
    limit: usize,
}

impl fmt::Display for CardinalityLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a cardinality limit of {} label sets per metric: it must be at least 1 (a \
             metric without labels has one label set, the empty one)",
            self.limit
        )
    }
}

impl std::error::Error for CardinalityLimitError {}

/// Builds a [`ShardstatRecorder`] with the `le` bounds its histograms export, per metric
/// name, prefix or suffix ([`Matcher`]). A histogram's bounds are chosen when its first key
/// is registered, from the name given to `metrics::histogram!`.
///
/// Each bound is in the histogram's own unit (seconds for a histogram of seconds, bytes for
/// one of bytes) and is moved down to the highest value of the bucket at or below it, as
/// [`ClassicHistogram`](crate::prometheus::ClassicHistogram) does: the recorder keeps values
/// in units of 10^-9 in log-linear buckets (64 per power of two), and a count is exact only
/// at a bucket's edge. A bound moves by less than 1/64 of itself: `0.005` is exported as
/// `le="0.004980735"`, and a value of exactly `0.005` is counted above it, as it must be.
/// [`ShardstatRecorder::histogram_bounds`] says where a name's bounds went.
///
/// Bad bounds are an error here, when the recorder is built — never fixed silently.
///
/// ```
/// use shardstat::metrics::{Matcher, ShardstatRecorder};
///
/// let recorder = ShardstatRecorder::builder()
///     .histogram_bounds(Matcher::Suffix("_seconds".into()), &[0.001, 0.01, 0.1, 1.0])?
///     .histogram_bounds(Matcher::Full("request_bytes".into()), &[1e3, 1e4, 1e5, 1e6])?
///     .build();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::histogram!("db_query_seconds").record(0.004);
///     metrics::histogram!("request_bytes").record(1500.0);
/// });
/// let text = recorder.render();
/// assert!(text.contains("db_query_seconds_bucket{le=\"0.009961471\"} 1"));
/// assert!(text.contains("request_bytes_bucket{le=\"9895.604649983\"} 1"));
/// assert_eq!(text.matches("db_query_seconds_bucket{").count(), 5); // four bounds and +Inf
/// # Ok::<(), shardstat::metrics::BoundsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RecorderBuilder {
    bounds: Bounds,
    cardinality_limit: usize,
}

impl Default for RecorderBuilder {
    fn default() -> Self {
        RecorderBuilder {
            cardinality_limit: ShardstatRecorder::DEFAULT_CARDINALITY_LIMIT,
            bounds: Bounds {
                rules: Vec::new(),
                default: checked_bounds("by default", &ShardstatRecorder::DEFAULT_HISTOGRAM_BOUNDS)
                    .expect("the default bounds are valid"),
            },
        }
    }
}

impl RecorderBuilder {
    /// Histograms whose name `matcher` matches export `bounds` (in their own unit;
    /// `+Inf` is always added), each moved down to a bucket boundary.
    ///
    /// # Errors
    /// [`BoundsError`] if `bounds` is empty; if a bound is NaN, infinite or negative; if
    /// bounds do not increase strictly, or two fall in one bucket (then they are within 1/64
    /// of each other); or if a bound is above `9007199.254740991` (2^53 − 1 units of 10^-9,
    /// the last one a 64-bit float prints exactly as an `le` label).
    ///
    /// ```
    /// use shardstat::metrics::{Matcher, ShardstatRecorder};
    ///
    /// let recorder = ShardstatRecorder::builder()
    ///     .histogram_bounds(Matcher::Prefix("queue_".into()), &[1.0, 10.0, 100.0])?
    ///     .build();
    /// assert_eq!(recorder.histogram_bounds("queue_depth"), [0.998244351, 9.932111871, 99.857989631]);
    /// let err = ShardstatRecorder::builder()
    ///     .histogram_bounds(Matcher::Prefix("queue_".into()), &[])
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("no bounds given"));
    /// # Ok::<(), shardstat::metrics::BoundsError>(())
    /// ```
    pub fn histogram_bounds(
        mut self,
        matcher: Matcher,
        bounds: &[f64],
    ) -> Result<Self, BoundsError> {
        let checked = checked_bounds(&format!("for {matcher:?}"), bounds)?;
        self.bounds.rules.push((matcher, checked));
        Ok(self)
    }

    /// Histograms that no [`histogram_bounds`](Self::histogram_bounds) rule matches export
    /// `bounds` (instead of [`ShardstatRecorder::DEFAULT_HISTOGRAM_BOUNDS`]).
    ///
    /// # Errors
    /// As [`histogram_bounds`](Self::histogram_bounds).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::builder()
    ///     .default_histogram_bounds(&[0.0, 1.0])?
    ///     .build();
    /// assert_eq!(recorder.histogram_bounds("anything"), [0.0, 0.998244351]);
    /// # Ok::<(), shardstat::metrics::BoundsError>(())
    /// ```
    pub fn default_histogram_bounds(mut self, bounds: &[f64]) -> Result<Self, BoundsError> {
        self.bounds.default = checked_bounds("by default", bounds)?;
        Ok(self)
    }

    /// Each metric (a counter, gauge or histogram family) gets at most `limit` label sets of
    /// its own; the label sets registered after them all count in one more series per
    /// metric, labelled `overflow="true"`, so a `sum()` over the metric stays exact however
    /// many label values a program makes up (a user id, a path). Each metric that reaches
    /// its limit is listed once in [`problems`](ShardstatRecorder::problems). By default
    /// [`DEFAULT_CARDINALITY_LIMIT`](ShardstatRecorder::DEFAULT_CARDINALITY_LIMIT) (2,000,
    /// OpenTelemetry's default).
    ///
    /// A key sent to the overflow series is not kept: the recorder's memory stops growing
    /// with it (each `counter!` call with such a key then takes the recorder's lock to find
    /// the overflow series, the cost of a first registration).
    ///
    /// # Errors
    /// [`CardinalityLimitError`] if `limit` is 0 (a metric must keep at least one label set
    /// of its own; with no labels it has exactly one).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::builder()
    ///     .cardinality_limit(2)?
    ///     .build();
    /// metrics::with_local_recorder(&recorder, || {
    ///     for user in ["ann", "bob", "cy", "dee"] {
    ///         metrics::counter!("logins", "user" => user).increment(1);
    ///     }
    /// });
    /// let text = recorder.render();
    /// assert!(text.contains("logins_total{user=\"ann\"} 1"));
    /// assert!(text.contains("logins_total{user=\"bob\"} 1"));
    /// assert!(text.contains("logins_total{overflow=\"true\"} 2")); // cy and dee
    /// assert!(recorder.problems()[0].contains("\"logins\" reached its limit of 2 label sets"));
    /// assert!(shardstat::metrics::ShardstatRecorder::builder().cardinality_limit(0).is_err());
    /// # Ok::<(), shardstat::metrics::CardinalityLimitError>(())
    /// ```
    pub fn cardinality_limit(mut self, limit: usize) -> Result<Self, CardinalityLimitError> {
        if limit == 0 {
            return Err(CardinalityLimitError { limit });
        }
        self.cardinality_limit = limit;
        Ok(self)
    }

    /// The recorder.
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::builder().build();
    /// assert_eq!(recorder.render(), "# EOF\n");
    /// ```
    pub fn build(mut self) -> ShardstatRecorder {
        // Full rules first, then prefixes, then suffixes; a stable sort keeps the order in
        // which rules of one kind were added.
        self.bounds.rules.sort_by_key(|(m, _)| m.precedence());
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            bounds: self.bounds,
            cardinality_limit: self.cardinality_limit,
            pending: Mutex::default(),
            drained: Mutex::default(),
        });
        ShardstatRecorder {
            inner: Arc::new(Inner {
                id: thread_cache::recorder_id(),
                keys: KeyRegistry::new(Cells(Arc::clone(&shared))),
                shared,
            }),
        }
    }
}

/// The largest bound a recorder histogram exports: 2^53 − 1 units of 10^-9, the last
/// value below which every integer number of units prints exactly as an `f64` label.
const MAX_BOUND_UNITS: u64 = (1 << 53) - 1;

/// `bounds` (in a histogram's unit) as bucket boundaries in units of 10^-9, or why not.
fn checked_bounds(whose: &str, bounds: &[f64]) -> Result<Arc<[u64]>, BoundsError> {
    let error = |reason: String| BoundsError {
        whose: whose.to_string(),
        reason,
    };
    if bounds.is_empty() {
        return Err(error("no bounds given (+Inf is always added)".into()));
    }
    let max = MAX_BOUND_UNITS as f64 / PER_UNIT;
    if let Some(&bad) = bounds.iter().find(|b| !(0.0..=max).contains(*b)) {
        return Err(error(format!(
            "{bad} is not a bound: each must be a number from 0 to {max} (2^53 − 1 units of \
             10^-9, the last a 64-bit float prints exactly)"
        )));
    }
    if let Some(pair) = bounds.windows(2).find(|w| w[0] >= w[1]) {
        return Err(error(format!(
            "bounds must increase strictly: {} is followed by {}",
            pair[0], pair[1]
        )));
    }
    let moved: Vec<u64> = bounds
        .iter()
        .map(|b| crate::histogram::boundary_at_or_below((b * PER_UNIT).round() as u64))
        .collect();
    if let Some(i) = moved.windows(2).position(|w| w[0] >= w[1]) {
        return Err(error(format!(
            "{} and {} fall in one bucket (both would be exported as le=\"{}\"): bounds \
             must be more than 1/64 apart",
            bounds[i],
            bounds[i + 1],
            moved[i + 1] as f64 / PER_UNIT
        )));
    }
    Ok(moved.into())
}

/// The bounds a recorder's histograms export, in units of 10^-9, by name.
#[derive(Clone, Debug)]
struct Bounds {
    /// Sorted by precedence (full, prefix, suffix) when the recorder is built.
    rules: Vec<(Matcher, Arc<[u64]>)>,
    default: Arc<[u64]>,
}

impl Bounds {
    fn of(&self, name: &str) -> &Arc<[u64]> {
        self.rules
            .iter()
            .find(|(m, _)| m.matches(name))
            .map_or(&self.default, |(_, b)| b)
    }
}

/// A metric's exported identity: its family name and its sorted labels.
type Id = (String, Vec<(String, String)>);

struct Inner {
    /// This recorder's id in the threads' caches (`thread_cache`).
    id: u64,
    /// Handles by `metrics` key: where a thread's cache misses go.
    keys: KeyRegistry<Key, Cells>,
    shared: Arc<Shared>,
}

/// What keys' first registrations, the renderer and the problem list share.
///
/// Locks are taken in one order: `state`, then a registry shard's lock, then `pending`. A
/// key's first registration holds `state` throughout (so first registrations are one at a
/// time, and see each other whole), a scrape holds it while it walks the registry, and the
/// registry's storage callback takes only `pending`.
struct Shared {
    state: Mutex<State>,
    /// The cell the next key the registry stores gets: set by
    /// [`ShardstatRecorder::register_new`], which has found or made it, for the registry's
    /// storage callback ([`Cells`]), which has only the key.
    pending: Mutex<Pending>,
    bounds: Bounds,
    /// Label sets of their own per metric ([`RecorderBuilder::cardinality_limit`]).
    cardinality_limit: usize,
    /// What the previous [`ShardstatRecorder::drain`] read; held for the whole of a drain,
    /// so drains are one at a time.
    drained: Mutex<DrainState>,
}

/// Each counter's value and each histogram's snapshot as the previous drain read them.
#[derive(Default)]
struct DrainState {
    counters: HashMap<Id, u64>,
    histograms: HashMap<Id, crate::HistogramSnapshot>,
}

/// What a [`ShardstatRecorder`] counted since the previous [`drain`](ShardstatRecorder::drain)
/// (delta temporality): the counters that moved and the histograms that recorded, by
/// exported name and labels (after the naming rules, as [`render`](ShardstatRecorder::render)
/// shows them).
///
/// ```
/// let recorder = shardstat::metrics::ShardstatRecorder::new();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("jobs").increment(2));
/// let drained = recorder.drain();
/// assert_eq!(drained.counters[0].name, "jobs");
/// assert_eq!(drained.counters[0].delta, 2);
/// assert!(drained.histograms.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Every counter whose value moved since the previous drain, by name and labels.
    pub counters: Vec<CounterDelta>,
    /// Every histogram that recorded since the previous drain, by name and labels.
    pub histograms: Vec<HistogramDelta>,
}

/// One counter's increase since the previous drain: an element of [`Drained::counters`].
///
/// ```
/// let recorder = shardstat::metrics::ShardstatRecorder::new();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("http.hits", "route" => "/").increment(3)
/// });
/// let delta = &recorder.drain().counters[0];
/// assert_eq!((delta.name.as_str(), delta.delta), ("http_hits", 3));
/// assert_eq!(delta.labels, [("route".to_string(), "/".to_string())]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterDelta {
    /// The exported family name (without `_total`).
    pub name: String,
    /// The exported labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// How much the counter rose since the previous drain (wrapping).
    pub delta: u64,
}

/// One histogram's records since the previous drain: an element of [`Drained::histograms`].
///
/// ```
/// let recorder = shardstat::metrics::ShardstatRecorder::new();
/// metrics::with_local_recorder(&recorder, || metrics::histogram!("rtt_seconds").record(0.5));
/// let delta = &recorder.drain().histograms[0];
/// assert_eq!(delta.interval.count(), 1);
/// assert_eq!(delta.interval.sum(), 500_000_000); // in units of 10^-9
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramDelta {
    /// The exported family name.
    pub name: String,
    /// The exported labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The records since the previous drain, in units of 10^-9 of the recorded values
    /// (nanoseconds for seconds), as [`ShardstatRecorder::histogram_snapshot`].
    pub interval: crate::HistogramSnapshot,
}

/// The cells [`ShardstatRecorder::register_new`] hands the registry's storage callback.
#[derive(Default)]
struct Pending {
    counters: Option<Arc<CounterCell>>,
    gauges: Option<Arc<GaugeCell>>,
    histograms: Option<Arc<HistogramCell>>,
}

/// The naming rules' decisions and the identities that no registered key spells.
///
/// A key's exported identity is stored once: in the registry's copy of the key. Most keys
/// spell their identity — a valid name, valid labels in order, its family not renamed —
/// and are all there is of it (a scrape reads the identity back from the key). The maps
/// below hold only the identities that some key does *not* spell (`http.hits` for
/// `http_hits`, labels out of order, a renamed family) and the overflow series, which no
/// registered key spells: a cell per identity, which every key of that identity shares.
#[derive(Default)]
struct State {
    /// Every family exported so far, and the names its samples take.
    families: Families,
    counters: BTreeMap<Id, Arc<CounterCell>>,
    gauges: BTreeMap<Id, Arc<GaugeCell>>,
    histograms: BTreeMap<Id, Arc<HistogramCell>>,
    /// Help and unit by kind and base name (the name before any clash renamed its family).
    help: HashMap<(Kind, String), (String, Option<Unit>)>,
    /// How many label sets of its own each metric has, by kind and family (the overflow
    /// series not counted).
    series: HashMap<(Kind, String), usize>,
    problems: Problems,
}

/// The labels of a metric's overflow series ([`RecorderBuilder::cardinality_limit`]).
fn overflow_labels() -> Vec<(String, String)> {
    vec![("overflow".to_string(), "true".to_string())]
}

impl State {
    /// The exported identity of a metric of `kind` named `name` with `labels`, applying the
    /// naming rules and noting each decision; `None` if the name is empty once made valid
    /// (then nothing is exported for it).
    fn identity(
        &mut self,
        kind: Kind,
        name: &str,
        labels: impl IntoIterator<Item = (String, String)>,
    ) -> Option<Id> {
        let problems = &mut self.problems;
        let Some(base) = families::base_name(kind, name) else {
            problems.note(format!(
                "refused {} {name:?}: no name is left once made valid, so nothing is exported \
                 for it",
                kind_word(kind)
            ));
            return None;
        };
        if base != name && !(kind == Kind::Counter && format!("{base}_total") == name) {
            problems.note(format!("renamed metric {name:?} to {base:?}"));
        }
        let family = self.families.claim(kind, &base, |n| problems.note(n));
        let labels = families::labels(kind, name, labels, |n| problems.note(n));
        Some((family, labels))
    }

    /// Whether a key of `kind` whose identity is `id` counts in a series of its own: yes if
    /// `id` has a series already (`exists`), is an overflow series, or its metric has fewer
    /// than `limit` label sets (then it takes one); else it counts in its metric's overflow
    /// series, and this notes once that the metric reached its limit.
    fn admit(&mut self, kind: Kind, id: &Id, exists: bool, limit: usize) -> bool {
        if exists || id.1 == overflow_labels() {
            return true;
        }
        let taken = self.series.entry((kind, id.0.clone())).or_default();
        if *taken < limit {
            *taken += 1;
            return true;
        }
        self.problems.note(format!(
            "{} {:?} reached its limit of {limit} label sets: label sets registered after \
             them are counted in its series {{overflow=\"true\"}}",
            kind_word(kind),
            id.0
        ));
        false
    }

    /// The identity a metric would have, if it was registered: nothing is claimed or noted.
    fn lookup(&self, kind: Kind, name: &str, labels: &[(&str, &str)]) -> Option<Id> {
        let base = families::base_name(kind, name)?;
        let family = self.families.get(kind, &base)?.to_string();
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Some((family, families::labels(kind, name, labels, |_| {})))
    }
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    }
}

/// The registry's storage: hands the registry the cell that
/// [`ShardstatRecorder::register_new`] found or made for the key it is storing.
struct Cells(Arc<Shared>);

/// A key's name and labels, owned.
fn parts(key: &Key) -> (&str, Vec<(String, String)>) {
    let labels = key
        .labels()
        .map(|l| (l.key().to_string(), l.value().to_string()))
        .collect();
    (key.name(), labels)
}

/// The key that spells identity `id`: its family's name and its labels, in order.
fn spelling(id: &Id) -> Key {
    let labels: Vec<::metrics::Label> =
        id.1.iter()
            .map(|(k, v)| ::metrics::Label::new(k.clone(), v.clone()))
            .collect();
    Key::from_parts(id.0.clone(), labels)
}

/// What registration and the readers need of each kind of cell.
trait Cell: Sized {
    const KIND: Kind;
    /// The identities of this kind that no registered key spells ([`State`]).
    fn unspelled(state: &State) -> &BTreeMap<Id, Arc<Self>>;
    fn unspelled_mut(state: &mut State) -> &mut BTreeMap<Id, Arc<Self>>;
    fn pending(pending: &mut Pending) -> &mut Option<Arc<Self>>;
    /// A new cell for `key`.
    fn make(shared: &Shared, key: &Key) -> Arc<Self>;
    fn get(keys: &KeyRegistry<Key, Cells>, key: &Key) -> Option<Arc<Self>>;
    fn get_or_create(keys: &KeyRegistry<Key, Cells>, key: &Key) -> Arc<Self>;
    fn visit(keys: &KeyRegistry<Key, Cells>, each: &mut dyn FnMut(&Key, &Arc<Self>));
}

/// The `Cell` impl of one kind: its `Kind`, its fields of `State` and `Pending`, the
/// registry's methods for it, and how a new cell is made.
macro_rules! cell_kind {
    ($cell:ty, $kind:ident, $field:ident, $get:ident, $get_or_create:ident, $visit:ident,
     |$shared:pat_param, $key:pat_param| $make:expr) => {
        impl Cell for $cell {
            const KIND: Kind = Kind::$kind;
            fn unspelled(state: &State) -> &BTreeMap<Id, Arc<Self>> {
                &state.$field
            }
            fn unspelled_mut(state: &mut State) -> &mut BTreeMap<Id, Arc<Self>> {
                &mut state.$field
            }
            fn pending(pending: &mut Pending) -> &mut Option<Arc<Self>> {
                &mut pending.$field
            }
            fn make($shared: &Shared, $key: &Key) -> Arc<Self> {
                $make
            }
            fn get(keys: &KeyRegistry<Key, Cells>, key: &Key) -> Option<Arc<Self>> {
                keys.$get(key)
            }
            fn get_or_create(keys: &KeyRegistry<Key, Cells>, key: &Key) -> Arc<Self> {
                keys.$get_or_create(key, Arc::clone)
            }
            fn visit(keys: &KeyRegistry<Key, Cells>, each: &mut dyn FnMut(&Key, &Arc<Self>)) {
                keys.$visit(each);
            }
        }
    };
}

cell_kind!(
    CounterCell,
    Counter,
    counters,
    get_counter,
    get_or_create_counter,
    visit_counters,
    |_, _| Arc::default()
);
cell_kind!(
    GaugeCell,
    Gauge,
    gauges,
    get_gauge,
    get_or_create_gauge,
    visit_gauges,
    |_, _| Arc::default()
);
cell_kind!(
    HistogramCell,
    Histogram,
    histograms,
    get_histogram,
    get_or_create_histogram,
    visit_histograms,
    |shared, key| Arc::new(HistogramCell::new(Arc::clone(shared.bounds.of(key.name()))))
);

impl Cells {
    /// The cell `register_new` left for the key the registry is storing.
    fn take<C: Cell>(&self) -> Arc<C> {
        C::pending(&mut lock(&self.0.pending))
            .take()
            .expect("only register_new stores keys, and it leaves their cell first")
    }
}

impl Storage<Key> for Cells {
    type Counter = Arc<CounterCell>;
    type Gauge = Arc<GaugeCell>;
    type Histogram = Arc<HistogramCell>;

    fn counter(&self, _: &Key) -> Arc<CounterCell> {
        self.take()
    }

    fn gauge(&self, _: &Key) -> Arc<GaugeCell> {
        self.take()
    }

    fn histogram(&self, _: &Key) -> Arc<HistogramCell> {
        self.take()
    }
}

/// The cell of identity `id`, if a key of that identity was registered: the one in the
/// unspelled identities, or the cell of the registered key that spells `id`.
fn existing<C: Cell>(state: &State, keys: &KeyRegistry<Key, Cells>, id: &Id) -> Option<Arc<C>> {
    if let Some(cell) = C::unspelled(state).get(id) {
        return Some(Arc::clone(cell));
    }
    // A key spelled like `id` whose identity is another (a gauge `foo_2` beside the gauge
    // `foo` renamed `foo_2` is `foo_2_2`) is not of this identity.
    let labels: Vec<(&str, &str)> = id.1.iter().map(|(k, v)| (&**k, &**v)).collect();
    if state.lookup(C::KIND, &id.0, &labels).as_ref() != Some(id) {
        return None;
    }
    C::get(keys, &spelling(id))
}

/// Every cell of kind `C` by exported identity: the registered keys that spell theirs (the
/// identity read back from each key) and the identities that none spells.
fn all<C: Cell>(state: &State, keys: &KeyRegistry<Key, Cells>) -> BTreeMap<Id, Arc<C>> {
    let mut all = C::unspelled(state).clone();
    C::visit(keys, &mut |key, cell| {
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        if let Some(id) = state.lookup(C::KIND, key.name(), &labels) {
            let kept = all.entry(id).or_insert_with(|| Arc::clone(cell));
            debug_assert!(Arc::ptr_eq(kept, cell), "two cells of one identity");
        }
    });
    all
}

/// A histogram registered through `metrics`: values in units of `1 / PER_UNIT`.
struct HistogramCell {
    histogram: crate::Histogram,
    /// Values that could not be recorded (negative, NaN, too large).
    rejected: Counter,
    /// The `le` bounds it exports, in units of `1 / PER_UNIT`: bucket boundaries.
    bounds: Arc<[u64]>,
}

impl HistogramCell {
    fn new(bounds: Arc<[u64]>) -> Self {
        HistogramCell {
            histogram: crate::Histogram::new(),
            rejected: Counter::new(),
            bounds,
        }
    }
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

/// A counter registered through `metrics`: a [`LazyCounter`], so a key that no two threads
/// increment at once costs one word and no per-thread cell (`docs/design.md` §18).
#[derive(Default)]
struct CounterCell {
    counter: LazyCounter,
}

impl CounterFn for CounterCell {
    #[inline]
    fn increment(&self, value: u64) {
        self.counter.add(value);
    }

    /// One step under the counter's lock ([`LazyCounter::raise_to`]): the counter becomes at
    /// least `value`, increments that land after the step count on top, and it never goes
    /// backwards. (Before, a read and then a `set` let increments between them be cancelled:
    /// a reader saw the counter fall by up to 889,833.)
    fn absolute(&self, value: u64) {
        self.counter.raise_to(value);
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
    /// The `le` bounds a recorder histogram exports unless its builder chose others:
    /// Prometheus's default buckets (client_golang's `DefBuckets`), for latencies in
    /// seconds. Each is moved down to a bucket boundary when exported (`0.005` becomes
    /// `0.004980735`: [`RecorderBuilder`]).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// let exported = recorder.histogram_bounds("latency_seconds");
    /// assert_eq!(exported.len(), shardstat::metrics::ShardstatRecorder::DEFAULT_HISTOGRAM_BOUNDS.len());
    /// assert_eq!(exported[0], 0.004980735);
    /// ```
    pub const DEFAULT_HISTOGRAM_BOUNDS: [f64; 11] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];

    /// How many label sets of its own each metric keeps unless the builder chose another
    /// limit ([`RecorderBuilder::cardinality_limit`]): 2,000, OpenTelemetry's default.
    ///
    /// ```
    /// assert_eq!(shardstat::metrics::ShardstatRecorder::DEFAULT_CARDINALITY_LIMIT, 2_000);
    /// ```
    pub const DEFAULT_CARDINALITY_LIMIT: usize = 2_000;

    /// An empty recorder whose histograms export the
    /// [`DEFAULT_HISTOGRAM_BOUNDS`](Self::DEFAULT_HISTOGRAM_BOUNDS) (choose others with
    /// [`builder`](Self::builder)).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// assert!(recorder.problems().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that chooses the `le` bounds histograms export, per metric name, prefix or
    /// suffix: [`RecorderBuilder`].
    ///
    /// ```
    /// use shardstat::metrics::{Matcher, ShardstatRecorder};
    ///
    /// let recorder = ShardstatRecorder::builder()
    ///     .histogram_bounds(Matcher::Suffix("_seconds".into()), &[0.001, 0.01, 0.1])?
    ///     .build();
    /// assert_eq!(recorder.histogram_bounds("rpc_seconds"), [0.000999423, 0.009961471, 0.099614719]);
    /// # Ok::<(), shardstat::metrics::BoundsError>(())
    /// ```
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder::default()
    }

    /// The `le` bounds (without `+Inf`) that a histogram named `name` — as given to
    /// `metrics::histogram!` — exports, or would export if it was registered now: its
    /// rule's (or the default) bounds, each moved down to a bucket boundary. A histogram
    /// already registered keeps the bounds it was registered with.
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// assert_eq!(recorder.histogram_bounds("x").last(), Some(&9.932111871));
    /// ```
    pub fn histogram_bounds(&self, name: &str) -> Vec<f64> {
        let state = lock(&self.inner.shared.state);
        let registered = state
            .lookup(Kind::Histogram, name, &[])
            .and_then(|(family, _)| {
                all::<HistogramCell>(&state, &self.inner.keys)
                    .into_iter()
                    .find(|((f, _), _)| *f == family)
                    .map(|(_, cell)| Arc::clone(&cell.bounds))
            });
        let bounds = registered.unwrap_or_else(|| Arc::clone(self.inner.shared.bounds.of(name)));
        bounds.iter().map(|&b| b as f64 / PER_UNIT).collect()
    }

    /// Every decision the naming rules made (renamed metrics and labels, dropped empty
    /// label values, renamed clashing families, refused empty names, units not exported),
    /// each listed once, and how many values each histogram could not record (negative,
    /// NaN, or above its range).
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
        let state = lock(&self.inner.shared.state);
        let mut problems = state.problems.list().to_vec();
        for ((name, labels), cell) in all::<HistogramCell>(&state, &self.inner.keys) {
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
    /// naming rules), if it was registered; its values are in units of 10^-9 of the recorded
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
        let state = lock(&self.inner.shared.state);
        let id = state.lookup(Kind::Histogram, name, labels)?;
        existing::<HistogramCell>(&state, &self.inner.keys, &id)
            .map(|cell| cell.histogram.snapshot())
    }

    /// The current value of a counter, by name and labels as given to `metrics` (after the
    /// same naming rules: the value every key with that identity adds to), if it was
    /// registered.
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
        let state = lock(&self.inner.shared.state);
        let id = state.lookup(Kind::Counter, name, labels)?;
        existing::<CounterCell>(&state, &self.inner.keys, &id).map(|cell| cell.counter.get())
    }

    /// Every counter's increase and every histogram's records since the previous drain
    /// (since the recorder was made, for the first): delta temporality, for a statsd or
    /// OpenTelemetry-delta pusher or a per-interval JSON flush, beside the cumulative
    /// [`render`](Self::render).
    ///
    /// **Every increment and record is in exactly one drain** (or in a later one): a drain
    /// reads each counter once and each histogram once (a snapshot, each record whole) and
    /// returns the difference from what the previous drain read, so a value that arrives
    /// during the read is in this drain or the next, never both, never neither. The
    /// cumulative view is not touched — a drain zeroes nothing — so `render()` and
    /// [`counter_value`](Self::counter_value) keep counting from the start, and the deltas
    /// of all drains so far sum to each counter's value at the last drain's read (a later
    /// read is that or more). Drains run one at a time; the recorder keeps each key's last
    /// drained value (8 bytes per counter, a snapshot per histogram).
    ///
    /// ```
    /// let recorder = shardstat::metrics::ShardstatRecorder::new();
    /// let total = std::sync::atomic::AtomicU64::new(0);
    /// let mut drained = 0;
    /// std::thread::scope(|s| {
    ///     let requests = metrics::with_local_recorder(&recorder, || metrics::counter!("requests"));
    ///     s.spawn(move || (0..10_000).for_each(|_| requests.increment(1)));
    ///     for _ in 0..10 {
    ///         drained += recorder.drain().counters.iter().map(|c| c.delta).sum::<u64>();
    ///     }
    /// });
    /// drained += recorder.drain().counters.iter().map(|c| c.delta).sum::<u64>();
    /// assert_eq!(drained, 10_000); // every increment in exactly one drain
    /// assert_eq!(recorder.counter_value("requests", &[]), Some(10_000)); // render unchanged
    /// ```
    pub fn drain(&self) -> Drained {
        let mut last = lock(&self.inner.shared.drained);
        let (counters, histograms) = {
            let state = lock(&self.inner.shared.state);
            (
                all::<CounterCell>(&state, &self.inner.keys),
                all::<HistogramCell>(&state, &self.inner.keys),
            )
        };
        let mut drained = Drained::default();
        for ((name, labels), cell) in counters {
            let now = cell.counter.get();
            let before = last.counters.insert((name.clone(), labels.clone()), now);
            let delta = now.wrapping_sub(before.unwrap_or(0));
            if delta != 0 {
                drained.counters.push(CounterDelta {
                    name,
                    labels,
                    delta,
                });
            }
        }
        for ((name, labels), cell) in histograms {
            let now = cell.histogram.snapshot();
            let interval = match last.histograms.get(&(name.clone(), labels.clone())) {
                Some(before) => now.since(before),
                None => now.clone(),
            };
            last.histograms.insert((name.clone(), labels.clone()), now);
            if interval.count() != 0 {
                drained.histograms.push(HistogramDelta {
                    name,
                    labels,
                    interval,
                });
            }
        }
        drained
    }

    /// A `prometheus-client` collector over everything the recorder holds, to register in
    /// your own registry (`registry.register_collector(Box::new(recorder.collector()))`;
    /// encode it with [`crate::prometheus::encode_text`]).
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
    /// `prometheus-client` (with `# HELP` escaped: [`crate::prometheus::encode_text`]).
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

/// Stores the help text and unit of a metric of `kind` named `name`.
fn describe(
    shared: &Shared,
    kind: Kind,
    name: &str,
    unit: Option<Unit>,
    description: SharedString,
) {
    let mut state = lock(&shared.state);
    match families::base_name(kind, name) {
        Some(base) => {
            let help = crate::prometheus::help_text(&description);
            state.help.insert((kind, base), (help, unit));
        }
        None => state.problems.note(format!(
            "refused the description of {} {name:?}: no name is left once made valid",
            kind_word(kind)
        )),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recorder for ShardstatRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        describe(
            &self.inner.shared,
            Kind::Counter,
            key.as_str(),
            unit,
            description,
        );
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        describe(
            &self.inner.shared,
            Kind::Gauge,
            key.as_str(),
            unit,
            description,
        );
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        describe(
            &self.inner.shared,
            Kind::Histogram,
            key.as_str(),
            unit,
            description,
        );
    }

    /// The hit path of every `counter!` call: the calling thread's cache (`thread_cache`),
    /// whose handle for the key this thread owns — its reference count is this thread's —
    /// and which adds to the key's shared counter. A miss asks the registry (one lookup; a
    /// key the registry has not seen takes the cold path, `register_new`).
    #[inline]
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Counter {
        let handle = thread_cache::get_or_insert(&COUNTERS, self.inner.id, key, || {
            Arc::new(ThreadHandle(self.cell(key)))
        });
        ::metrics::Counter::from_arc(handle)
    }

    #[inline]
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Gauge {
        let handle = thread_cache::get_or_insert(&GAUGES, self.inner.id, key, || {
            Arc::new(ThreadHandle(self.cell(key)))
        });
        ::metrics::Gauge::from_arc(handle)
    }

    #[inline]
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let handle = thread_cache::get_or_insert(&HISTOGRAMS, self.inner.id, key, || {
            Arc::new(ThreadHandle(self.cell(key)))
        });
        Histogram::from_arc(handle)
    }
}

/// A handle that one thread's cache owns (its reference count is that thread's) on a
/// key's shared cell: what `counter!`, `gauge!` and `histogram!` return.
struct ThreadHandle<C>(Arc<C>);

impl CounterFn for ThreadHandle<CounterCell> {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.increment(value);
    }
    fn absolute(&self, value: u64) {
        self.0.absolute(value);
    }
}

impl GaugeFn for ThreadHandle<GaugeCell> {
    fn increment(&self, value: f64) {
        self.0.increment(value);
    }
    fn decrement(&self, value: f64) {
        self.0.decrement(value);
    }
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl HistogramFn for ThreadHandle<HistogramCell> {
    #[inline]
    fn record(&self, value: f64) {
        self.0.record(value);
    }
}

std::thread_local! {
    /// Each thread's handles, per kind (`thread_cache`).
    static COUNTERS: RefCell<ThreadCache<ThreadHandle<CounterCell>>> =
        const { RefCell::new(ThreadCache::new()) };
    static GAUGES: RefCell<ThreadCache<ThreadHandle<GaugeCell>>> =
        const { RefCell::new(ThreadCache::new()) };
    static HISTOGRAMS: RefCell<ThreadCache<ThreadHandle<HistogramCell>>> =
        const { RefCell::new(ThreadCache::new()) };
}

impl ShardstatRecorder {
    /// The shared cell of `key`, on a miss of the calling thread's cache: the registry's
    /// (one lookup), or for a key the registry has not seen, [`register_new`](Self::register_new).
    #[inline]
    fn cell<C: Cell>(&self, key: &Key) -> Arc<C> {
        match C::get(&self.inner.keys, key) {
            Some(cell) => cell,
            None => self.register_new(key),
        }
    }

    /// A key the registry has not seen, under the recorder's mutex: applies the naming rules
    /// (noting what they change), checks the cardinality limit, and finds the cell of the
    /// key's identity or makes one. The key is then stored in the registry with that cell —
    /// unless its metric is at its limit and the key is new to it: then it counts in the
    /// metric's overflow series and is not kept, so made-up label values do not grow the
    /// registry.
    #[cold]
    #[inline(never)]
    fn register_new<C: Cell>(&self, key: &Key) -> Arc<C> {
        let (shared, keys) = (&*self.inner.shared, &self.inner.keys);
        let mut state = lock(&shared.state);
        // Another thread may have stored it since this thread's lookup.
        if let Some(cell) = C::get(keys, key) {
            return cell;
        }
        let (name, labels) = parts(key);
        let cell = match state.identity(C::KIND, name, labels.iter().cloned()) {
            // Nothing is exported for it (`problems` says so): a cell of its own.
            None => C::make(shared, key),
            Some(id) => {
                let found = existing::<C>(&state, keys, &id);
                if !state.admit(C::KIND, &id, found.is_some(), shared.cardinality_limit) {
                    let overflow = (id.0, overflow_labels());
                    if let Some(cell) = existing::<C>(&state, keys, &overflow) {
                        return cell;
                    }
                    let cell = C::make(shared, key);
                    C::unspelled_mut(&mut state).insert(overflow, Arc::clone(&cell));
                    return cell;
                }
                let cell = found.unwrap_or_else(|| C::make(shared, key));
                if id.0 != name || id.1 != labels {
                    C::unspelled_mut(&mut state)
                        .entry(id)
                        .or_insert_with(|| Arc::clone(&cell));
                }
                cell
            }
        };
        *C::pending(&mut lock(&shared.pending)) = Some(cell);
        let stored = C::get_or_create(keys, key);
        // Taken by the callback; cleared in any case, so no cell waits for another key.
        C::pending(&mut lock(&shared.pending)).take();
        stored
    }
}

impl fmt::Debug for ShardstatRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (state, keys) = (lock(&self.inner.shared.state), &self.inner.keys);
        f.debug_struct("ShardstatRecorder")
            .field("counters", &all::<CounterCell>(&state, keys).len())
            .field("gauges", &all::<GaugeCell>(&state, keys).len())
            .field("histograms", &all::<HistogramCell>(&state, keys).len())
            .field("problems", &state.problems.list().len())
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

/// A family's description as the encoder takes it: its help, and its unit if the family's
/// name ends with it (OpenMetrics requires that; `prometheus-client` appends the unit to the
/// name it is given, so the name is given without it).
struct Descriptor {
    name: String,
    help: String,
    unit: Option<ExportedUnit>,
}

/// What one scrape encodes, copied out under the recorder's mutex (the values are read
/// after it is released).
struct Scrape {
    counters: Vec<(Id, Arc<CounterCell>)>,
    gauges: Vec<(Id, Arc<GaugeCell>)>,
    histograms: Vec<(Id, Arc<HistogramCell>)>,
    descriptors: HashMap<(Kind, String), Descriptor>,
}

impl RecorderCollector {
    fn scrape(&self) -> Scrape {
        let mut state = lock(&self.inner.shared.state);
        let state = &mut *state;
        let mut descriptors = HashMap::new();
        let mut unit_problems = Vec::new();
        let mut describe = |kind: Kind, family: &str| {
            descriptors
                .entry((kind, family.to_string()))
                .or_insert_with(|| {
                    let base = state.families.base_of(family).unwrap_or(family);
                    let (help, unit) = state
                        .help
                        .get(&(kind, base.to_string()))
                        .cloned()
                        .unwrap_or_default();
                    descriptor(family, help, unit, &mut unit_problems)
                });
        };
        let keys = &self.inner.keys;
        let counters = all::<CounterCell>(state, keys);
        let gauges = all::<GaugeCell>(state, keys);
        let histograms = all::<HistogramCell>(state, keys);
        for id in counters.keys() {
            describe(Kind::Counter, &id.0);
        }
        for id in gauges.keys() {
            describe(Kind::Gauge, &id.0);
        }
        for id in histograms.keys() {
            describe(Kind::Histogram, &id.0);
        }
        for problem in unit_problems {
            state.problems.note(problem);
        }
        Scrape {
            counters: counters.into_iter().collect(),
            gauges: gauges.into_iter().collect(),
            histograms: histograms.into_iter().collect(),
            descriptors,
        }
    }
}

/// The descriptor of family `family` with `help` and `unit`: the unit only if the family's
/// name ends with `_<unit>` (else noted, and not exported).
fn descriptor(
    family: &str,
    help: String,
    unit: Option<Unit>,
    problems: &mut Vec<String>,
) -> Descriptor {
    let mut out = Descriptor {
        name: family.to_string(),
        help,
        unit: None,
    };
    if let Some(unit) = unit {
        let suffix = unit.as_str();
        match family
            .strip_suffix(suffix)
            .and_then(|n| n.strip_suffix('_'))
        {
            Some(stem) if !stem.is_empty() => {
                out.name = stem.to_string();
                out.unit = Some(match unit {
                    Unit::Seconds => ExportedUnit::Seconds,
                    Unit::Bytes => ExportedUnit::Bytes,
                    other => ExportedUnit::Other(other.as_str().to_string()),
                });
            }
            _ => problems.push(format!(
                "did not export unit {suffix:?} of {family:?}: OpenMetrics requires the \
                 family's name to end with \"_{suffix}\""
            )),
        }
    }
    out
}

impl Collector for RecorderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let scrape = self.scrape();
        let counters: Vec<(Id, u64)> = scrape
            .counters
            .iter()
            .map(|(id, cell)| (id.clone(), cell.counter.get()))
            .collect();
        let gauges: Vec<(Id, f64)> = scrape
            .gauges
            .iter()
            .map(|(id, cell)| (id.clone(), cell.get()))
            .collect();
        let histograms: Vec<(Id, ExportedHistogram)> = scrape
            .histograms
            .iter()
            .map(|(id, cell)| {
                let exported = (cell.histogram.snapshot(), Arc::clone(&cell.bounds));
                (id.clone(), exported)
            })
            .collect();
        let d = &scrape.descriptors;
        encode_families(&mut encoder, d, Kind::Counter, &counters, |m, v| {
            m.encode_counter::<NoLabelSet, _, u64>(v, None)
        })?;
        encode_families(&mut encoder, d, Kind::Gauge, &gauges, |m, v| {
            m.encode_gauge(v)
        })?;
        encode_families(
            &mut encoder,
            d,
            Kind::Histogram,
            &histograms,
            |m, (snap, bounds)| crate::prometheus::encode_histogram(m, snap, bounds, PER_UNIT),
        )
    }
}

/// A histogram's snapshot and the `le` bounds it exports (units of `1 / PER_UNIT`).
type ExportedHistogram = (crate::HistogramSnapshot, Arc<[u64]>);

fn encode_families<V>(
    encoder: &mut DescriptorEncoder,
    descriptors: &HashMap<(Kind, String), Descriptor>,
    kind: Kind,
    samples: &[(Id, V)],
    encode: impl Fn(&mut prometheus_client::encoding::MetricEncoder, &V) -> Result<(), fmt::Error>,
) -> Result<(), fmt::Error> {
    let metric_type = match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
    };
    let mut i = 0;
    while i < samples.len() {
        let name = &samples[i].0 .0;
        let end = i + samples[i..]
            .iter()
            .take_while(|(id, _)| &id.0 == name)
            .count();
        let d = &descriptors[&(kind, name.clone())];
        let mut family =
            encoder.encode_descriptor(&d.name, &d.help, d.unit.as_ref(), metric_type)?;
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

#[cfg(test)]
mod tests {
    use super::ShardstatRecorder;

    /// The hit path shares no reference count: the handles `counter!` returns on a thread
    /// that used the key before are clones of that thread's own handle, so the key's shared
    /// cell is not cloned per call (through the registry alone, each handle held a clone of
    /// the cell's `Arc`, a count every thread wrote). Each thread gets its own handle; all
    /// count into the one cell.
    #[test]
    fn the_hit_path_clones_no_shared_reference_count() {
        let recorder = ShardstatRecorder::new();
        let key = ::metrics::Key::from_name("hits");
        ::metrics::with_local_recorder(&recorder, || ::metrics::counter!("hits").increment(1));
        let cell = recorder.inner.keys.get_counter(&key).unwrap();
        let shared = std::sync::Arc::strong_count(&cell);
        ::metrics::with_local_recorder(&recorder, || {
            let handles: Vec<_> = (0..10).map(|_| ::metrics::counter!("hits")).collect();
            handles.iter().for_each(|h| h.increment(1));
            assert_eq!(
                std::sync::Arc::strong_count(&cell),
                shared,
                "hits cloned the cell"
            );
        });
        std::thread::scope(|s| {
            s.spawn(|| {
                ::metrics::with_local_recorder(&recorder, || {
                    ::metrics::counter!("hits").increment(1)
                });
            });
        });
        assert_eq!(recorder.counter_value("hits", &[]), Some(12));
    }

    /// Keys past a metric's cardinality limit are not kept in the registry: memory stops
    /// growing with made-up label values (their counts go to the overflow series).
    #[test]
    fn keys_past_the_limit_are_not_kept() {
        let recorder = ShardstatRecorder::builder()
            .cardinality_limit(5)
            .unwrap()
            .build();
        ::metrics::with_local_recorder(&recorder, || {
            for round in 0..2 {
                for i in 0..1000 {
                    ::metrics::counter!("x", "id" => i.to_string()).increment(1);
                    ::metrics::gauge!("g", "id" => i.to_string()).set(1.0);
                    ::metrics::histogram!("h", "id" => i.to_string()).record(round as f64);
                }
            }
        });
        let keys = &recorder.inner.keys;
        assert_eq!(keys.get_counter_handles().len(), 5);
        assert_eq!(keys.get_gauge_handles().len(), 5);
        assert_eq!(keys.get_histogram_handles().len(), 5);
        assert_eq!(
            recorder.counter_value("x", &[("overflow", "true")]),
            Some(2 * 995)
        );
        assert_eq!(recorder.counter_value("x", &[("id", "4")]), Some(2));
    }
}
