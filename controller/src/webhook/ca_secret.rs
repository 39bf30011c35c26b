//! One webhook CA for every replica, kept in a Secret next to the webhook Service.
//!
//! The API server reaches the webhook through a Service that balances across all replicas, and
//! it trusts exactly the CA in the CRDs' `caBundle`. If each replica made its own CA, each
//! would overwrite the bundle with its own and the API server could verify only the replica
//! that wrote last. So the CA lives in a Secret: the first replica to start creates it, every
//! other replica reads it, and each then signs its own serving certificate with it and writes
//! the same `caBundle`.
//!
//! Two replicas starting together race only on the create, and the API server decides that
//! race: exactly one create succeeds, the other gets `409 AlreadyExists` and reads the winner's
//! Secret (a GET by name is a consistent read, so it sees the create that beat it). A Secret
//! that exists but cannot be used is an error naming the Secret and key; it is never replaced,
//! since other replicas may be serving with it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};

use super::certs::{Ca, CertError, StoredCaError};

/// Name of the Secret holding the webhook CA.
pub const SECRET_NAME: &str = "agent-sandbox-webhook-ca";
/// Key of the CA certificate (PEM) in the Secret.
pub const CERT_KEY: &str = "ca.crt";
/// Key of the CA's PKCS#8 private key (PEM) in the Secret.
pub const KEY_KEY: &str = "ca.key";
/// Rounds of create, then read on `409`. Another round is needed only if the Secret is
/// deleted between a create that found it and the read, which a third time would be deliberate.
const ATTEMPTS: usize = 3;

/// The shared CA could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum CaSecretError {
    /// A new CA could not be generated.
    #[error("generate the webhook CA: {0}")]
    Generate(#[from] CertError),
    /// The create failed other than with `409 AlreadyExists`.
    #[error("create Secret {secret}: {source}")]
    Create { secret: String, source: kube::Error },
    /// Reading the existing Secret failed.
    #[error("read Secret {secret}: {source}")]
    Get { secret: String, source: kube::Error },
    /// The Secret exists but does not hold a usable CA under `key`.
    #[error(
        "Secret {secret}, key {key}: {reason}; fix the Secret or delete it (a new CA is then \
         made by the next replica to start, and every running replica must be restarted)"
    )]
    Malformed {
        secret: String,
        key: &'static str,
        reason: String,
    },
    /// Every create found the Secret, and every read then found it gone.
    #[error("Secret {secret} was deleted after each of {ATTEMPTS} creates found it")]
    Vanished { secret: String },
}

/// The CA every replica shares: the one in Secret `namespace/agent-sandbox-webhook-ca`, created
/// with a new CA if there is none.
pub async fn shared_ca(client: &kube::Client, namespace: &str) -> Result<Ca, CaSecretError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = format!("{namespace}/{SECRET_NAME}");
    // Generated up front, used only if this replica's create wins.
    let candidate = Ca::generate()?;
    for _ in 0..ATTEMPTS {
        match secrets
            .create(&PostParams::default(), &to_secret(&candidate))
            .await
        {
            Ok(_) => {
                tracing::info!(%secret, "created the shared webhook CA");
                return Ok(candidate);
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => return Err(CaSecretError::Create { secret, source }),
        }
        match secrets.get_opt(SECRET_NAME).await {
            Ok(Some(stored)) => {
                tracing::info!(%secret, "using the shared webhook CA");
                return from_secret(&stored, &secret);
            }
            Ok(None) => continue,
            Err(source) => return Err(CaSecretError::Get { secret, source }),
        }
    }
    Err(CaSecretError::Vanished { secret })
}

/// The Secret storing `ca`. Immutable: a CA edited in place would leave running replicas
/// serving certificates the new `caBundle` does not trust; replacing it is a delete and a
/// restart of every replica.
pub fn to_secret(ca: &Ca) -> Secret {
    let data = BTreeMap::from([
        (
            CERT_KEY.to_owned(),
            ByteString(ca.cert_pem().as_bytes().to_vec()),
        ),
        (
            KEY_KEY.to_owned(),
            ByteString(ca.key_pem().as_bytes().to_vec()),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "agent-sandbox-controller".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        immutable: Some(true),
        data: Some(data),
        ..Secret::default()
    }
}

/// The CA in `stored`; `secret` (`namespace/name`) names it in errors.
pub fn from_secret(stored: &Secret, secret: &str) -> Result<Ca, CaSecretError> {
    let malformed = |key, reason: String| CaSecretError::Malformed {
        secret: secret.to_owned(),
        key,
        reason,
    };
    let text = |key: &'static str| -> Result<&str, CaSecretError> {
        let bytes = stored
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .ok_or_else(|| malformed(key, "missing".to_owned()))?;
        std::str::from_utf8(&bytes.0).map_err(|e| malformed(key, format!("not UTF-8 PEM: {e}")))
    };
    let (cert_pem, key_pem) = (text(CERT_KEY)?, text(KEY_KEY)?);
    Ca::from_pem(cert_pem, key_pem).map_err(|error| {
        let key = match error {
            StoredCaError::Key(_) => KEY_KEY,
            StoredCaError::Certificate(_) | StoredCaError::Mismatch(_) => CERT_KEY,
        };
        let reason = match &error {
            StoredCaError::Mismatch(_) => format!("{error} (from key {KEY_KEY})"),
            _ => error.to_string(),
        };
        malformed(key, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(cert: &[u8], key: &[u8]) -> Secret {
        let mut secret = to_secret(&Ca::generate().unwrap());
        let data = secret.data.as_mut().unwrap();
        data.insert(CERT_KEY.to_owned(), ByteString(cert.to_vec()));
        data.insert(KEY_KEY.to_owned(), ByteString(key.to_vec()));
        secret
    }

    fn error(secret: &Secret) -> String {
        match from_secret(secret, "ns/agent-sandbox-webhook-ca") {
            Ok(_) => panic!("a malformed Secret was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_stored_ca_round_trips() {
        let ca = Ca::generate().unwrap();
        let back = from_secret(&to_secret(&ca), "ns/x").unwrap();
        assert_eq!(back.cert_pem(), ca.cert_pem());
        assert_eq!(back.key_pem(), ca.key_pem());
        let secret = to_secret(&ca);
        assert_eq!(secret.metadata.name.as_deref(), Some(SECRET_NAME));
        assert_eq!(secret.immutable, Some(true));
    }

    #[test]
    fn a_malformed_secret_names_itself_and_the_key() {
        let ca = Ca::generate().unwrap();
        let other = Ca::generate().unwrap();
        let (cert, key) = (ca.cert_pem().as_bytes(), ca.key_pem().as_bytes());

        let mut missing = to_secret(&ca);
        missing.data.as_mut().unwrap().remove(KEY_KEY);
        let e = error(&missing);
        assert!(
            e.contains("Secret ns/agent-sandbox-webhook-ca, key ca.key: missing"),
            "{e}"
        );
        let e = error(&Secret::default());
        assert!(e.contains("key ca.crt: missing"), "{e}");

        let e = error(&stored(b"garbage", key));
        assert!(e.contains("key ca.crt: not a PEM certificate"), "{e}");
        let e = error(&stored(cert, b"\xff\xfe"));
        assert!(e.contains("key ca.key: not UTF-8"), "{e}");
        let e = error(&stored(
            cert,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ));
        assert!(e.contains("key ca.key: not a PEM private key"), "{e}");
        let e = error(&stored(cert, other.key_pem().as_bytes()));
        assert!(
            e.contains("key ca.crt: not the certificate of the stored key"),
            "{e}"
        );
        assert!(e.contains("delete it"), "{e}");
    }
}
