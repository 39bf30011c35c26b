//! Kubernetes Events (events.k8s.io/v1) as the decisions describe them, published off the
//! reconcile path (an Event is one more API write, and a claim should not wait for it) and
//! aggregated as client-go's event broadcaster does, so that an Event repeated under load
//! costs the API server little.
//!
//! **Aggregation.** Events with the same type, reason, action and regarding object from one
//! [`Recorder`] within [`SERIES_WINDOW`] of the last are one series. The first is created; a
//! repeat only counts in memory, and the count is written as the Event's `series` at most once
//! per [`SERIES_FLUSH`]. A burst of n repeats costs one create and one patch instead of n
//! writes. (kube's `Recorder` patches on every repeat; client-go's broadcaster, like this one,
//! writes repeats out in the background.) The note of a repeat is not written: the series keeps
//! the first note, as client-go's does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch};

/// A repeat this long after the last occurrence starts a new Event (client-go: 6 minutes).
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How long the count of repeats waits in memory before it is written.
pub const SERIES_FLUSH: Duration = Duration::from_secs(10);
/// The API server refuses an Event note over 1 kB.
const NOTE_MAX_BYTES: usize = 1024;

/// An Event a decision asks for, comparable in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

impl Notice {
    pub fn normal(reason: &'static str, action: &'static str, note: impl Into<String>) -> Self {
        Self {
            warning: false,
            reason,
            action,
            note: note.into(),
        }
    }

    pub fn warning(reason: &'static str, action: &'static str, note: impl Into<String>) -> Self {
        Self {
            warning: true,
            ..Self::normal(reason, action, note)
        }
    }

    fn type_(&self) -> &'static str {
        if self.warning { "Warning" } else { "Normal" }
    }
}

/// What makes two Events one series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    warning: bool,
    reason: &'static str,
    action: &'static str,
    /// The regarding object: its uid when known, else kind/namespace/name.
    regarding: String,
}

impl SeriesKey {
    fn of(notice: &Notice, object: &ObjectReference) -> Self {
        let regarding = object.uid.clone().unwrap_or_else(|| {
            let part = |p: &Option<String>| p.clone().unwrap_or_default();
            format!(
                "{}/{}/{}",
                part(&object.kind),
                part(&object.namespace),
                part(&object.name)
            )
        });
        Self {
            warning: notice.warning,
            reason: notice.reason,
            action: notice.action,
            regarding,
        }
    }
}

/// One series as this process knows it.
#[derive(Debug, Clone)]
struct Series {
    /// Namespace and name of the Event object.
    namespace: String,
    name: String,
    /// Occurrences so far, the first included.
    count: i32,
    last: Timestamp,
    /// A write of the count is scheduled.
    flush_pending: bool,
}

/// What one occurrence costs: a new Event, or a count that a scheduled write will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    Create {
        namespace: String,
        name: String,
    },
    /// Schedule a write of the series' count after [`SERIES_FLUSH`].
    FlushLater,
    /// A write is scheduled already.
    Nothing,
}

/// The series of one recorder, keyed by what makes Events one series (process-local state).
#[derive(Debug, Default)]
struct Ledger {
    series: HashMap<SeriesKey, Series>,
    /// Occurrences since expired series were last dropped.
    since_sweep: usize,
}

impl Ledger {
    /// Records an occurrence at `now` and says what to write.
    fn occur(&mut self, key: SeriesKey, object: &ObjectReference, now: Timestamp) -> Write {
        self.since_sweep += 1;
        if self.since_sweep >= 256 {
            self.since_sweep = 0;
            self.series.retain(|_, s| !expired(s, now));
        }
        if let Some(series) = self.series.get_mut(&key).filter(|s| !expired(s, now)) {
            series.count += 1;
            series.last = now;
            if series.flush_pending {
                return Write::Nothing;
            }
            series.flush_pending = true;
            return Write::FlushLater;
        }
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        let name = format!(
            "{}.{:x}",
            object.name.as_deref().unwrap_or("event"),
            now.as_nanosecond()
        );
        self.series.insert(
            key,
            Series {
                namespace: namespace.clone(),
                name: name.clone(),
                count: 1,
                last: now,
                flush_pending: false,
            },
        );
        Write::Create { namespace, name }
    }

    /// The series to write now, its scheduled write done.
    fn flush(&mut self, key: &SeriesKey) -> Option<Series> {
        let series = self.series.get_mut(key)?;
        series.flush_pending = false;
        Some(series.clone())
    }
}

fn expired(series: &Series, now: Timestamp) -> bool {
    let window = SignedDuration::try_from(SERIES_WINDOW).unwrap_or(SignedDuration::MAX);
    now.duration_since(series.last) > window
}

/// Publishes Events for one reporting controller.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    controller: String,
    /// The Pod's name, when known (`POD_NAME`), else the controller's.
    instance: String,
    ledger: Arc<Mutex<Ledger>>,
}

impl Recorder {
    fn occur(&self, key: SeriesKey, object: &ObjectReference) -> Write {
        self.ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .occur(key, object, Timestamp::now())
    }

    fn event(
        &self,
        notice: &Notice,
        object: &ObjectReference,
        namespace: String,
        name: String,
    ) -> Event {
        Event {
            metadata: ObjectMeta {
                namespace: Some(namespace),
                name: Some(name),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(Timestamp::now())),
            action: Some(notice.action.into()),
            reason: Some(notice.reason.into()),
            note: Some(truncated(&notice.note, NOTE_MAX_BYTES).into()),
            type_: Some(notice.type_().into()),
            regarding: Some(object.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        }
    }

    /// One occurrence of `notice` about `object`, written in the background.
    async fn send(self, notice: Notice, object: ObjectReference) {
        let key = SeriesKey::of(&notice, &object);
        match self.occur(key.clone(), &object) {
            Write::Create { namespace, name } => {
                let event = self.event(&notice, &object, namespace.clone(), name);
                let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
                if let Err(error) = api.create(&crate::write::post(), &event).await {
                    tracing::warn!(%error, reason = notice.reason, "could not record event");
                }
            }
            Write::FlushLater => {
                tokio::time::sleep(SERIES_FLUSH).await;
                let series = self
                    .ledger
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .flush(&key);
                if let Some(series) = series {
                    self.write_series(&series, notice.reason).await;
                }
            }
            Write::Nothing => {}
        }
    }

    async fn write_series(&self, series: &Series, reason: &str) {
        let patch = serde_json::json!({"series": EventSeries {
            count: series.count,
            last_observed_time: MicroTime(series.last),
        }});
        let api: Api<Event> = Api::namespaced(self.client.clone(), &series.namespace);
        if let Err(error) = api
            .patch(&series.name, &crate::write::merge(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(%error, reason, "could not update event series");
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A recorder reporting as `controller` (the instance is the Pod's name, when known).
pub fn recorder(client: &kube::Client, controller: &str) -> Recorder {
    Recorder {
        client: client.clone(),
        controller: controller.into(),
        instance: std::env::var("POD_NAME").unwrap_or_else(|_| controller.into()),
        ledger: Arc::default(),
    }
}

/// Publishes `notice` about `object` in the background; does nothing without a recorder
/// (events switched off). A failure is logged, never retried: Events are best effort.
pub fn publish(recorder: Option<&Recorder>, notice: &Notice, object: ObjectReference) {
    let Some(recorder) = recorder.cloned() else {
        return;
    };
    tokio::spawn(recorder.send(notice.clone(), object));
}

/// Publishes `notice` like [`publish`], once `burst` is over: an Event nobody waits for does
/// not compete with a burst of claims for the API server.
pub fn publish_after(
    burst: &Arc<crate::burst::Burst>,
    recorder: Option<&Recorder>,
    notice: &Notice,
    object: ObjectReference,
) {
    let Some(recorder) = recorder.cloned() else {
        return;
    };
    let (burst, notice) = (burst.clone(), notice.clone());
    tokio::spawn(async move {
        burst.over().await;
        recorder.send(notice, object).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, uid: Option<&str>) -> ObjectReference {
        ObjectReference {
            kind: Some("Sandbox".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: uid.map(Into::into),
            ..ObjectReference::default()
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn repeats_within_the_window_count_and_write_once_per_flush() {
        let mut ledger = Ledger::default();
        let sb = object("sb", Some("u1"));
        let ready = Notice::normal("SandboxReady", "Ready", "Sandbox is Ready");
        let key = SeriesKey::of(&ready, &sb);
        let Write::Create { namespace, name } = ledger.occur(key.clone(), &sb, at(0)) else {
            panic!("the first occurrence creates the Event");
        };
        assert_eq!(namespace, "ns");
        assert!(name.starts_with("sb."), "{name}");
        assert_eq!(ledger.occur(key.clone(), &sb, at(1)), Write::FlushLater);
        assert_eq!(ledger.occur(key.clone(), &sb, at(2)), Write::Nothing);
        assert_eq!(ledger.occur(key.clone(), &sb, at(3)), Write::Nothing);
        let series = ledger.flush(&key).unwrap();
        assert_eq!((series.count, series.last, series.name), (4, at(3), name));
        assert_eq!(
            ledger.occur(key.clone(), &sb, at(4)),
            Write::FlushLater,
            "after a flush the next repeat schedules another"
        );
    }

    #[test]
    fn other_objects_reasons_types_and_stale_series_start_new_events() {
        let mut ledger = Ledger::default();
        let sb = object("sb", Some("u1"));
        let ready = Notice::normal("SandboxReady", "Ready", "n");
        assert!(matches!(
            ledger.occur(SeriesKey::of(&ready, &sb), &sb, at(0)),
            Write::Create { .. }
        ));
        let other = object("sb", Some("u2"));
        let failed = Notice::warning("SandboxReady", "Ready", "n");
        let suspended = Notice::normal("SandboxSuspended", "Ready", "n");
        for key in [
            SeriesKey::of(&ready, &other),
            SeriesKey::of(&failed, &sb),
            SeriesKey::of(&suspended, &sb),
        ] {
            assert!(matches!(
                ledger.occur(key, &sb, at(1)),
                Write::Create { .. }
            ));
        }
        let window = i64::try_from(SERIES_WINDOW.as_secs()).unwrap();
        assert!(matches!(
            ledger.occur(SeriesKey::of(&ready, &sb), &sb, at(window + 1)),
            Write::Create { .. }
        ));
    }

    #[test]
    fn a_note_is_cut_to_what_the_api_server_takes_on_a_character_boundary() {
        let long = "é".repeat(600);
        let cut = truncated(&long, NOTE_MAX_BYTES);
        assert!(cut.len() <= NOTE_MAX_BYTES && cut.len() >= NOTE_MAX_BYTES - 1);
        assert_eq!(truncated("short", NOTE_MAX_BYTES), "short");
    }

    #[tokio::test]
    async fn events_carry_the_notice_the_reporter_and_the_regarding_object() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let recorder = recorder(&client, "sandbox-controller");
        let sb = object("sb", Some("u1"));
        let notice = Notice::warning("PodFailed", "PodCompletion", "Pod failed");
        let event = recorder.event(&notice, &sb, "ns".into(), "sb.1".into());
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.reason.as_deref(), Some("PodFailed"));
        assert_eq!(event.action.as_deref(), Some("PodCompletion"));
        assert_eq!(event.note.as_deref(), Some("Pod failed"));
        assert_eq!(event.regarding, Some(sb));
        assert_eq!(
            event.reporting_controller.as_deref(),
            Some("sandbox-controller")
        );
        assert_eq!(event.metadata.name.as_deref(), Some("sb.1"));
    }
}
