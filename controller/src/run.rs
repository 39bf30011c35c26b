//! Wiring: one shared cache per kind, one `kube::runtime::Controller` per kind.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use sandbox_api::keys;
use sandbox_api::v1beta1::Sandbox;

use crate::cache::SharedCache;
use crate::flags::Flags;
use crate::sandbox;

/// Runs every controller until the future is dropped.
pub async fn run(client: kube::Client, flags: Flags) {
    let mut sandboxes = SharedCache::<Sandbox>::new(Api::all(client.clone()));
    let mut pods = SharedCache::<Pod>::new(Api::all(client.clone()));
    let mut services = SharedCache::<Service>::new(Api::all(client.clone()));
    let mut pvcs = SharedCache::<PersistentVolumeClaim>::new(Api::all(client.clone()));

    let ctx = Arc::new(sandbox::Context {
        client: client.clone(),
        pods: pods.store.clone(),
        services: services.store.clone(),
        pvcs: pvcs.store.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: keys::SANDBOX_REPORTING_CONTROLLER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        cluster_domain: flags.cluster_domain.clone(),
    });
    let sandbox_controller =
        Controller::for_shared_stream(sandboxes.subscribe(), sandboxes.store.clone())
            .owns_shared_stream(pods.subscribe())
            .owns_shared_stream(services.subscribe())
            .with_config(ControllerConfig::default().concurrency(flags.sandbox_concurrent_workers))
            .run(sandbox::reconcile, sandbox::error_policy, ctx)
            .for_each(|_| async {});
    futures::join!(
        sandboxes.sync(),
        pods.sync(),
        services.sync(),
        pvcs.sync(),
        sandbox_controller
    );
}
