//! Kubernetes Events (events.k8s.io) as the decisions describe them, published off the
//! reconcile path: an Event is one more API write, and a claim should not wait for it.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// An Event a decision asks for, comparable in tests (kube's `Event` is not).
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

    fn event(&self) -> Event {
        Event {
            type_: if self.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: self.reason.into(),
            note: Some(self.note.clone()),
            action: self.action.into(),
            secondary: None,
        }
    }
}

/// A recorder reporting as `controller` (the instance is the Pod's name, when known).
pub fn recorder(client: &kube::Client, controller: &str) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: controller.into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    )
}

/// Publishes `notice` about `object` in the background; does nothing without a recorder
/// (events switched off). A failure is logged, never retried: Events are best effort.
pub fn publish(recorder: Option<&Recorder>, notice: &Notice, object: ObjectReference) {
    let Some(recorder) = recorder.cloned() else {
        return;
    };
    let event = notice.event();
    tokio::spawn(async move { send(&recorder, &event, &object).await });
}

async fn send(recorder: &Recorder, event: &Event, object: &ObjectReference) {
    if let Err(error) = recorder.publish(event, object).await {
        tracing::warn!(%error, reason = %event.reason, "could not record event");
    }
}

/// Publishes `notice` like [`publish`], once `burst` is over: an Event nobody waits for does
/// not compete with a burst of claims for the API server.
pub fn publish_after(
    burst: &std::sync::Arc<crate::burst::Burst>,
    recorder: Option<&Recorder>,
    notice: &Notice,
    object: ObjectReference,
) {
    let Some(recorder) = recorder.cloned() else {
        return;
    };
    let (burst, event) = (burst.clone(), notice.event());
    tokio::spawn(async move {
        burst.over().await;
        send(&recorder, &event, &object).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_become_events_of_their_type() {
        let n = Notice::warning("R", "A", "note");
        let e = n.event();
        assert_eq!(e.type_, EventType::Warning);
        assert_eq!(
            (e.reason.as_str(), e.action.as_str(), e.note.as_deref()),
            ("R", "A", Some("note"))
        );
        assert_eq!(
            Notice::normal("R", "A", "n").event().type_,
            EventType::Normal
        );
    }
}
