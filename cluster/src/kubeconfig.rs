//! Writing the admin kubeconfig of a local cluster. Credentials are embedded, so the file can
//! be copied or handed to `kubectl --kubeconfig` as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

/// A kubeconfig with one cluster, one user (a client certificate and its key) and one context,
/// all named after the cluster; `ca_pem` is the cluster's CA.
pub fn render(name: &str, server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    let b64 = |pem: &str| STANDARD.encode(pem);
    let user = format!("{name}-admin");
    let config = Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: name.into(),
            cluster: Some(Cluster {
                server: Some(server.into()),
                certificate_authority_data: Some(b64(ca_pem)),
                ..Cluster::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.clone(),
            auth_info: Some(AuthInfo {
                client_certificate_data: Some(b64(cert_pem)),
                client_key_data: Some(b64(key_pem).into()),
                ..AuthInfo::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: name.into(),
            context: Some(Context {
                cluster: name.into(),
                user: Some(user),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(name.into()),
        ..Kubeconfig::default()
    };
    // JSON is YAML, and every kubeconfig reader takes it; nothing here can fail to serialize.
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::Kubeconfig;

    #[test]
    fn the_kubeconfig_parses_and_points_at_the_server_with_embedded_credentials() {
        let ca = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";
        let text = render("dev", "https://127.0.0.1:6443", ca, "cert", "key");
        let kc = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("dev"));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        let decoded = STANDARD
            .decode(cluster.certificate_authority_data.as_ref().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), ca);
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.client_certificate_data.as_deref(), Some("Y2VydA=="));
        assert_eq!(
            kc.contexts[0].context.as_ref().unwrap().user.as_deref(),
            Some("dev-admin")
        );
    }
}
