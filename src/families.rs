//! Exposition names: the rules that turn whatever names, labels and kinds a program
//! registers into metric families and samples that a strict OpenMetrics parser and a real
//! Prometheus accept, with every decision written down once (`docs/integrations.md`,
//! "Naming rules").
//!
//! 1. **Metric names**: characters outside `[a-zA-Z0-9_:]` become `_`; a leading digit gets a
//!    `_` in front. A counter's trailing `_total` is dropped (the encoder writes it). A name
//!    that is empty after this (`""`, `"_total"`) names nothing: refused.
//! 2. **Label names**: characters outside `[a-zA-Z0-9_]` become `_`, a leading digit gets a
//!    `_`, a leading `__` (reserved by Prometheus) becomes `_`. On a histogram, `le` (the
//!    bucket label) becomes `exported_le`, as Prometheus renames target labels that collide.
//! 3. **Label values**: an empty value is the absent label (as Prometheus reads it), so the
//!    label is dropped — a series with and one without it are one series, their sum.
//! 4. **Repeated label names** (given twice, or two names that sanitise alike: `x.y` and
//!    `x_y`): the first keeps the name, the next become `x_y_2`, `x_y_3`, … (the first free).
//! 5. **Families that clash**: each family takes its name and the names of the samples its
//!    kind writes (a counter `n`: `n`, `n_total`, `n_created`; a gauge: `n`; a histogram: `n`,
//!    `n_bucket`, `n_sum`, `n_count`, `n_created`). A family whose names are taken by another
//!    family — a gauge `foo` beside a counter `foo`, a gauge `foo_total` beside it, a counter
//!    `lat_count` beside a histogram `lat` — is renamed `n_2`, then `n_3`, … (not `n_gauge`:
//!    `promtool` flags a name that contains its type). The first family registered keeps its
//!    name, so a name never changes once exported.

use std::collections::{HashMap, HashSet};

/// The kind of a metric family, as the exposition writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// What the family is called in a note.
    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }

    /// The suffixes of the sample names a family of this kind writes.
    fn sample_suffixes(self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["", "_total", "_created"],
            Kind::Gauge => &[""],
            Kind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        }
    }
}

/// A metric name made valid (rule 1, without the counter's `_total`): may be empty.
pub(crate) fn metric_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The family base name of a metric of `kind` (rule 1): its valid name, a counter's
/// `_total` dropped. `None` if nothing is left.
pub(crate) fn base_name(kind: Kind, name: &str) -> Option<String> {
    let mut base = metric_name(name);
    if kind == Kind::Counter {
        if let Some(stripped) = base.strip_suffix("_total") {
            base.truncate(stripped.len());
        }
    }
    (!base.is_empty()).then_some(base)
}

/// A label name made valid (rule 2, without the histogram's `le`).
pub(crate) fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    while out.starts_with("__") {
        out.remove(0);
    }
    out
}

/// A label set made valid (rules 2–4), sorted by name; each decision is passed to `note`.
pub(crate) fn labels(
    kind: Kind,
    metric: &str,
    given: impl IntoIterator<Item = (String, String)>,
    mut note: impl FnMut(String),
) -> Vec<(String, String)> {
    let given = given.into_iter();
    // Sized for the labels given (`push` onto an empty `Vec` would reserve 4): an identity
    // kept for the recorder's life holds no spare room.
    let mut out: Vec<(String, String)> = Vec::with_capacity(given.size_hint().0);
    for (key, value) in given {
        if value.is_empty() {
            note(format!(
                "dropped label {key:?} of {metric:?}: its value is empty, which Prometheus \
                 reads as no label"
            ));
            continue;
        }
        let mut name = label_name(&key);
        if kind == Kind::Histogram && name == "le" {
            name = "exported_le".to_string();
        }
        if out.iter().any(|(taken, _)| *taken == name) {
            // Made valid again: `_` and `_2` must not become the reserved `__2`.
            let free = (2..)
                .map(|n| label_name(&format!("{name}_{n}")))
                .find(|candidate| out.iter().all(|(taken, _)| taken != candidate))
                .expect("a free name");
            note(format!(
                "renamed label {key:?} of {metric:?} to {free:?}: {name:?} is already in its \
                 label set"
            ));
            name = free;
        } else if name != key {
            note(format!("renamed label {key:?} of {metric:?} to {name:?}"));
        }
        out.push((name, value));
    }
    out.sort();
    out
}

/// The families exported so far (rule 5): who owns each family and sample name.
#[derive(Debug, Default)]
pub(crate) struct Families {
    /// Family name → its kind and the base name it was claimed for.
    families: HashMap<String, (Kind, String)>,
    /// Sample name → the family that writes it.
    samples: HashMap<String, String>,
    /// (Kind, base name) → the family name it got.
    claimed: HashMap<(Kind, String), String>,
}

impl Families {
    /// The family a metric of `kind` with base name `base` is exported as: the one it got
    /// before, or `base` if no other family takes any of its names, or the first free of
    /// `base_2`, `base_3`, … (then `note` says why).
    pub(crate) fn claim(&mut self, kind: Kind, base: &str, note: impl FnOnce(String)) -> String {
        if let Some(name) = self.claimed.get(&(kind, base.to_string())) {
            return name.clone();
        }
        let free = |name: &str| {
            kind.sample_suffixes()
                .iter()
                .all(|suffix| !self.samples.contains_key(&format!("{name}{suffix}")))
        };
        let name = if free(base) {
            base.to_string()
        } else {
            let name = (2..)
                .map(|n| format!("{base}_{n}"))
                .find(|candidate| free(candidate))
                .expect("a free name");
            let owner = kind
                .sample_suffixes()
                .iter()
                .find_map(|suffix| self.samples.get(&format!("{base}{suffix}")))
                .expect("a clash has an owner");
            let (owner_kind, _) = self.families[owner];
            note(format!(
                "exported {} {base:?} as {name:?}: {owner_kind:?} family {owner:?} writes a \
                 name it needs",
                kind.word()
            ));
            name
        };
        for suffix in kind.sample_suffixes() {
            self.samples.insert(format!("{name}{suffix}"), name.clone());
        }
        self.families.insert(name.clone(), (kind, base.to_string()));
        self.claimed.insert((kind, base.to_string()), name.clone());
        name
    }

    /// The family a metric of `kind` with base name `base` was exported as, if it was.
    pub(crate) fn get(&self, kind: Kind, base: &str) -> Option<&str> {
        self.claimed
            .get(&(kind, base.to_string()))
            .map(String::as_str)
    }

    /// The base name a family was claimed for (its help and unit are keyed by it).
    pub(crate) fn base_of(&self, family: &str) -> Option<&str> {
        self.families.get(family).map(|(_, base)| base.as_str())
    }
}

/// Problems, each listed once, in the order found: a list and a set, so that recording one
/// is O(1) however many there are.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Problems {
    pub(crate) fn note(&mut self, problem: String) {
        if self.seen.insert(problem.clone()) {
            self.list.push(problem);
        }
    }

    pub(crate) fn list(&self) -> &[String] {
        &self.list
    }
}

/// OpenMetrics text with every `# HELP` text escaped as the format requires (`\` as `\\`,
/// `"` as `\"`; the help has no line breaks left): `prometheus-client` 0.26 writes HELP as
/// given in this format (its 0.0.4 encoder escapes it), so `C:\new` was read back as `C:`, a
/// line break and `ew`. A family with no help gets no `# HELP` line (OpenMetrics makes the
/// line optional; `prometheus-client` writes `# HELP name ` with nothing after it).
pub(crate) fn escape_openmetrics_help(text: String) -> String {
    if !text.contains("# HELP ") {
        return text;
    }
    let empty_help = |line: &str| {
        line.strip_prefix("# HELP ")
            .and_then(|rest| rest.strip_suffix(" \n"))
            .is_some_and(|name| !name.contains(' '))
    };
    if !text.contains(['\\', '"']) && !text.split_inclusive('\n').any(empty_help) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        if empty_help(line) {
            continue;
        }
        // `# HELP <name> <help>\n`: the help (and its line end) after the name's space.
        match line
            .strip_prefix("# HELP ")
            .and_then(|rest| rest.split_once(' '))
        {
            Some((name, help)) => {
                out.push_str("# HELP ");
                out.push_str(name);
                out.push(' ');
                for c in help.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '"' => out.push_str("\\\""),
                        _ => out.push(c),
                    }
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_follow_the_rules() {
        assert_eq!(
            base_name(Kind::Counter, "http.requests_total"),
            Some("http_requests".into())
        );
        assert_eq!(base_name(Kind::Counter, "_total"), None);
        assert_eq!(base_name(Kind::Gauge, "9lives"), Some("_9lives".into()));
        assert_eq!(base_name(Kind::Gauge, ""), None);
        let mut notes = Vec::new();
        let got = labels(
            Kind::Histogram,
            "h",
            [
                ("x.y", "1"),
                ("x_y", "2"),
                ("k", ""),
                ("le", "5"),
                ("x_y", "3"),
                ("__name__", "n"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
            |n| notes.push(n),
        );
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("_name__", "n"),
                ("exported_le", "5"),
                ("x_y", "1"),
                ("x_y_2", "2"),
                ("x_y_3", "3")
            ]
        );
        assert_eq!(notes.len(), 6, "{notes:?}");
    }

    #[test]
    fn a_family_whose_names_are_taken_is_renamed_and_keeps_that_name() {
        let mut f = Families::default();
        let mut notes = Vec::new();
        let mut claim = |kind, base: &str| f.claim(kind, base, |n| notes.push(n));
        assert_eq!(claim(Kind::Counter, "foo"), "foo");
        assert_eq!(claim(Kind::Gauge, "foo"), "foo_2");
        assert_eq!(claim(Kind::Gauge, "foo_total"), "foo_total_2");
        assert_eq!(claim(Kind::Histogram, "lat"), "lat");
        assert_eq!(claim(Kind::Counter, "lat_count"), "lat_count_2");
        assert_eq!(claim(Kind::Gauge, "lat_sum"), "lat_sum_2");
        assert_eq!(
            claim(Kind::Gauge, "foo_2"),
            "foo_2_2",
            "taken by the renamed gauge"
        );
        assert_eq!(claim(Kind::Gauge, "foo"), "foo_2", "kept");
        assert_eq!(claim(Kind::Counter, "foo"), "foo", "shared");
        assert_eq!(notes.len(), 5, "{notes:?}");
        assert_eq!(f.base_of("foo_2"), Some("foo"));
    }

    #[test]
    fn help_is_escaped_in_openmetrics() {
        let text =
            "# HELP a C:\\new \"x\"\n# TYPE a counter\na_total{p=\"C:\\\\n\"} 1\n# HELP b\n# EOF\n";
        assert_eq!(
            escape_openmetrics_help(text.to_string()),
            "# HELP a C:\\\\new \\\"x\\\"\n# TYPE a counter\na_total{p=\"C:\\\\n\"} 1\n# HELP b\n# EOF\n"
        );
    }
    #[test]
    fn an_empty_help_line_is_left_out() {
        let text = "# HELP a \n# TYPE a counter\na_total 1\n# HELP b  \n# HELP c x\n# EOF\n";
        assert_eq!(
            escape_openmetrics_help(text.to_string()),
            "# TYPE a counter\na_total 1\n# HELP b  \n# HELP c x\n# EOF\n",
            "only a line with nothing after the name's space goes"
        );
    }
}
