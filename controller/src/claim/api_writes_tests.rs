//! The API requests of one warm claim, pinned against a mock API server (`tower-test`): the
//! claim reconcile runs against real caches and a `kube::Client` whose every request the test
//! answers by hand, in order. A warm claim costs two writes on its critical path (README, "Every
//! write, per warm claim"): the adoption patch of the pool member and the claim's status
//! patch. The `SandboxAdopted` Event is the only other request, and the pass does not wait for
//! it; the pass that follows once the caches show both writes writes nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::Event;
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle, SendResponse};

use super::{Context, Error, REPORTING_CONTROLLER, Requeue, reconcile};
use crate::cache::Synced;
use crate::index::{self, Index};
use crate::metrics::Metrics;

type ApiServer = Handle<Request<Body>, Response<Body>>;

const NS: &str = "ns";
const MEMBER: &str = "pool-x7k2p";
/// How long the test waits for a request that has no other way to show it is not coming.
/// Only a hang reaches it.
const LIVENESS: Duration = Duration::from_secs(30);

/// One request the controller made, read whole, with the means to answer it.
struct Call {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
    respond: SendResponse<Response<Body>>,
}

impl Call {
    async fn read((request, respond): (Request<Body>, SendResponse<Response<Body>>)) -> Self {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("a readable request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON request body")
        };
        Self {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            body,
            respond,
        }
    }

    fn describe(&self) -> String {
        format!("{} {}?{} {}", self.method, self.path, self.query, self.body)
    }

    /// Whether the query sets `fieldManager` to ours.
    fn ours(&self) -> bool {
        self.query
            .split('&')
            .any(|kv| kv == format!("fieldManager={}", keys::FIELD_MANAGER))
    }

    fn is_event(&self) -> bool {
        self.method == Method::POST
            && self.path == format!("/apis/events.k8s.io/v1/namespaces/{NS}/events")
    }

    fn answer(self, status: u16, body: &Value) {
        let response = Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.respond.send_response(response);
    }
}

/// The next request while `pass` runs; a pass that ends first fails the test with its result.
async fn next_call_during(
    api: &mut ApiServer,
    pass: &mut JoinHandle<Result<Requeue, Error>>,
    what: &str,
) -> Call {
    tokio::select! {
        request = api.next_request() => {
            Call::read(request.unwrap_or_else(|| panic!("every client dropped before {what}"))).await
        }
        ended = pass => panic!("the pass ended with {ended:?} before {what}"),
    }
}

/// `pass`'s result; any request it makes fails the test.
async fn without_requests<T>(api: &mut ApiServer, pass: impl Future<Output = T>) -> T {
    tokio::select! {
        biased;
        out = pass => out,
        request = api.next_request() => match request {
            Some(request) => panic!("unexpected request: {}", Call::read(request).await.describe()),
            None => panic!("every client dropped during the pass"),
        },
    }
}

/// The Sandbox cache with its indexes, fed as the shared cache feeds them.
struct SandboxCache {
    writer: Writer<Sandbox>,
    indexed: index::Sandboxes,
}

impl SandboxCache {
    fn new() -> Self {
        let (store, writer) = reflector::store();
        Self {
            writer,
            indexed: index::Sandboxes {
                pool_members: Index::new(store.clone(), index::pool_member)
                    .grouped_by(index::node_name),
                by_controller: Index::new(store.clone(), index::controller_uid::<Sandbox>),
                store,
            },
        }
    }

    fn apply(&mut self, sandbox: Sandbox) {
        let event = Event::Apply(sandbox);
        self.writer.apply_watcher_event(&event);
        self.indexed.pool_members.observe(&event);
        self.indexed.by_controller.observe(&event);
    }
}

fn store_of<K>(object: K) -> (Store<K>, Writer<K>)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&Event::Apply(object));
    (store, writer)
}

fn template() -> SandboxTemplate {
    serde_json::from_value(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
        "metadata": {"name": "t", "namespace": NS, "uid": "template-uid"},
        "spec": {"podTemplate": {
            "metadata": {"labels": {"app": "py"}},
            "spec": {"containers": [{"name": "main", "image": "python"}]}
        }}
    }))
    .unwrap()
}

fn pool() -> SandboxWarmPool {
    serde_json::from_value(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxWarmPool",
        "metadata": {"name": "pool", "namespace": NS, "uid": "pool-uid"},
        "spec": {"replicas": 1, "sandboxTemplateRef": {"name": "t"}}
    }))
    .unwrap()
}

/// A Ready member of the pool, as the pool controller builds it and the Sandbox controller
/// reports it.
fn member() -> Value {
    let ref_hash = sandbox_api::name_hash("t");
    json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {
            "name": MEMBER, "namespace": NS, "uid": "member-uid", "resourceVersion": "100",
            "generation": 1, "creationTimestamp": "2026-12-02T08:00:00Z",
            "labels": {
                keys::WARM_POOL_SANDBOX_LABEL: sandbox_api::NameHash::of("pool").to_string(),
                keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: ref_hash,
                keys::SANDBOX_TEMPLATE_HASH_LABEL: "template-hash",
            },
            "ownerReferences": [{"apiVersion": "extensions.agents.x-k8s.io/v1beta1",
                "kind": "SandboxWarmPool", "name": "pool", "uid": "pool-uid",
                "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"podTemplate": {
            "metadata": {"labels": {"app": "py", keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: ref_hash}},
            "spec": {"containers": [{"name": "main", "image": "python"}]}
        }},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "DependenciesReady",
                "message": "Pod is Ready; Service Exists",
                "lastTransitionTime": "2026-12-02T08:00:05Z", "observedGeneration": 1}],
            "podIPs": ["10.0.0.7"],
            "serviceFQDN": format!("{MEMBER}.{NS}.svc.cluster.local")
        }
    })
}

fn claim_json() -> Value {
    json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
        "metadata": {"name": "c", "namespace": NS, "uid": "claim-uid", "resourceVersion": "7",
            "generation": 1, "creationTimestamp": crate::sandbox::now()},
        "spec": {"warmPoolRef": {"name": "pool"}}
    })
}

#[tokio::test]
async fn a_warm_claim_writes_the_adoption_and_its_status_and_nothing_else() {
    let (service, mut api) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let mut sandboxes = SandboxCache::new();
    sandboxes.apply(serde_json::from_value(member()).unwrap());
    let (pools, _pools) = store_of(pool());
    let (templates, _templates) = store_of(template());
    let (synced_tx, synced) = Synced::manual("every kind");
    synced_tx.send_replace(true);
    let (pool_events, mut departures) = mpsc::unbounded_channel();
    let mut ctx = Context::new(
        client.clone(),
        sandboxes.indexed.clone(),
        pools,
        templates,
        synced,
        pool_events,
        Arc::new(Metrics::new()),
    );
    // Events on, through the same client: they must stay off the claim's path.
    ctx.recorder = Some(crate::events::recorder(&client, REPORTING_CONTROLLER));
    drop(client);
    let ctx = Arc::new(ctx);
    let claim: SandboxClaim = serde_json::from_value(claim_json()).unwrap();
    let mut pass = tokio::spawn(reconcile(Arc::new(claim.clone()), ctx.clone()));

    // 1. The adoption: one merge patch of the member, conditioned on the version decided on.
    let adoption = next_call_during(&mut api, &mut pass, "the adoption patch").await;
    assert_eq!(
        (adoption.method.clone(), adoption.path.as_str()),
        (
            Method::PATCH,
            format!("/apis/agents.x-k8s.io/v1beta1/namespaces/{NS}/sandboxes/{MEMBER}").as_str()
        ),
        "the first request is the adoption: {}",
        adoption.describe()
    );
    assert_eq!(adoption.content_type, "application/merge-patch+json");
    assert!(adoption.ours(), "{}", adoption.query);
    let patch = &adoption.body;
    assert_eq!(
        patch.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["metadata", "spec"],
        "no status: {patch}"
    );
    let meta = &patch["metadata"];
    assert_eq!(meta["resourceVersion"], "100", "optimistic lock: {patch}");
    assert_eq!(
        meta["ownerReferences"],
        json!([{"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
            "name": "c", "uid": "claim-uid", "controller": true, "blockOwnerDeletion": true}]),
        "the claim replaces the pool as the only owner"
    );
    let labels = meta["labels"].as_object().unwrap();
    assert_eq!(
        labels.get(keys::WARM_POOL_SANDBOX_LABEL),
        Some(&Value::Null),
        "the member leaves the pool: {patch}"
    );
    assert_eq!(
        labels.get(keys::SANDBOX_TEMPLATE_HASH_LABEL),
        Some(&Value::Null)
    );
    assert_eq!(labels[keys::LAUNCH_TYPE_LABEL], keys::LAUNCH_TYPE_WARM);
    assert_eq!(labels[keys::CLAIM_UID_LABEL], "claim-uid");
    assert_eq!(
        patch["spec"]["podTemplate"]["metadata"]["labels"],
        json!({keys::CLAIM_UID_LABEL: "claim-uid"}),
        "podTemplate.metadata gains the claim's identity (spec §5.7): {patch}"
    );
    let mut adopted = member();
    json_patch::merge(&mut adopted, patch);
    adopted["metadata"]["resourceVersion"] = json!("101");
    adopted["metadata"]["generation"] = json!(2);
    adoption.answer(200, &adopted);

    // 2. The claim's status, from the adoption's response. The Event may be sent meanwhile;
    //    it is held unanswered.
    let mut event = None;
    let status = loop {
        let call = next_call_during(&mut api, &mut pass, "the claim's status patch").await;
        if call.is_event() && event.is_none() {
            event = Some(call);
            continue;
        }
        break call;
    };
    assert_eq!(
        (status.method.clone(), status.path.as_str()),
        (
            Method::PATCH,
            format!(
                "/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/{NS}/sandboxclaims/c/status"
            )
            .as_str()
        ),
        "the second write is the claim's status: {}",
        status.describe()
    );
    assert_eq!(status.content_type, "application/merge-patch+json");
    assert!(status.ours(), "{}", status.query);
    assert_eq!(
        status.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["status"],
        "{}",
        status.body
    );
    assert_eq!(
        status.body["status"]["sandbox"],
        json!({"name": MEMBER, "podIPs": ["10.0.0.7"],
            "serviceFQDN": format!("{MEMBER}.{NS}.svc.cluster.local")})
    );
    assert_eq!(
        status.body["status"]["conditions"],
        json!([{"type": "Ready", "status": "True", "reason": "DependenciesReady",
            "message": "Pod is Ready; Service Exists",
            "lastTransitionTime": "2026-12-02T08:00:05Z", "observedGeneration": 1}]),
        "the member's Ready, at the claim's generation"
    );
    let mut written = claim_json();
    json_patch::merge(&mut written, &status.body);
    written["metadata"]["resourceVersion"] = json!("8");
    status.answer(200, &written);

    // 3. The pass is over without an answer to the Event (if it was sent yet).
    let result = tokio::time::timeout(LIVENESS, &mut pass)
        .await
        .expect("the pass waits for a request that is not on its path")
        .unwrap()
        .unwrap();
    assert_eq!(result, Requeue::await_change());
    assert_eq!(
        departures.try_recv().ok(),
        Some((ObjectRef::new("pool").within(NS), MEMBER.to_string())),
        "the pool is told which member left"
    );

    // 4. The Event, the one request off the path.
    let event = match event {
        Some(event) => event,
        None => {
            Call::read(
                tokio::time::timeout(LIVENESS, api.next_request())
                    .await
                    .expect("no SandboxAdopted Event")
                    .expect("every client dropped before the Event"),
            )
            .await
        }
    };
    assert!(event.is_event(), "{}", event.describe());
    assert_eq!(event.body["reason"], keys::event::SANDBOX_ADOPTED);
    assert_eq!(
        (
            &event.body["regarding"]["kind"],
            &event.body["regarding"]["name"]
        ),
        (&json!("SandboxClaim"), &json!("c"))
    );
    let echoed = event.body.clone();
    event.answer(201, &echoed);

    // 5. Once the caches show both writes, the next pass has nothing to write.
    sandboxes.apply(serde_json::from_value(adopted).unwrap());
    let caught_up: SandboxClaim = serde_json::from_value(written).unwrap();
    let next = without_requests(&mut api, reconcile(Arc::new(caught_up), ctx.clone()))
        .await
        .unwrap();
    assert_eq!(next, Requeue::await_change());

    // 6. Nothing more was sent: with every client gone, the server has no request left.
    drop(ctx);
    let rest = tokio::time::timeout(LIVENESS, api.next_request())
        .await
        .expect("a client is still held");
    if let Some(request) = rest {
        panic!(
            "unexpected request: {}",
            Call::read(request).await.describe()
        );
    }
}
