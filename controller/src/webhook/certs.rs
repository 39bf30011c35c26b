//! A throwaway CA and serving certificate for the webhook, so a harness can put the CA in the
//! CRDs' `spec.conversion.webhook.clientConfig.caBundle` without cert-manager.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Generating the certificates failed (rcgen rejected a name or could not sign).
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// No names were given; a serving certificate without a SAN cannot be verified.
    #[error("a serving certificate needs at least one DNS name")]
    NoNames,
    /// rcgen failed.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// Creates a CA and a serving certificate signed by it for `service_dns_names` (e.g.
/// `agent-sandbox-webhook-service.agent-sandbox-system.svc`; IP literals become IP SANs).
///
/// Returns `(ca_pem, cert_pem, key_pem)`: the CA certificate (for `caBundle`, base64-encoded by
/// the caller), the serving certificate, and its PKCS#8 private key. Keys are ECDSA P-256.
/// Validity is rcgen's default (effectively unbounded), so unlike upstream's one-year CA there
/// is no expiry to rotate; the certificates are meant for short-lived test clusters.
pub fn self_signed(service_dns_names: &[String]) -> Result<(String, String, String), CertError> {
    let first = service_dns_names.first().ok_or(CertError::NoNames)?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "agent-sandbox-webhook-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(service_dns_names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_three_distinct_pem_blocks() {
        let (ca, cert, key) = self_signed(&["webhook.test.svc".to_owned()]).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        assert_ne!(ca, cert);
    }

    #[test]
    fn rejects_an_empty_name_list() {
        assert!(matches!(self_signed(&[]), Err(CertError::NoNames)));
    }

    #[test]
    fn rejects_an_invalid_dns_name() {
        assert!(matches!(
            self_signed(&["exämple.svc".to_owned()]),
            Err(CertError::Rcgen(_))
        ));
    }
}
