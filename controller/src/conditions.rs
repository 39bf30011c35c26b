//! `metav1.Condition` bookkeeping with Kubernetes' "set status condition" semantics:
//! `lastTransitionTime` moves only when `status` flips; reason, message and observedGeneration
//! are updated in place.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A condition as a controller decides it, before bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: String,
}

impl<'a> Desired<'a> {
    pub fn new(
        type_: &'a str,
        status: &'a str,
        reason: &'a str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

pub fn find<'c>(conditions: &'c [Condition], type_: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// `type_` is True as observed at `generation`: a True written for an earlier spec does not
/// count (a condition without `observedGeneration` is taken as current).
pub fn is_true_at(conditions: &[Condition], type_: &str, generation: Option<i64>) -> bool {
    find(conditions, type_).is_some_and(|c| {
        c.status == TRUE && (c.observed_generation.is_none() || c.observed_generation == generation)
    })
}

/// Sets `desired` in `conditions` (appending it when new) and returns whether anything changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    desired: Desired<'_>,
    generation: i64,
    now: &Time,
) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == desired.type_) {
        None => {
            conditions.push(Condition {
                type_: desired.type_.to_string(),
                status: desired.status.to_string(),
                reason: desired.reason.to_string(),
                message: desired.message,
                observed_generation: Some(generation),
                last_transition_time: now.clone(),
            });
            true
        }
        Some(c) => {
            let mut changed = false;
            if c.status != desired.status {
                c.status = desired.status.to_string();
                c.last_transition_time = now.clone();
                changed = true;
            }
            if c.reason != desired.reason {
                c.reason = desired.reason.to_string();
                changed = true;
            }
            if c.message != desired.message {
                c.message = desired.message;
                changed = true;
            }
            if c.observed_generation != Some(generation) {
                c.observed_generation = Some(generation);
                changed = true;
            }
            changed
        }
    }
}

/// Removes the condition of `type_`; returns whether one was there.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn a_new_condition_is_appended_with_the_current_time() {
        let mut cs = Vec::new();
        assert!(set(
            &mut cs,
            Desired::new("Ready", FALSE, "R", "m"),
            3,
            &at(10)
        ));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, at(10));
        assert_eq!(cs[0].observed_generation, Some(3));
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let mut cs = Vec::new();
        set(&mut cs, Desired::new("Ready", FALSE, "A", "m"), 1, &at(10));
        assert!(set(
            &mut cs,
            Desired::new("Ready", FALSE, "B", "n"),
            2,
            &at(20)
        ));
        assert_eq!(
            cs[0].last_transition_time,
            at(10),
            "reason change keeps the time"
        );
        assert_eq!((cs[0].reason.as_str(), cs[0].message.as_str()), ("B", "n"));
        assert!(set(
            &mut cs,
            Desired::new("Ready", TRUE, "B", "n"),
            2,
            &at(30)
        ));
        assert_eq!(cs[0].last_transition_time, at(30));
    }

    #[test]
    fn setting_the_same_condition_again_changes_nothing() {
        let mut cs = Vec::new();
        set(&mut cs, Desired::new("Ready", TRUE, "R", "m"), 1, &at(10));
        let before = cs.clone();
        assert!(!set(
            &mut cs,
            Desired::new("Ready", TRUE, "R", "m"),
            1,
            &at(99)
        ));
        assert_eq!(cs, before);
    }

    #[test]
    fn remove_reports_whether_it_removed() {
        let mut cs = Vec::new();
        set(&mut cs, Desired::new("Finished", TRUE, "R", ""), 1, &at(1));
        assert!(remove(&mut cs, "Finished"));
        assert!(!remove(&mut cs, "Finished"));
        assert!(cs.is_empty());
    }

    #[test]
    fn true_at_a_generation_ignores_a_true_written_for_another() {
        let mut conds = Vec::new();
        set(
            &mut conds,
            Desired::new("Ready", TRUE, "R", ""),
            2,
            &Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        );
        assert!(is_true_at(&conds, "Ready", Some(2)));
        assert!(!is_true_at(&conds, "Ready", Some(3)));
        conds[0].observed_generation = None;
        assert!(
            is_true_at(&conds, "Ready", Some(3)),
            "no generation: current"
        );
        assert!(!is_true_at(&conds, "Other", Some(2)));
    }
}
