//! `history.json`: every published run, oldest first, and the marks of the regressions and
//! improvements among them. The site is rendered from this file alone, so it can be redrawn,
//! and a site built by an older sandbox-bench is upgraded by reading it and writing it again.

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::history::entry::Entry;
use crate::history::regression::{Mark, MarkKind, marks, newest_runs};
use crate::schema;

/// The schema this crate writes. A later, incompatible version gets a new number; readers
/// refuse numbers they do not know.
pub const HISTORY_SCHEMA: &str = "sandbox-bench/history/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Always [`HISTORY_SCHEMA`]; first in the file.
    pub schema: String,
    /// Oldest first (by `started_at`, then id).
    pub entries: Vec<Entry>,
    /// Derived from the entries: recomputed on every load and add, so a site published before
    /// a change of the noise band gets the current rule. Stored for other readers of the file.
    #[serde(default)]
    pub marks: Vec<Mark>,
}

/// What adding a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A run the history did not have.
    New,
    /// A run with the same id and other figures (its files were written again): replaced.
    Replaced,
    /// The same run published again: nothing changed.
    Unchanged,
}

impl Default for History {
    fn default() -> Self {
        History {
            schema: HISTORY_SCHEMA.into(),
            entries: Vec::new(),
            marks: Vec::new(),
        }
    }
}

impl History {
    /// Reads `history.json`. A v1 file written by an older sandbox-bench (fields added since
    /// then missing) is read with their defaults and its marks recomputed: writing it back
    /// upgrades it. Any other schema is refused by name, so a site written by a newer
    /// sandbox-bench is never rewritten with less than it had.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        let mut history: History = schema::decode(text, "history.json", HISTORY_SCHEMA)?;
        history.normalize();
        Ok(history)
    }

    /// Pretty JSON with a final newline; the same history always gives the same bytes.
    pub fn to_json(&self) -> Result<String, ReportError> {
        schema::encode(self, "history.json")
    }

    /// Adds a run, or replaces the run with the same id; idempotent.
    pub fn add(&mut self, entry: Entry) -> Added {
        self.add_all([entry])[0]
    }

    /// Adds runs in order (see [`History::add`]), ordering the history and recomputing its
    /// marks once at the end rather than after each run.
    pub fn add_all(&mut self, entries: impl IntoIterator<Item = Entry>) -> Vec<Added> {
        let added: Vec<Added> = entries
            .into_iter()
            .map(
                |entry| match self.entries.iter_mut().find(|e| e.id == entry.id) {
                    Some(existing) if *existing == entry => Added::Unchanged,
                    Some(existing) => {
                        *existing = entry;
                        Added::Replaced
                    }
                    None => {
                        self.entries.push(entry);
                        Added::New
                    }
                },
            )
            .collect();
        if added.iter().any(|a| *a != Added::Unchanged) {
            self.normalize();
        }
        added
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The regressions marked on a run.
    pub fn regressions_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Mark> + 'a {
        self.marks
            .iter()
            .filter(move |m| m.run == id && m.kind == MarkKind::Regression)
    }

    /// The regressions still standing: marked on the newest run of their series (an older
    /// regression that later runs recovered from, or settled into, no longer counts).
    pub fn current_regressions(&self) -> Vec<&Mark> {
        let newest = newest_runs(&self.entries);
        self.marks
            .iter()
            .filter(|m| m.kind == MarkKind::Regression && newest.get(&m.series) == Some(&m.run))
            .collect()
    }

    /// Time order, and the marks that follow from it.
    fn normalize(&mut self) {
        self.entries
            .sort_by(|a, b| (&a.started_at, &a.id).cmp(&(&b.started_at, &b.id)));
        self.marks = marks(&self.entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::KneeRunInfo;
    use crate::sample::{sample_bench_run, sample_conformance, sample_knee};

    fn bench(day: u32, slowdown: f64) -> Entry {
        let started_at = format!("2025-06-{day:02}T12:00:00Z");
        Entry::from_results(
            &sample_bench_run(u64::from(day), &started_at, "reference 0.1.0", slowdown).unwrap(),
        )
    }

    fn history() -> History {
        let mut history = History::default();
        for day in 1..=4 {
            history.add(bench(day, 1.0));
        }
        history.add(bench(5, 3.0));
        history.add(Entry::from_knee(
            &sample_knee(),
            &KneeRunInfo {
                started_at: "2025-06-02T14:00:00Z".into(),
                ..KneeRunInfo::default()
            },
        ));
        history.add(Entry::from_conformance(&sample_conformance(
            "2025-06-03T15:00:00Z",
            0,
        )));
        history
    }

    #[test]
    fn history_json_round_trips_exactly() {
        let history = history();
        assert!(!history.marks.is_empty());
        let json = history.to_json().unwrap();
        assert!(json.starts_with("{\n  \"schema\": \"sandbox-bench/history/v1\","));
        let read = History::from_json(&json).unwrap();
        assert_eq!(read, history);
        assert_eq!(read.to_json().unwrap(), json, "the same bytes again");
    }

    #[test]
    fn adding_the_same_run_twice_keeps_one_entry() {
        let mut history = history();
        let count = history.entries.len();
        assert_eq!(history.add(bench(2, 1.0)), Added::Unchanged);
        assert_eq!(history.entries.len(), count);
        // The same id with other figures replaces the run.
        let mut changed = bench(2, 1.0);
        changed.commit = Some("abc".into());
        assert_eq!(history.add(changed), Added::Replaced);
        assert_eq!(history.entries.len(), count);
        assert_eq!(
            history.entry(&bench(2, 1.0).id).unwrap().commit.as_deref(),
            Some("abc")
        );
        assert_eq!(history.add(bench(9, 1.0)), Added::New);
        assert_eq!(history.entries.len(), count + 1);
    }

    #[test]
    fn adding_many_at_once_is_adding_them_one_by_one() {
        let entries: Vec<Entry> = (1..=4)
            .map(|day| bench(day, 1.0))
            .chain([bench(5, 3.0)])
            .collect();
        let mut one_by_one = History::default();
        let singles: Vec<Added> = entries.iter().cloned().map(|e| one_by_one.add(e)).collect();
        let mut at_once = History::default();
        let mut batch = entries.clone();
        batch.push(entries[0].clone());
        let added = at_once.add_all(batch);
        assert_eq!(added[..5], singles[..]);
        assert_eq!(
            added[5],
            Added::Unchanged,
            "the same run twice in one batch"
        );
        assert_eq!(at_once, one_by_one);
        assert!(!at_once.marks.is_empty());
    }

    #[test]
    fn entries_are_kept_in_time_order_and_marks_follow_them() {
        let mut history = History::default();
        history.add(bench(5, 3.0));
        for day in (1..=4).rev() {
            history.add(bench(day, 1.0));
        }
        let days: Vec<&str> = history
            .entries
            .iter()
            .map(|e| &e.started_at[..10])
            .collect();
        assert_eq!(
            days,
            [
                "2025-06-01",
                "2025-06-02",
                "2025-06-03",
                "2025-06-04",
                "2025-06-05"
            ]
        );
        let slow = bench(5, 3.0).id;
        assert!(history.regressions_of(&slow).count() > 0);
        assert_eq!(history.regressions_of(&bench(1, 1.0).id).count(), 0);
    }

    #[test]
    fn a_regression_stands_until_a_newer_run_of_its_series() {
        let mut history = history();
        let slow = bench(5, 3.0).id;
        let standing = history.current_regressions();
        assert!(!standing.is_empty());
        assert!(standing.iter().all(|m| m.run == slow));
        history.add(bench(6, 1.0));
        assert!(
            history.regressions_of(&slow).count() > 0,
            "still marked in the history"
        );
        assert!(
            history.current_regressions().iter().all(|m| m.run != slow),
            "but no longer standing"
        );
    }

    #[test]
    fn an_older_v1_file_is_read_with_defaults_and_its_marks_recomputed() {
        // As an early sandbox-bench wrote it: no marks, no optional fields.
        let mut value: serde_json::Value =
            serde_json::from_str(&history().to_json().unwrap()).unwrap();
        value.as_object_mut().unwrap().remove("marks");
        for entry in value["entries"].as_array_mut().unwrap() {
            let entry = entry.as_object_mut().unwrap();
            entry.remove("controller_version");
            entry.remove("commit");
        }
        let upgraded = History::from_json(&value.to_string()).unwrap();
        assert_eq!(upgraded.marks, history().marks, "marks recomputed");
        assert!(
            upgraded
                .entries
                .iter()
                .all(|e| e.controller_version.is_none())
        );
        assert!(upgraded.to_json().unwrap().contains("\"marks\": ["));
    }

    #[test]
    fn other_schemas_are_refused_by_name() {
        let json = history().to_json().unwrap();
        let newer = json.replace(HISTORY_SCHEMA, "sandbox-bench/history/v2");
        let error = History::from_json(&newer).unwrap_err();
        assert_eq!(
            error.to_string(),
            "history.json schema is `sandbox-bench/history/v2`, this reader understands \
             `sandbox-bench/history/v1`"
        );
        assert!(crate::schema::is_newer(
            "sandbox-bench/history/v2",
            HISTORY_SCHEMA
        ));
        assert!(matches!(
            History::from_json("{\"entries\": []}"),
            Err(ReportError::UnsupportedFileSchema { found, .. }) if found == "(none)"
        ));
        assert!(matches!(
            History::from_json("<html>"),
            Err(ReportError::DecodeFile { .. })
        ));
    }
}
