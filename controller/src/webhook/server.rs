//! The HTTPS endpoint the apiserver calls: `POST /convert` (a `ConversionReview`) and
//! `GET /healthz`. HTTP/1.1 over rustls with the `ring` provider; the apiserver's webhook
//! client falls back to HTTP/1.1 when the server offers no `h2`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::review;

/// Largest request body accepted. A review may carry a whole list of objects, each up to the
/// apiserver's ~3 MiB request limit.
const MAX_BODY_BYTES: usize = 64 << 20;
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate or key PEM could not be parsed.
    #[error("cannot parse {what} PEM: {source}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// What the parser rejected.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate PEM held no certificate.
    #[error("certificate PEM contains no certificate")]
    NoCertificate,
    /// rustls rejected the certificate/key pair.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Binding or inspecting the listening socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// A bound, not yet running, webhook server. Binding first lets callers learn the port when
/// they asked for port 0.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl Server {
    /// Parses the PEMs and binds `addr`.
    pub async fn bind(addr: SocketAddr, cert_pem: &str, key_pem: &str) -> Result<Self, ServeError> {
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(cert_pem, key_pem)?));
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, acceptor })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts connections until the future is dropped; each connection runs on its own task,
    /// so one slow client cannot hold up the rest.
    pub async fn run(self) -> Result<(), ServeError> {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    tokio::spawn(handle_connection(self.acceptor.clone(), stream, peer));
                }
                Err(error) => {
                    tracing::warn!(%error, "webhook accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// Serves the conversion webhook on `addr` with the given PEM certificate chain and private
/// key. Returns only if startup fails.
pub async fn serve(addr: SocketAddr, cert_pem: String, key_pem: String) -> Result<(), ServeError> {
    let server = Server::bind(addr, &cert_pem, &key_pem).await?;
    tracing::info!(addr = %server.local_addr()?, "conversion webhook listening");
    server.run().await
}

/// TLS 1.2/1.3 with the `ring` provider chosen explicitly, so the process-wide default
/// provider (which may be unset or ambiguous) does not matter.
fn tls_config(cert_pem: &str, key_pem: &str) -> Result<ServerConfig, ServeError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServeError::Pem {
            what: "certificate",
            source,
        })?;
    if certs.is_empty() {
        return Err(ServeError::NoCertificate);
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|source| ServeError::Pem {
            what: "private key",
            source,
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn handle_connection(acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "webhook TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "webhook TLS handshake timed out");
            return;
        }
    };
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(tls), service_fn(route))
        .await;
    if let Err(error) = served {
        tracing::debug!(%peer, %error, "webhook connection ended with an error");
    }
}

async fn route(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/convert") => convert(request.into_body()).await,
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok"),
        (_, "/convert" | "/healthz") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed",
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found"),
    };
    Ok(response)
}

/// Reads a `ConversionReview` and answers it. Conversion failures are reported inside a 200
/// review response, as the apiserver expects; only a body that is not JSON at all gets a 4xx.
async fn convert(body: Incoming) -> Response<Full<Bytes>> {
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                format!("body exceeds {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(error) => {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("reading body: {error}"),
            );
        }
    };
    let request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(error) => {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("body is not JSON: {error}"),
            );
        }
    };
    let response = review(request);
    reply(StatusCode::OK, "application/json", response.to_string())
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;
    use tokio_rustls::TlsConnector;

    use super::*;
    use crate::webhook::{fixtures, self_signed};

    /// A running server on a loopback port and the CA that signed its certificate.
    struct Running {
        addr: SocketAddr,
        ca_pem: String,
        task: JoinHandle<Result<(), ServeError>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn start() -> Running {
        let (ca_pem, cert_pem, key_pem) = self_signed(&["localhost".to_owned()]).unwrap();
        let server = Server::bind(([127, 0, 0, 1], 0).into(), &cert_pem, &key_pem)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let task = tokio::spawn(server.run());
        Running { addr, ca_pem, task }
    }

    fn client(ca_pem: &str) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    /// Sends one HTTP/1.1 request over TLS (verifying the server as `localhost` against
    /// `ca_pem`) and returns the status code and body.
    async fn request(
        addr: SocketAddr,
        ca_pem: &str,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = client(ca_pem).connect(name, tcp).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await?;
        tls.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw).await?;
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Ok((status, body.to_owned()))
    }

    #[tokio::test]
    async fn converts_a_review_over_tls() {
        let server = start().await;
        let review = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {
                "uid": "11111111-2222-3333-4444-555555555555",
                "desiredAPIVersion": "agents.x-k8s.io/v1beta1",
                "objects": [serde_json::to_value(fixtures::alpha_sandbox()).unwrap()]
            }
        });
        let (status, body) = request(
            server.addr,
            &server.ca_pem,
            "POST",
            "/convert",
            &review.to_string(),
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let response = &answer["response"];
        assert_eq!(response["uid"], "11111111-2222-3333-4444-555555555555");
        assert_eq!(response["result"]["status"], "Success");
        let converted = &response["convertedObjects"][0];
        assert_eq!(converted["apiVersion"], "agents.x-k8s.io/v1beta1");
        assert_eq!(converted["spec"]["operatingMode"], "Running");
        assert!(
            converted["metadata"]["annotations"]["api.agents.x-k8s.io/v1alpha1-sandbox-state"]
                .is_string()
        );
    }

    #[tokio::test]
    async fn answers_health_checks_and_rejects_other_requests() {
        let server = start().await;
        let (status, body) = request(server.addr, &server.ca_pem, "GET", "/healthz", "")
            .await
            .unwrap();
        assert_eq!((status, body.as_str()), (200, "ok"));

        let (status, _) = request(server.addr, &server.ca_pem, "GET", "/convert", "")
            .await
            .unwrap();
        assert_eq!(status, 405);
        let (status, _) = request(server.addr, &server.ca_pem, "GET", "/nope", "")
            .await
            .unwrap();
        assert_eq!(status, 404);
        let (status, body) = request(server.addr, &server.ca_pem, "POST", "/convert", "{oops")
            .await
            .unwrap();
        assert_eq!(status, 400);
        assert!(body.contains("not JSON"), "{body}");
    }

    #[tokio::test]
    async fn a_client_that_does_not_trust_the_ca_cannot_connect() {
        let server = start().await;
        let (other_ca, _, _) = self_signed(&["localhost".to_owned()]).unwrap();
        let result = request(server.addr, &other_ca, "GET", "/healthz", "").await;
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn tls_config_rejects_bad_pem() {
        let (_, cert, key) = self_signed(&["localhost".to_owned()]).unwrap();
        assert!(matches!(
            tls_config("", &key),
            Err(ServeError::NoCertificate)
        ));
        assert!(matches!(
            tls_config(&cert, "garbage"),
            Err(ServeError::Pem {
                what: "private key",
                ..
            })
        ));
        assert!(tls_config(&cert, &key).is_ok());
    }
}
