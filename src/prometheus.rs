//! Prometheus/OpenMetrics exposition through the `prometheus-client` crate (Cargo feature
//! `prometheus-client`).
//!
//! Every shardstat type implements `prometheus_client`'s [`EncodeMetric`], so it can be
//! registered in a [`Registry`] and encoded by the library's own text encoder: [`Counter`](crate::Counter)
//! as a counter (the encoder appends `_total`), [`UpDownCounter`](crate::UpDownCounter), [`Gauge`], [`Max`](crate::Max) and
//! [`Min`](crate::Min) as gauges — and so are their per-CPU twins ([`percpu`]) and the approximate
//! counters ([`ApproxCounter`](crate::ApproxCounter) as a counter,
//! [`ApproxUpDownCounter`](crate::ApproxUpDownCounter) as a gauge, each with its exact
//! value) — [`Histogram`] as a classic Prometheus histogram (cumulative `le`
//! buckets at powers of two, or at the bounds you choose with [`ClassicHistogram`]). A stat group registers all its fields at once as metric families named
//! `prefix_field`, with the fields' doc comments as `# HELP`, read from **one** snapshot per
//! scrape ([`register_group`]).
//!
//! Names are checked before anything is registered: an invalid metric or label name is a
//! [`MetricError`] that says what is wrong, not a panic in the encoder or a rejected scrape.
//!
//! ```
//! use prometheus_client::registry::Registry;
//! use shardstat::{migration::MigrationStats, prometheus, Counter};
//!
//! static REQUESTS: Counter = Counter::new();
//! static MIGRATION: MigrationStats = MigrationStats::new();
//!
//! let mut registry = Registry::default();
//! prometheus::register(&mut registry, "requests", "Requests served.", &REQUESTS)?;
//! prometheus::register_group_with_labels(
//!     &mut registry,
//!     "migration",
//!     &[("vm", "guest1")],
//!     &MIGRATION,
//! )?;
//! REQUESTS.add(3);
//! MIGRATION.normal_pages().add(2);
//!
//! let text = prometheus::encode_text(&registry);
//! assert!(text.contains("requests_total 3"));
//! assert!(text.contains("migration_normal_pages_total{vm=\"guest1\"} 2"));
//! assert!(text.contains("# HELP migration_normal_pages Pages sent that were not all zeros."));
//! assert!(prometheus::register(&mut registry, "2xx", "bad", &REQUESTS).is_err());
//! # Ok::<(), shardstat::prometheus::MetricError>(())
//! ```
//!
//! Values are 64-bit integers; Prometheus stores float64, so counts above 2^53 lose
//! precision there (not here). An empty [`Min`](crate::Min) reads `u64::MAX` and is exported as such.

use crate::counter::CounterValue;
use crate::group::{FieldValue, Group, MetricKind};
use crate::{
    percpu, Direction, Extremum, Gauge, GenericApproxCounter, GenericCounter, Histogram,
    HistogramSnapshot,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Metric, Registry};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Why a metric could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricError {
    /// The metric name is empty or has a character outside `[a-zA-Z0-9_:]`, or starts with
    /// a digit.
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// The label name is empty, has a character outside `[a-zA-Z0-9_]`, starts with a digit,
    /// or starts with `__` (reserved by Prometheus).
    InvalidLabelName {
        /// The label name as given.
        label: String,
    },
    /// The same label name appears twice in one label set.
    DuplicateLabel {
        /// The repeated label name.
        label: String,
    },
    /// A label's value is empty: Prometheus reads that as no label at all, so the series
    /// would be the same as one without it.
    EmptyLabelValue {
        /// The label name.
        label: String,
    },
    /// Histogram bucket bounds that are empty, or not strictly increasing once each is moved
    /// to the bucket boundary at or below it.
    InvalidBuckets {
        /// What is wrong with them.
        reason: String,
    },
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::InvalidName { name } => write!(
                f,
                "invalid metric name {name:?}: a Prometheus metric name must match \
                 [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            MetricError::InvalidLabelName { label } => write!(
                f,
                "invalid label name {label:?}: a Prometheus label name must match \
                 [a-zA-Z_][a-zA-Z0-9_]* and must not start with \"__\""
            ),
            MetricError::DuplicateLabel { label } => {
                write!(f, "label {label:?} appears twice in one label set")
            }
            MetricError::EmptyLabelValue { label } => write!(
                f,
                "label {label:?} has an empty value, which Prometheus reads as no label: leave \
                 the label out"
            ),
            MetricError::InvalidBuckets { reason } => {
                write!(f, "invalid histogram buckets: {reason}")
            }
        }
    }
}

impl std::error::Error for MetricError {}

/// Checks a metric name against Prometheus' rule `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// ```
/// use shardstat::prometheus::validate_metric_name;
/// assert!(validate_metric_name("migration_normal_pages").is_ok());
/// assert!(validate_metric_name("bytes/s").is_err());
/// assert!(validate_metric_name("9lives").is_err());
/// ```
pub fn validate_metric_name(name: &str) -> Result<(), MetricError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(MetricError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// Checks a label name against Prometheus' rule `[a-zA-Z_][a-zA-Z0-9_]*`, not starting
/// with `__`.
///
/// ```
/// use shardstat::prometheus::validate_label_name;
/// assert!(validate_label_name("channel").is_ok());
/// assert!(validate_label_name("__name__").is_err());
/// assert!(validate_label_name("multifd-channel").is_err());
/// ```
pub fn validate_label_name(label: &str) -> Result<(), MetricError> {
    let mut chars = label.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !label.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(MetricError::InvalidLabelName {
            label: label.to_string(),
        })
    }
}

/// Checks every label name, that none repeats, and that no value is empty.
fn validate_labels(labels: &[(&str, &str)]) -> Result<(), MetricError> {
    for (i, (name, value)) in labels.iter().enumerate() {
        validate_label_name(name)?;
        if labels[..i].iter().any(|(other, _)| other == name) {
            return Err(MetricError::DuplicateLabel {
                label: name.to_string(),
            });
        }
        if value.is_empty() {
            return Err(MetricError::EmptyLabelValue {
                label: name.to_string(),
            });
        }
    }
    Ok(())
}

/// Registers `metric` under `name` after checking the name. `metric` is anything the
/// registry can own: a `&'static` shardstat type (the usual case: a `static`), a shardstat
/// type by value, or an [`Arc`] wrapped in [`Shared`].
///
/// ```
/// use prometheus_client::registry::Registry;
/// static PAGES: shardstat::Counter = shardstat::Counter::new();
/// let mut registry = Registry::default();
/// shardstat::prometheus::register(&mut registry, "pages", "Pages sent.", &PAGES)?;
/// # Ok::<(), shardstat::prometheus::MetricError>(())
/// ```
pub fn register(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: impl Metric,
) -> Result<(), MetricError> {
    validate_metric_name(name)?;
    // `Registry::register` appends a period to the help text: drop the caller's own.
    let help = help_text(help);
    let help = help.strip_suffix('.').unwrap_or(&help);
    registry.register(name.to_string(), help.to_string(), metric);
    Ok(())
}

/// Registers every field of a stat group as a metric family named `prefix_field`, with the
/// field's doc comment as its help. Each scrape takes one snapshot of the group, so the
/// families of one scrape are consistent with each other (no `update` step seen in half).
///
/// ```
/// use prometheus_client::registry::Registry;
/// use shardstat::migration::MigrationStats;
/// static STATS: MigrationStats = MigrationStats::new();
/// let mut registry = Registry::default();
/// shardstat::prometheus::register_group(&mut registry, "migration", &STATS)?;
/// STATS.zero_pages().add(5);
/// let text = shardstat::prometheus::encode_text(&registry);
/// assert!(text.contains("migration_zero_pages_total 5"));
/// # Ok::<(), shardstat::prometheus::MetricError>(())
/// ```
pub fn register_group<G: Group + 'static>(
    registry: &mut Registry,
    prefix: &str,
    group: &'static G,
) -> Result<(), MetricError> {
    register_group_with_labels(registry, prefix, &[], group)
}

/// [`register_group`] with constant labels on every family (e.g. a channel or VM name).
///
/// ```
/// use prometheus_client::registry::Registry;
/// use shardstat::migration::MigrationStats;
/// static STATS: MigrationStats = MigrationStats::new();
/// let mut registry = Registry::default();
/// let err = shardstat::prometheus::register_group_with_labels(
///     &mut registry, "migration", &[("vm", "a"), ("vm", "b")], &STATS,
/// );
/// assert!(err.is_err(), "a label may appear once");
/// let err = shardstat::prometheus::register_group_with_labels(
///     &mut registry, "migration", &[("vm", "")], &STATS,
/// );
/// assert!(err.unwrap_err().to_string().contains("empty value"));
/// ```
pub fn register_group_with_labels<G: Group + 'static>(
    registry: &mut Registry,
    prefix: &str,
    labels: &[(&str, &str)],
    group: &'static G,
) -> Result<(), MetricError> {
    for field in G::FIELDS {
        validate_metric_name(&format!("{prefix}_{}", field.name))?;
    }
    validate_labels(labels)?;
    let labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = labels
        .iter()
        .map(|(k, v)| (Cow::Owned(k.to_string()), Cow::Owned(v.to_string())))
        .collect();
    registry
        .sub_registry_with_labels(labels.into_iter())
        .register_collector(Box::new(GroupCollector {
            prefix: prefix.to_string(),
            group,
        }));
    Ok(())
}

/// Encodes a registry in the OpenMetrics text format with `prometheus-client`'s encoder
/// (content type `application/openmetrics-text; version=1.0.0`, which Prometheus prefers
/// when it scrapes), with every `# HELP` text escaped as OpenMetrics requires (`\` as `\\`,
/// `"` as `\"`): `prometheus-client` 0.26 writes help as given in this format, so a help
/// text with a backslash (`C:\new`) was read back as something else. Encode with this, not
/// `prometheus_client::encoding::text::encode`.
///
/// ```
/// static PAGES: shardstat::Counter = shardstat::Counter::new();
/// let mut registry = prometheus_client::registry::Registry::default();
/// shardstat::prometheus::register(&mut registry, "pages", r"Pages in C:\new.", &PAGES)?;
/// let text = shardstat::prometheus::encode_text(&registry);
/// assert!(text.contains(r"# HELP pages Pages in C:\\new."));
/// assert!(text.ends_with("# EOF\n"));
/// # Ok::<(), shardstat::prometheus::MetricError>(())
/// ```
pub fn encode_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)
        .expect("writing to a String cannot fail");
    crate::families::escape_openmetrics_help(text)
}

/// Encodes a registry in the classic Prometheus text format, version 0.0.4 (content type
/// `text/plain; version=0.0.4`), with `prometheus-client`'s encoder: what `promtool check
/// metrics` and older scrapers read.
///
/// ```
/// static PAGES: shardstat::Counter = shardstat::Counter::new();
/// let mut registry = prometheus_client::registry::Registry::default();
/// shardstat::prometheus::register(&mut registry, "pages", "Pages sent.", &PAGES)?;
/// let text = shardstat::prometheus::encode_prometheus_text(&registry);
/// assert!(text.contains("# HELP pages_total Pages sent."));
/// # Ok::<(), shardstat::prometheus::MetricError>(())
/// ```
pub fn encode_prometheus_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, registry)
        .expect("writing to a String cannot fail");
    text
}

/// A stat group as a `prometheus-client` collector: one snapshot per scrape.
struct GroupCollector<G: 'static> {
    prefix: String,
    group: &'static G,
}

impl<G> fmt::Debug for GroupCollector<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCollector")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<G: Group + 'static> Collector for GroupCollector<G> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let values = self.group.field_values();
        for (field, value) in G::FIELDS.iter().zip(values) {
            let name = format!("{}_{}", self.prefix, field.name);
            let help = help_text(field.help);
            let metric_type = metric_type(field.kind);
            let metric = encoder.encode_descriptor(&name, &help, None, metric_type)?;
            encode_value(metric, metric_type, value)?;
        }
        Ok(())
    }
}

/// A doc comment or help string as one line of help text.
pub(crate) fn help_text(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

const fn metric_type(kind: MetricKind) -> MetricType {
    match kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::UpDownCounter | MetricKind::Max | MetricKind::Min | MetricKind::Gauge => {
            MetricType::Gauge
        }
    }
}

fn encode_value(
    mut encoder: MetricEncoder,
    metric_type: MetricType,
    value: FieldValue,
) -> Result<(), fmt::Error> {
    match (metric_type, value) {
        (MetricType::Counter, FieldValue::Unsigned(v)) => {
            encoder.encode_counter::<NoLabelSet, _, u64>(&v, None)
        }
        (_, FieldValue::Unsigned(v)) => encoder.encode_gauge(&v),
        (_, FieldValue::Signed(v)) => encoder.encode_gauge(&v),
    }
}

/// `TypedMetric` and `EncodeMetric` for a shardstat type (and a `&'static` to it), with the
/// impl's generic parameters in brackets.
macro_rules! typed_metric {
    ([$($generics:tt)*] $ty:ty, $kind:expr, |$this:ident| $value:expr) => {
        impl<$($generics)*> TypedMetric for $ty {
            const TYPE: MetricType = $kind;
        }
        impl<$($generics)*> EncodeMetric for $ty {
            fn encode(&self, encoder: MetricEncoder) -> Result<(), fmt::Error> {
                let $this = self;
                encode_value(encoder, $kind, $value)
            }
            fn metric_type(&self) -> MetricType {
                $kind
            }
        }
        impl<$($generics)*> EncodeMetric for &'static $ty {
            fn encode(&self, encoder: MetricEncoder) -> Result<(), fmt::Error> {
                (**self).encode(encoder)
            }
            fn metric_type(&self) -> MetricType {
                $kind
            }
        }
    };
}

// Counters (per thread, per CPU, approximate) in their sign's kind: `Counter`s as counters,
// `UpDownCounter`s as gauges. An approximate counter exports its exact value (`get`).
typed_metric!([V: CounterValue] GenericCounter<V>, metric_type(V::METRIC_KIND), |c| c
    .get()
    .field_value());
typed_metric!([V: CounterValue] percpu::GenericCounter<V>, metric_type(V::METRIC_KIND), |c| c
    .get()
    .field_value());
typed_metric!(
    [V: CounterValue, const BATCH: u64] GenericApproxCounter<V, BATCH>,
    metric_type(V::METRIC_KIND),
    |c| c.get().field_value()
);
typed_metric!([] Gauge, MetricType::Gauge, |g| FieldValue::Unsigned(g.get()));
typed_metric!([D: Direction] Extremum<D>, MetricType::Gauge, |m| FieldValue::Unsigned(
    m.get()
));
typed_metric!([D: Direction] percpu::Extremum<D>, MetricType::Gauge, |m| {
    FieldValue::Unsigned(m.get())
});

/// A shardstat value shared through an [`Arc`], registrable in a [`Registry`] (which owns
/// what it is given) while the program keeps its own `Arc` to add to.
///
/// ```
/// use std::sync::Arc;
/// let pages = Arc::new(shardstat::Counter::new());
/// let mut registry = prometheus_client::registry::Registry::default();
/// shardstat::prometheus::register(
///     &mut registry, "pages", "Pages sent.", shardstat::prometheus::Shared(pages.clone()),
/// )?;
/// pages.add(2);
/// assert!(shardstat::prometheus::encode_text(&registry).contains("pages_total 2"));
/// # Ok::<(), shardstat::prometheus::MetricError>(())
/// ```
#[derive(Debug)]
pub struct Shared<T>(pub Arc<T>);

impl<T: EncodeMetric> EncodeMetric for Shared<T> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), fmt::Error> {
        self.0.encode(encoder)
    }
    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// The `le` bounds a [`Histogram`] registered as is exports: `2^k − 1` for `k` in `0..=53`
/// (0, 1, 3, 7, …, 2^53 − 1), each the highest value of one of its buckets, so every
/// exported count is exact. The text formats carry a bound as a floating-point number, and
/// 2^53 − 1 is the last `2^k − 1` a 64-bit float holds exactly (2^54 − 1 would print as
/// 2^54, a bound that its count does not match); larger values are counted in `+Inf`.
///
/// ```
/// let bounds = shardstat::prometheus::default_histogram_bounds();
/// assert_eq!(&bounds[..4], [0, 1, 3, 7]);
/// assert_eq!(bounds.last(), Some(&((1 << 53) - 1)));
/// assert!(bounds.iter().all(|&b| b as f64 as u128 == u128::from(b)), "each exact as a float");
/// ```
pub fn default_histogram_bounds() -> Vec<u64> {
    (0..=53).map(|k| (1u64 << k) - 1).collect()
}

/// Encodes a histogram snapshot as a classic histogram: for each bound, the values in the
/// buckets wholly at or below it (exact: the bounds are bucket boundaries), then `+Inf`.
/// Bounds and the sum are divided by `per_unit` (how many recorded values make one exported
/// unit: 10^9 for nanoseconds exported as seconds), which keeps decimal labels short.
pub(crate) fn encode_histogram(
    encoder: &mut MetricEncoder,
    snap: &HistogramSnapshot,
    bounds: &[u64],
    per_unit: f64,
) -> Result<(), fmt::Error> {
    let mut buckets = Vec::with_capacity(bounds.len() + 1);
    let mut below = 0;
    for &bound in bounds {
        let at_or_below = snap.count_at_or_below(bound);
        buckets.push((bound as f64 / per_unit, at_or_below - below));
        below = at_or_below;
    }
    let total: u64 = snap.buckets().map(|b| b.count).sum();
    buckets.push((f64::INFINITY, total - below));
    encoder.encode_histogram::<NoLabelSet>(snap.sum() as f64 / per_unit, total, &buckets, None)
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    /// One snapshot, exported at [`default_histogram_bounds`].
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        encode_histogram(
            &mut encoder,
            &self.snapshot(),
            &default_histogram_bounds(),
            1.0,
        )
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl EncodeMetric for &'static Histogram {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), fmt::Error> {
        (**self).encode(encoder)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// A [`Histogram`] exported as a classic Prometheus histogram at bounds you choose (a
/// `&'static Histogram`, or an [`Arc`] of one).
///
/// Each bound is moved down to the highest value of the bucket at or below it (values below
/// 128 are their own buckets and do not move; above, a bound moves by less than 1/64), so
/// that every `le` count is exact for the bound it is labelled with; [`bounds`] says where
/// they went.
///
/// [`bounds`]: ClassicHistogram::bounds
///
/// ```
/// use shardstat::{prometheus::{self, ClassicHistogram}, Histogram};
///
/// static LATENCY_US: Histogram = Histogram::new();
/// let mut registry = prometheus_client::registry::Registry::default();
/// let exported = ClassicHistogram::new(&LATENCY_US, [10, 100, 1_000, 10_000])?;
/// assert_eq!(exported.bounds(), [10, 100, 999, 9_983]);
/// prometheus::register(&mut registry, "latency_us", "Request latency.", exported)?;
/// LATENCY_US.record(50);
/// LATENCY_US.record(5_000);
/// let text = prometheus::encode_text(&registry);
/// assert!(text.contains("latency_us_bucket{le=\"100.0\"} 1"));
/// assert!(text.contains("latency_us_bucket{le=\"+Inf\"} 2"));
/// assert!(ClassicHistogram::new(&LATENCY_US, [5, 5]).is_err());
/// # Ok::<(), prometheus::MetricError>(())
/// ```
#[derive(Debug)]
pub struct ClassicHistogram<H> {
    histogram: H,
    bounds: Vec<u64>,
}

impl<H: std::ops::Deref<Target = Histogram>> ClassicHistogram<H> {
    /// `histogram` exported at `bounds` (in the histogram's unit), each moved down to a
    /// bucket boundary.
    ///
    /// # Errors
    /// [`MetricError::InvalidBuckets`] if `bounds` is empty or, once moved, not strictly
    /// increasing (two bounds within one bucket), or if a moved bound is not exact as a
    /// 64-bit float (above 2^53: the `le` label would print another number).
    ///
    /// ```
    /// static H: shardstat::Histogram = shardstat::Histogram::new();
    /// let err = shardstat::prometheus::ClassicHistogram::new(&H, []).unwrap_err();
    /// assert!(err.to_string().contains("no bounds"));
    /// let err = shardstat::prometheus::ClassicHistogram::new(&H, [u64::MAX]).unwrap_err();
    /// assert!(err.to_string().contains("not exact as a 64-bit float"));
    /// ```
    pub fn new(histogram: H, bounds: impl IntoIterator<Item = u64>) -> Result<Self, MetricError> {
        let bounds: Vec<u64> = bounds
            .into_iter()
            .map(crate::histogram::boundary_at_or_below)
            .collect();
        if bounds.is_empty() {
            return Err(MetricError::InvalidBuckets {
                reason: "no bounds given (+Inf is always added)".into(),
            });
        }
        if let Some(pair) = bounds.windows(2).find(|w| w[0] >= w[1]) {
            return Err(MetricError::InvalidBuckets {
                reason: format!(
                    "bounds must increase strictly, once moved to bucket boundaries: {} is \
                     followed by {}",
                    pair[0], pair[1]
                ),
            });
        }
        if let Some(&inexact) = bounds.iter().find(|&&b| b as f64 as u128 != u128::from(b)) {
            return Err(MetricError::InvalidBuckets {
                reason: format!(
                    "bound {inexact} (moved to its bucket boundary) is not exact as a 64-bit \
                     float, which the text formats carry `le` as: it would print as {}, a \
                     bound its count does not match (every bound up to 2^53 is exact)",
                    inexact as f64
                ),
            });
        }
        Ok(ClassicHistogram { histogram, bounds })
    }

    /// The bounds exported, after moving each to a bucket boundary.
    ///
    /// ```
    /// static H: shardstat::Histogram = shardstat::Histogram::new();
    /// let e = shardstat::prometheus::ClassicHistogram::new(&H, [1, 127, 129, 1_000_000])?;
    /// assert_eq!(e.bounds(), [1, 127, 129, 999_423]);
    /// # Ok::<(), shardstat::prometheus::MetricError>(())
    /// ```
    pub fn bounds(&self) -> &[u64] {
        &self.bounds
    }
}

impl<H: std::ops::Deref<Target = Histogram> + Send + Sync + fmt::Debug + 'static> EncodeMetric
    for ClassicHistogram<H>
{
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        encode_histogram(&mut encoder, &self.histogram.snapshot(), &self.bounds, 1.0)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
