//! Pointing the four CRDs at this controller's conversion webhook, so the API server can serve
//! `v1alpha1` objects stored as `v1beta1`.

use std::net::SocketAddr;

use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use sandbox_api::crds::{CONVERSION_REVIEW_VERSIONS, WEBHOOK_CONVERT_PATH};
use serde_json::{Value, json};

use super::ca_secret::{self, CaSecretError};
use super::certs::Ca;
use super::{CertError, ServeError, Server};

/// Where the API server reaches the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A URL, for a controller running outside the cluster (e.g. `https://127.0.0.1:9443`).
    Url(String),
    /// A Service in front of the controller's Pods.
    Service { name: String, namespace: String },
}

impl Endpoint {
    /// The endpoint with port `0` in a URL replaced by `port`, the port the webhook bound: with
    /// `--webhook-bind-address=127.0.0.1:0 --webhook-url=https://127.0.0.1:0` the system picks
    /// a free port and the CRDs still point at it (tests start the binary this way instead of
    /// guessing a free port first). Any other endpoint is returned as it is.
    pub fn on_port(&self, port: u16) -> Endpoint {
        let Endpoint::Url(base) = self else {
            return self.clone();
        };
        let Ok(uri) = base.parse::<hyper::Uri>() else {
            return self.clone();
        };
        let Some(authority) = uri.authority().filter(|_| uri.port_u16() == Some(0)) else {
            return self.clone();
        };
        let Some((host, _)) = authority.as_str().rsplit_once(':') else {
            return self.clone();
        };
        Endpoint::Url(base.replacen(authority.as_str(), &format!("{host}:{port}"), 1))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("webhook certificates: {0}")]
    Certs(#[from] CertError),
    #[error("shared webhook CA: {0}")]
    SharedCa(#[from] CaSecretError),
    #[error("webhook server: {0}")]
    Serve(#[from] ServeError),
    #[error("point CRD {crd} at the webhook: {source}")]
    Patch { crd: String, source: kube::Error },
}

/// The merge patch that switches a CRD to the Webhook conversion strategy at `endpoint`,
/// trusting `ca_pem`. The unused half of `clientConfig` is cleared explicitly.
pub fn conversion_patch(endpoint: &Endpoint, ca_pem: &str) -> Value {
    let ca = serde_json::to_value(ByteString(ca_pem.as_bytes().to_vec())).unwrap_or(Value::Null);
    let (url, service) = match endpoint {
        Endpoint::Url(base) => (
            json!(format!(
                "{}{WEBHOOK_CONVERT_PATH}",
                base.trim_end_matches('/')
            )),
            Value::Null,
        ),
        Endpoint::Service { name, namespace } => (
            Value::Null,
            json!({"name": name, "namespace": namespace, "path": WEBHOOK_CONVERT_PATH}),
        ),
    };
    json!({"spec": {"conversion": {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": CONVERSION_REVIEW_VERSIONS,
            "clientConfig": {"caBundle": ca, "url": url, "service": service},
        },
    }}})
}

/// Signs a serving certificate for `endpoint`, binds the webhook on `bind`, and points the
/// CRDs at it (a URL's port `0` at the port bound, [`Endpoint::on_port`]). The returned server
/// must be run for conversions to work.
///
/// Behind a Service every replica serves, so all of them sign with the CA shared through a
/// Secret in the Service's namespace ([`ca_secret`]) and write the same `caBundle`. At a URL
/// (a controller outside the cluster, which may have no namespace of its own) only this process
/// answers, so a CA of its own does.
pub async fn start(
    client: &kube::Client,
    bind: SocketAddr,
    endpoint: &Endpoint,
) -> Result<Server, WireError> {
    let ca = match endpoint {
        Endpoint::Service { namespace, .. } => ca_secret::shared_ca(client, namespace).await?,
        Endpoint::Url(_) => Ca::generate()?,
    };
    let serving = ca.serving(&serving_names(endpoint))?;
    let server = Server::bind(bind, &serving.cert_pem, &serving.key_pem).await?;
    let endpoint = endpoint.on_port(server.local_addr()?.port());
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let patch = conversion_patch(&endpoint, ca.cert_pem());
    for crd in sandbox_api::crds::all() {
        let name = crd.metadata.name.unwrap_or_default();
        crds.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| WireError::Patch {
                crd: name.clone(),
                source,
            })?;
    }
    Ok(server)
}

/// The names the serving certificate is valid for: loopback always (for a URL endpoint and
/// local checks), and the Service's DNS names behind a Service.
pub fn serving_names(endpoint: &Endpoint) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Endpoint::Service { name, namespace } = endpoint {
        names.insert(0, format!("{name}.{namespace}.svc"));
        names.push(format!("{name}.{namespace}.svc.cluster.local"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_endpoint_clears_the_service_and_carries_the_ca() {
        let p = conversion_patch(&Endpoint::Url("https://127.0.0.1:9443/".into()), "CA");
        let cc = &p["spec"]["conversion"]["webhook"]["clientConfig"];
        assert_eq!(cc["url"], "https://127.0.0.1:9443/convert");
        assert_eq!(cc["service"], Value::Null);
        assert_eq!(cc["caBundle"], "Q0E=", "base64 of the PEM");
        assert_eq!(p["spec"]["conversion"]["strategy"], "Webhook");
        assert_eq!(
            p["spec"]["conversion"]["webhook"]["conversionReviewVersions"],
            json!(["v1", "v1beta1"])
        );
    }

    #[test]
    fn port_zero_in_a_url_stands_for_the_port_bound() {
        let url = |s: &str| Endpoint::Url(s.into());
        assert_eq!(
            url("https://127.0.0.1:0").on_port(40123),
            url("https://127.0.0.1:40123")
        );
        assert_eq!(
            url("https://[::1]:0/base/").on_port(40123),
            url("https://[::1]:40123/base/")
        );
        assert_eq!(
            url("https://127.0.0.1:9443").on_port(40123),
            url("https://127.0.0.1:9443"),
            "a port given is kept"
        );
        assert_eq!(
            url("https://webhook.example").on_port(40123),
            url("https://webhook.example"),
            "no port is 443, not 0"
        );
        let service = Endpoint::Service {
            name: "svc".into(),
            namespace: "sys".into(),
        };
        assert_eq!(service.on_port(40123), service);
    }

    #[test]
    fn a_service_endpoint_clears_the_url() {
        let p = conversion_patch(
            &Endpoint::Service {
                name: "svc".into(),
                namespace: "sys".into(),
            },
            "CA",
        );
        let cc = &p["spec"]["conversion"]["webhook"]["clientConfig"];
        assert_eq!(cc["url"], Value::Null);
        assert_eq!(
            cc["service"],
            json!({"name": "svc", "namespace": "sys", "path": "/convert"})
        );
    }
}
