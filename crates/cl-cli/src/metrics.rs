//! `--metrics FILE`: figures in the Prometheus text exposition format, for a node exporter's
//! textfile collector (or anything that scrapes the format), so monitoring needs no `jq`.
//!
//! The file is replaced whole and durably ([`cl_core::store::durable::write_shared_file`]):
//! a collector reading it at any moment sees the last file or the new one, never half of
//! either. Counters (`_total`) carry on from the values the previous file held, so they only
//! grow from run to run, as Prometheus counters must; a file that cannot be read starts them
//! again from zero, which Prometheus takes as a counter reset.

use cl_core::Error;
use prometheus::core::Collector;
use prometheus::{CounterVec, Encoder, GaugeVec, Opts, Registry, TextEncoder};
use std::collections::HashMap;
use std::path::Path;

/// Metric families being gathered for one file.
pub struct Metrics {
    registry: Registry,
    gauges: HashMap<&'static str, GaugeVec>,
    counters: HashMap<&'static str, CounterVec>,
    previous: Previous,
    /// The first family that could not be built (a name or label the format refuses).
    refused: Option<String>,
}

/// The samples a previous file held: the series as written (`name{label="value"}`) → value.
#[derive(Debug, Default)]
pub struct Previous(HashMap<String, f64>);

impl Previous {
    /// Reads the samples of a file this module wrote; a missing or unreadable file is empty.
    pub fn load(path: &Path) -> Previous {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        Previous(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The value of `name` with `labels` (in the order given to [`Metrics`], which writes them
    /// sorted by name, as the encoder does).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.get(&series(name, labels)).copied()
    }
}

/// How the encoder writes a series: labels sorted by name, values escaped.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let mut labels = labels.to_vec();
    labels.sort_by_key(|(k, _)| *k);
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('\n', r"\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", pairs.join(","))
}

impl Metrics {
    /// Metrics for `path`, whose counters carry on from what it holds now.
    pub fn for_file(path: &Path) -> Metrics {
        Metrics {
            registry: Registry::new(),
            gauges: HashMap::new(),
            counters: HashMap::new(),
            previous: Previous::load(path),
            refused: None,
        }
    }

    /// What the file held before this run.
    pub fn previous(&self) -> &Previous {
        &self.previous
    }

    /// Sets a gauge.
    pub fn gauge(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], value: f64) {
        let names: Vec<&str> = labels.iter().map(|(k, _)| *k).collect();
        let values: Vec<&str> = labels.iter().map(|(_, v)| *v).collect();
        if !self.gauges.contains_key(name) {
            match register(&self.registry, GaugeVec::new(Opts::new(name, help), &names)) {
                Ok(family) => self.gauges.insert(name, family),
                Err(why) => return self.refuse(name, why),
            };
        }
        match self.gauges[name].get_metric_with_label_values(&values) {
            Ok(gauge) => gauge.set(value),
            Err(why) => self.refuse(name, why),
        }
    }

    /// Adds `value` to a counter, which starts from what the previous file held.
    pub fn count(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], value: f64) {
        let before = self.previous.get(name, labels).unwrap_or(0.0);
        let names: Vec<&str> = labels.iter().map(|(k, _)| *k).collect();
        let values: Vec<&str> = labels.iter().map(|(_, v)| *v).collect();
        if !self.counters.contains_key(name) {
            match register(
                &self.registry,
                CounterVec::new(Opts::new(name, help), &names),
            ) {
                Ok(family) => self.counters.insert(name, family),
                Err(why) => return self.refuse(name, why),
            };
        }
        match self.counters[name].get_metric_with_label_values(&values) {
            Ok(counter) => counter.inc_by(before + value.max(0.0)),
            Err(why) => self.refuse(name, why),
        }
    }

    fn refuse(&mut self, name: &str, why: prometheus::Error) {
        self.refused
            .get_or_insert_with(|| format!("metric {name}: {why}"));
    }

    /// The text of the file.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        // Encoding only fails on a family without samples or a writer that fails; neither
        // happens with families built here and a Vec.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Replaces `path` whole with the metrics, readable by other accounts (the exporter's).
    pub fn write(&self, path: &Path) -> cl_core::Result<()> {
        if let Some(why) = &self.refused {
            return Err(Error::io(
                format!("writing metrics file {}", path.display()),
                std::io::Error::other(why.clone()),
            ));
        }
        let text = self.render();
        let writing = || format!("writing metrics file {}", path.display());
        cl_core::store::durable::write_shared_file(path, writing, |file| {
            file.write_all(text.as_bytes())
                .map_err(|e| Error::io(writing(), e))
        })
    }
}

/// Registers a family as it was built.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    built: prometheus::Result<C>,
) -> prometheus::Result<C> {
    let family = built?;
    registry.register(Box::new(family.clone()))?;
    Ok(family)
}

/// Refuses a `--metrics` path whose directory does not exist, before any work is done.
pub fn check_path(path: &Path) -> cl_core::Result<()> {
    let dir = cl_core::store::durable::parent(path);
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--metrics {}: directory {} does not exist",
            path.display(),
            dir.display()
        )))
    }
}

/// Seconds since the Unix epoch, as Prometheus timestamps are given.
pub fn unix_seconds(at: jiff::Timestamp) -> f64 {
    at.as_millisecond() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_carry_on_from_the_previous_file_and_gauges_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        for run in 1..=3 {
            let mut m = Metrics::for_file(&path);
            m.count("cl_x_total", "X.", &[("status", "a\"b")], 2.0);
            m.gauge("cl_y", "Y.", &[], f64::from(run));
            m.write(&path).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# HELP cl_x_total X.\n# TYPE cl_x_total counter\ncl_x_total{status=\"a\\\"b\"} 6\n\
             # HELP cl_y Y.\n# TYPE cl_y gauge\ncl_y 3\n"
        );
    }

    #[test]
    fn a_name_the_format_refuses_fails_the_write_and_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        let mut m = Metrics::for_file(&path);
        m.gauge("cl-bad name", "X.", &[], 1.0);
        assert!(m.write(&path).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn a_file_that_is_not_metrics_starts_the_counters_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        std::fs::write(&path, "cl_x_total garbage\nnonsense\n").unwrap();
        let mut m = Metrics::for_file(&path);
        m.count("cl_x_total", "X.", &[], 1.0);
        assert!(m.render().ends_with("cl_x_total 1\n"), "{}", m.render());
    }
}
