//! Writing the admin kubeconfig of a local cluster. Credentials are embedded, so the file can
//! be copied or handed to `kubectl --kubeconfig` as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A kubeconfig with one cluster, one user (a client certificate and its key) and one context,
/// all named after the cluster; `ca_pem` is the cluster's CA.
pub fn render(name: &str, server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    let b64 = |pem: &str| STANDARD.encode(pem);
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n\
         - name: {name}-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n\
         contexts:\n\
         - name: {name}\n  context:\n    cluster: {name}\n    user: {name}-admin\n\
         current-context: {name}\n",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
    )
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
        assert!(user.client_certificate_data.is_some());
    }
}
