//! One claim's measurements (`Record`), the phases derived from them (`Phase`), and the
//! `records.jsonl` format that keeps them raw, one JSON object per line.

use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ReportError;

/// Whether a claim was served from a warm pool or had to wait for a new sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchType {
    Warm,
    Cold,
    /// The observers could not tell (for example the claim never bound).
    Unknown,
}

impl LaunchType {
    pub const ALL: [LaunchType; 3] = [LaunchType::Warm, LaunchType::Cold, LaunchType::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            LaunchType::Warm => "warm",
            LaunchType::Cold => "cold",
            LaunchType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for LaunchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything measured about one claim. Times are microseconds on the harness's monotonic
/// clock, counted from the run's start; a missing stamp means the claim never got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The `SandboxClaim`'s name.
    pub claim: String,
    /// The warm pool (or template) the claim asked for.
    pub pool: String,
    pub launch: LaunchType,
    /// When the schedule meant the claim to be sent. Always known: the schedule is computed
    /// before the run, so every claim has a slot even if it was never sent.
    pub intended_us: u64,
    /// When the create request left the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_us: Option<u64>,
    /// When the API server's create response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_us: Option<u64>,
    /// When a watch event first showed the claim's status naming a sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_us: Option<u64>,
    /// When a watch event first showed the sandbox Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_ready_us: Option<u64>,
    /// When a watch event first showed the claim Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ready_us: Option<u64>,
    /// Why the claim failed, as a short stable kind (`create_conflict`, `timeout`, ...), so
    /// errors can be counted by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Record {
    /// A record with only its schedule slot filled in.
    pub fn new(
        claim: impl Into<String>,
        pool: impl Into<String>,
        launch: LaunchType,
        intended_us: u64,
    ) -> Self {
        Record {
            claim: claim.into(),
            pool: pool.into(),
            launch,
            intended_us,
            sent_us: None,
            acked_us: None,
            bound_us: None,
            sandbox_ready_us: None,
            claim_ready_us: None,
            error: None,
        }
    }

    /// The latest stamp the claim reached, if it was sent at all.
    pub fn last_stamp_us(&self) -> Option<u64> {
        [
            self.sent_us,
            self.acked_us,
            self.bound_us,
            self.sandbox_ready_us,
            self.claim_ready_us,
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// A latency the reports know by name. All but `HarnessLag` count from the intended send
/// time, so a stalled worker or a queueing server shows up in them (no coordinated omission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// intended → create acknowledged.
    Acked,
    /// intended → claim bound to a sandbox.
    Bound,
    /// intended → sandbox Ready.
    SandboxReady,
    /// intended → claim Ready: what a user of a claim waits for.
    ClaimReady,
    /// intended → sent: the harness's own lateness, reported so a slow harness is visible.
    HarnessLag,
}

impl Phase {
    /// In the order of a claim's life, harness lag last as it describes the harness.
    pub const ALL: [Phase; 5] = [
        Phase::Acked,
        Phase::Bound,
        Phase::SandboxReady,
        Phase::ClaimReady,
        Phase::HarnessLag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Acked => "acked",
            Phase::Bound => "bound",
            Phase::SandboxReady => "sandbox_ready",
            Phase::ClaimReady => "claim_ready",
            Phase::HarnessLag => "harness_lag",
        }
    }

    /// What the phase measures, for report legends.
    pub fn description(self) -> &'static str {
        match self {
            Phase::Acked => "intended → create acknowledged",
            Phase::Bound => "intended → claim bound",
            Phase::SandboxReady => "intended → sandbox Ready",
            Phase::ClaimReady => "intended → claim Ready",
            Phase::HarnessLag => "intended → sent",
        }
    }

    /// The phase's latency for one record in microseconds, or `None` if the claim never
    /// reached it. A stamp earlier than the intended time (a worker that sent early) counts
    /// as zero rather than wrapping around.
    pub fn latency_us(self, record: &Record) -> Option<u64> {
        let stamp = match self {
            Phase::Acked => record.acked_us,
            Phase::Bound => record.bound_us,
            Phase::SandboxReady => record.sandbox_ready_us,
            Phase::ClaimReady => record.claim_ready_us,
            Phase::HarnessLag => record.sent_us,
        }?;
        Some(stamp.saturating_sub(record.intended_us))
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|phase| phase.as_str() == s)
            .ok_or_else(|| ReportError::UnknownPhase(s.to_owned()))
    }
}

/// Writes one record as one line of `records.jsonl`.
pub fn write_record(out: &mut impl Write, record: &Record) -> Result<(), ReportError> {
    serde_json::to_writer(&mut *out, record).map_err(ReportError::EncodeRecord)?;
    out.write_all(b"\n").map_err(ReportError::WriteRecords)
}

/// Writes all records as `records.jsonl`.
pub fn write_records(out: &mut impl Write, records: &[Record]) -> Result<(), ReportError> {
    for record in records {
        write_record(out, record)?;
    }
    out.flush().map_err(ReportError::WriteRecords)
}

/// Reads `records.jsonl`; blank lines are skipped, a bad line is an error naming its number.
pub fn read_records(input: impl BufRead) -> Result<Vec<Record>, ReportError> {
    let mut records = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.map_err(ReportError::ReadRecords)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| ReportError::DecodeRecord {
            line: index + 1,
            source,
        })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_intended_and_never_underflows() {
        let mut record = Record::new("c-1", "pool", LaunchType::Warm, 1_000);
        record.sent_us = Some(900);
        record.claim_ready_us = Some(51_000);
        assert_eq!(Phase::ClaimReady.latency_us(&record), Some(50_000));
        assert_eq!(Phase::HarnessLag.latency_us(&record), Some(0));
        assert_eq!(Phase::Bound.latency_us(&record), None);
    }

    #[test]
    fn phase_names_round_trip() {
        for phase in Phase::ALL {
            assert_eq!(phase.as_str().parse::<Phase>().ok(), Some(phase));
            let json = serde_json::to_string(&phase).ok();
            assert_eq!(json, Some(format!("\"{}\"", phase.as_str())));
        }
        assert!("ready".parse::<Phase>().is_err());
    }

    #[test]
    fn jsonl_round_trip_and_line_numbers() {
        let mut a = Record::new("c-1", "warm-a", LaunchType::Warm, 0);
        a.sent_us = Some(10);
        a.claim_ready_us = Some(20_000);
        let mut b = Record::new("c-2", "warm-a", LaunchType::Unknown, 20_000);
        b.error = Some("timeout".into());
        let mut buffer = Vec::new();
        write_records(&mut buffer, &[a.clone(), b.clone()]).unwrap();
        let text = String::from_utf8(buffer).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(
            r#"{"claim":"c-1","pool":"warm-a","launch":"warm","intended_us":0,"sent_us":10,"#
        ));
        assert_eq!(read_records(text.as_bytes()).unwrap(), vec![a, b]);

        let bad = format!("{text}\n{{\"claim\":\"c-3\"}}\n");
        match read_records(bad.as_bytes()) {
            Err(ReportError::DecodeRecord { line, .. }) => assert_eq!(line, 4),
            other => panic!("expected a decode error, got {other:?}"),
        }
    }
}
