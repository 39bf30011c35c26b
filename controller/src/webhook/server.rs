//! The HTTPS endpoint the apiserver calls: `POST /convert` (a `ConversionReview`) and
//! `GET /healthz`. HTTP/1.1 over rustls with the `ring` provider; the apiserver's webhook
//! client speaks only HTTP/1.1 to webhooks anyway.
//!
//! Every connection and request is bounded by [`Limits`]: a connection slot per connection,
//! deadlines for the handshake, the headers (and keep-alive idleness), the body, the whole
//! request and each write, and a conversion slot per request body in memory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::limits::Limits;
use super::review;
use super::slot_body::SlotBody;
use super::write_timeout::WriteTimeout;

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
    limits: Limits,
}

impl Server {
    /// Parses the PEMs and binds `addr`, with the default [`Limits`].
    pub async fn bind(addr: SocketAddr, cert_pem: &str, key_pem: &str) -> Result<Self, ServeError> {
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(cert_pem, key_pem)?));
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            acceptor,
            limits: Limits::default(),
        })
    }

    /// The same server with other limits.
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts connections until the future is dropped; each connection runs on its own task,
    /// so one slow client cannot hold up the rest.
    pub async fn run(self) -> Result<(), ServeError> {
        let limits = self.limits;
        let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let conversions = Arc::new(Semaphore::new(limits.max_concurrent_conversions.max(1)));
        loop {
            // The slot is taken before `accept`: at the limit, new connections wait in the
            // listen backlog (see `Limits::max_connections`).
            let Ok(slot) = connections.clone().acquire_owned().await else {
                // Only a closed semaphore fails, and this one is never closed.
                return Ok(());
            };
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let connection = Connection {
                        acceptor: self.acceptor.clone(),
                        limits,
                        conversions: conversions.clone(),
                        peer,
                        _slot: slot,
                    };
                    tokio::spawn(connection.serve(stream));
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

/// One accepted connection and its connection slot, held until it ends.
struct Connection {
    acceptor: TlsAcceptor,
    limits: Limits,
    conversions: Arc<Semaphore>,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let Self {
            acceptor,
            limits,
            conversions,
            peer,
            _slot,
        } = self;
        let stream = WriteTimeout::new(stream, limits.write_timeout);
        let tls =
            match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
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
        let service = service_fn(move |request| {
            let conversions = conversions.clone();
            async move {
                let answer = tokio::time::timeout(
                    limits.request_timeout,
                    route(request, limits, conversions),
                );
                Ok::<_, Infallible>(answer.await.unwrap_or_else(|_| {
                    closing(reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        format!("not answered within {:?}", limits.request_timeout),
                    ))
                }))
            }
        });
        let served = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(tls), service)
            .await;
        if let Err(error) = served {
            tracing::debug!(%peer, %error, "webhook connection ended with an error");
        }
    }
}

async fn route(
    request: Request<Incoming>,
    limits: Limits,
    conversions: Arc<Semaphore>,
) -> Response<SlotBody> {
    match (request.method(), request.uri().path()) {
        (&Method::POST, "/convert") => convert(request.into_body(), limits, conversions).await,
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok"),
        (_, "/convert" | "/healthz") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed",
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

/// Reads a `ConversionReview` and answers it. Conversion failures are reported inside a 200
/// review response, as the apiserver expects; only a body that is not JSON at all gets a 4xx.
///
/// The body is read only once a conversion slot is free, and the slot is held until the
/// response has been handed to the connection (even if the request times out meanwhile), so
/// `max_concurrent_conversions` bounds the requests and responses in memory.
async fn convert(
    body: Incoming,
    limits: Limits,
    conversions: Arc<Semaphore>,
) -> Response<SlotBody> {
    let Ok(slot) = conversions.acquire_owned().await else {
        // Only a closed semaphore fails, and this one is never closed.
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "no conversion slots",
        );
    };
    let read = Limited::new(body, limits.max_body_bytes).collect();
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            return closing(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                format!("body exceeds {} bytes", limits.max_body_bytes),
            ));
        }
        Ok(Err(error)) => {
            return closing(reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("reading body: {error}"),
            ));
        }
        Err(_) => {
            return closing(reply(
                StatusCode::REQUEST_TIMEOUT,
                "text/plain",
                format!("body not received within {:?}", limits.body_read_timeout),
            ));
        }
    };
    // Converting a large review takes CPU for a while; off the async workers it neither stalls
    // other connections nor escapes `request_timeout`. The slot goes with it, so a conversion
    // that outlives its request still counts until it ends, and then with the response until
    // the connection has taken it.
    let answered = tokio::task::spawn_blocking(move || (answer(&bytes), slot));
    match answered.await {
        Ok((response, slot)) => response.map(|body| body.holding(slot)),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("conversion failed: {error}"),
        ),
    }
}

/// The response to a complete request body.
fn answer(body: &[u8]) -> Response<SlotBody> {
    match serde_json::from_slice(body) {
        Ok(request) => reply(
            StatusCode::OK,
            "application/json",
            review(request).to_string(),
        ),
        Err(error) => reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("body is not JSON: {error}"),
        ),
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<SlotBody> {
    let mut response = Response::new(SlotBody::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `response` with `Connection: close`, for answers after which the rest of the request (an
/// unread or half-read body) leaves the connection unusable.
fn closing(mut response: Response<SlotBody>) -> Response<SlotBody> {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::webhook::test_client::{request, start};
    use crate::webhook::{fixtures, self_signed};

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
