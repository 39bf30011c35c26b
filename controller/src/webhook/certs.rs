//! The webhook's CA and the serving certificates it signs, so the CRDs'
//! `spec.conversion.webhook.clientConfig.caBundle` can trust the webhook without cert-manager.
//!
//! A [`Ca`] is either generated or loaded from PEM (as stored by [`super::ca_secret`], so that
//! every replica signs with the same CA). Keys are ECDSA P-256. Validity is rcgen's default
//! (effectively unbounded), so unlike upstream's one-year CA there is no expiry to rotate.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The CA's subject. A stored CA is checked against it: the issuer rebuilt from the stored key
/// names this subject in what it signs.
const CA_COMMON_NAME: &str = "agent-sandbox-webhook-ca";
/// The name of the throwaway certificate that checks a stored CA's certificate and key belong
/// together (`.invalid` cannot be a real name).
const PROBE_NAME: &str = "ca-check.invalid";

/// Generating or signing a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// No names were given; a serving certificate without a SAN cannot be verified.
    #[error("a serving certificate needs at least one DNS name")]
    NoNames,
    /// rcgen failed.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// A stored CA certificate and key cannot be used; the variant says which part is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoredCaError {
    /// The certificate PEM is not exactly one certificate.
    #[error("not a PEM certificate: {0}")]
    Certificate(String),
    /// The key PEM is not a private key rcgen can sign with.
    #[error("not a PEM private key: {0}")]
    Key(rcgen::Error),
    /// The certificate is not `CN=agent-sandbox-webhook-ca` with the key's public key.
    #[error("not the certificate of the stored key with subject CN={CA_COMMON_NAME}: {0}")]
    Mismatch(String),
}

/// A CA that signs the webhook's serving certificates.
pub struct Ca {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A serving certificate and its private key, both PEM.
pub struct Serving {
    /// The leaf certificate, signed by the CA.
    pub cert_pem: String,
    /// Its PKCS#8 private key.
    pub key_pem: String,
}

impl Ca {
    /// A new CA with a fresh key.
    pub fn generate() -> Result<Self, CertError> {
        let key = KeyPair::generate()?;
        let params = ca_params()?;
        let cert_pem = params.self_signed(&key)?.pem();
        let key_pem = key.serialize_pem();
        let issuer = Issuer::new(params, key);
        Ok(Self {
            cert_pem,
            key_pem,
            issuer,
        })
    }

    /// The CA stored as `cert_pem` and `key_pem`, after checking that the two belong together:
    /// a certificate signed with the key must verify against the certificate. That catches a
    /// certificate and key from different CAs, or a CA with another subject, before any
    /// serving certificate the API server would reject is handed out.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, StoredCaError> {
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoredCaError::Certificate(e.to_string()))?;
        let [cert] = certs.as_slice() else {
            return Err(StoredCaError::Certificate(format!(
                "expected one certificate, found {}",
                certs.len()
            )));
        };
        let key = KeyPair::from_pem(key_pem).map_err(StoredCaError::Key)?;
        let params = ca_params().map_err(|e| StoredCaError::Mismatch(e.to_string()))?;
        let ca = Self {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer: Issuer::new(params, key),
        };
        let probe = ca
            .serving(&[PROBE_NAME.to_owned()])
            .map_err(|e| StoredCaError::Mismatch(e.to_string()))?;
        verify(cert, &probe.cert_pem, PROBE_NAME).map_err(StoredCaError::Mismatch)?;
        Ok(ca)
    }

    /// The CA certificate, for `caBundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's PKCS#8 private key, for storing the CA.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A fresh key and a serving certificate for `names` (e.g.
    /// `agent-sandbox-webhook-service.agent-sandbox-system.svc`; IP literals become IP SANs),
    /// signed by this CA.
    pub fn serving(&self, names: &[String]) -> Result<Serving, CertError> {
        let first = names.first().ok_or(CertError::NoNames)?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Serving {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Creates a CA and a serving certificate signed by it for `service_dns_names`.
///
/// Returns `(ca_pem, cert_pem, key_pem)`: the CA certificate (for `caBundle`, base64-encoded by
/// the caller), the serving certificate, and its PKCS#8 private key.
pub fn self_signed(service_dns_names: &[String]) -> Result<(String, String, String), CertError> {
    if service_dns_names.is_empty() {
        return Err(CertError::NoNames);
    }
    let ca = Ca::generate()?;
    let serving = ca.serving(service_dns_names)?;
    Ok((ca.cert_pem, serving.cert_pem, serving.key_pem))
}

/// The CA's own parameters. A stored CA is used by rebuilding these around its stored key,
/// since reading them back from its certificate would need rcgen's x509 parser.
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Whether `leaf_pem` is a valid serving certificate for `name` under the CA `ca`, by the same
/// path validation a TLS client does (rustls' webpki with the `ring` provider).
pub fn verify(ca: &CertificateDer<'_>, leaf_pem: &str, name: &str) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone().into_owned())
        .map_err(|e| format!("unusable as a trust anchor: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    let leaf = CertificateDer::from_pem_slice(leaf_pem.as_bytes()).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn produces_three_distinct_pem_blocks() {
        let (ca, cert, key) = self_signed(&["webhook.test.svc".to_owned()]).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        assert_ne!(ca, cert);
        verify(&der(&ca), &cert, "webhook.test.svc").unwrap();
    }

    #[test]
    fn rejects_an_empty_name_list() {
        assert!(matches!(self_signed(&[]), Err(CertError::NoNames)));
        let ca = Ca::generate().unwrap();
        assert!(matches!(ca.serving(&[]), Err(CertError::NoNames)));
    }

    #[test]
    fn rejects_an_invalid_dns_name() {
        assert!(matches!(
            self_signed(&["exämple.svc".to_owned()]),
            Err(CertError::Rcgen(_))
        ));
    }

    #[test]
    fn a_reloaded_ca_signs_certificates_its_stored_certificate_verifies() {
        let original = Ca::generate().unwrap();
        let reloaded = Ca::from_pem(original.cert_pem(), original.key_pem()).unwrap();
        assert_eq!(reloaded.cert_pem(), original.cert_pem());
        let names = ["a.ns.svc".to_owned(), "127.0.0.1".to_owned()];
        let (one, two) = (
            original.serving(&names).unwrap(),
            reloaded.serving(&names).unwrap(),
        );
        assert_ne!(
            one.key_pem, two.key_pem,
            "each replica has its own serving key"
        );
        for serving in [one, two] {
            verify(&der(original.cert_pem()), &serving.cert_pem, "a.ns.svc").unwrap();
            verify(&der(original.cert_pem()), &serving.cert_pem, "127.0.0.1").unwrap();
        }
    }

    #[test]
    fn a_certificate_from_another_ca_is_not_trusted() {
        let (ca, other) = (Ca::generate().unwrap(), Ca::generate().unwrap());
        let serving = other.serving(&["a.ns.svc".to_owned()]).unwrap();
        assert!(verify(&der(ca.cert_pem()), &serving.cert_pem, "a.ns.svc").is_err());
    }

    #[test]
    fn a_stored_ca_must_be_one_certificate_and_key_that_belong_together() {
        let (ca, other) = (Ca::generate().unwrap(), Ca::generate().unwrap());
        assert!(matches!(
            Ca::from_pem("", ca.key_pem()),
            Err(StoredCaError::Certificate(_))
        ));
        let two = format!("{}{}", ca.cert_pem(), other.cert_pem());
        assert!(matches!(
            Ca::from_pem(&two, ca.key_pem()),
            Err(StoredCaError::Certificate(_))
        ));
        assert!(matches!(
            Ca::from_pem(ca.cert_pem(), "not a key"),
            Err(StoredCaError::Key(_))
        ));
        let mismatch = Ca::from_pem(ca.cert_pem(), other.key_pem());
        assert!(
            matches!(mismatch, Err(StoredCaError::Mismatch(_))),
            "{:?}",
            mismatch.err()
        );
        // A CA with another subject, even with the right key, is not ours.
        let key = KeyPair::from_pem(ca.key_pem()).unwrap();
        let mut params = ca_params().unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "someone-else");
        let foreign = params.self_signed(&key).unwrap().pem();
        assert!(matches!(
            Ca::from_pem(&foreign, ca.key_pem()),
            Err(StoredCaError::Mismatch(_))
        ));
    }
}
