//! Certificates and keys for a local control plane, generated fresh for every cluster.
//!
//! One CA signs the API server's serving certificate, the admin client certificate (group
//! `system:masters`, which bootstrap RBAC binds to `cluster-admin`) and one client certificate
//! per extra identity the caller asks for (so that each controller replica's requests carry
//! a user name of their own in the API server's audit log). A separate key
//! signs service-account tokens. Nothing is reused between clusters, so two clusters side by
//! side never trust each other's credentials.

use std::net::Ipv4Addr;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The first address of the service range; the API server's in-cluster Service IP.
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// A user the API server authenticates by client certificate: its name and group (one at
/// most: rcgen writes one Organization per certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub name: String,
    pub group: Option<String>,
}

/// A client certificate and its key (PEM) for one [`ClientIdentity`].
pub struct ClientCert {
    pub identity: ClientIdentity,
    pub cert: String,
    pub key: String,
}

/// PEM-encoded material for one cluster.
pub struct Pki {
    pub ca_cert: String,
    pub serving_cert: String,
    pub serving_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    /// One per identity asked for, in order.
    pub clients: Vec<ClientCert>,
    /// Signs service-account tokens (API server) and is handed to the controller-manager.
    pub service_account_key: String,
    /// The public half, which the API server uses to verify tokens.
    pub service_account_pub: String,
}

impl Pki {
    /// Fresh material, with a client certificate for each of `clients`.
    pub fn generate(clients: &[ClientIdentity]) -> Result<Self, rcgen::Error> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sandbox-bench-local-ca");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut serving = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            KUBERNETES_SERVICE_IP.to_string(),
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            "kubernetes.default.svc.cluster.local".to_string(),
        ])?;
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_key = KeyPair::generate()?;
        let serving_cert = serving.signed_by(&serving_key, &ca)?;

        let (admin_cert, admin_key) = client_cert(
            &ca,
            &ClientIdentity {
                name: "admin".into(),
                group: Some("system:masters".into()),
            },
        )?;
        let clients = clients
            .iter()
            .map(|identity| {
                let (cert, key) = client_cert(&ca, identity)?;
                Ok(ClientCert {
                    identity: identity.clone(),
                    cert,
                    key,
                })
            })
            .collect::<Result<_, rcgen::Error>>()?;

        let service_account = KeyPair::generate()?;

        Ok(Self {
            ca_cert: ca.pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            admin_cert,
            admin_key,
            clients,
            service_account_key: service_account.serialize_pem(),
            service_account_pub: service_account.public_key_pem(),
        })
    }
}

/// A client certificate signed by `ca`: the name as CommonName, the group as Organization, as
/// the API server's x509 authenticator reads them.
fn client_cert(
    ca: &CertifiedIssuer<'_, KeyPair>,
    identity: &ClientIdentity,
) -> Result<(String, String), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, identity.name.as_str());
    if let Some(group) = &identity.group {
        params
            .distinguished_name
            .push(DnType::OrganizationName, group.as_str());
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cluster_gets_its_own_ca_and_keys() {
        let replica = ClientIdentity {
            name: "sandbox-controller-0".into(),
            group: Some("system:masters".into()),
        };
        let a = Pki::generate(std::slice::from_ref(&replica)).unwrap();
        let b = Pki::generate(&[]).unwrap();
        assert_eq!(a.clients.len(), 1);
        assert_eq!(a.clients[0].identity, replica);
        assert!(b.clients.is_empty());
        assert_ne!(a.ca_cert, b.ca_cert);
        assert_ne!(a.admin_key, b.admin_key);
        assert_ne!(a.service_account_key, b.service_account_key);
        for pem in [&a.ca_cert, &a.serving_cert, &a.admin_cert] {
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        }
        assert!(a.serving_key.contains("PRIVATE KEY"));
        assert!(
            a.service_account_pub
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
    }
}
