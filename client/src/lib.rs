//! The Kubernetes API client of the project's programs (the reference controller, the harness
//! and the conformance suite): kube's client, with its connections speaking HTTP/2 when the API
//! server offers it in TLS's ALPN, as every kube-apiserver does.
//!
//! kube's own [`kube::Client::try_from`] speaks HTTP/1.1: each request in flight holds a
//! connection of its own, so a burst of N concurrent creates opens N TLS connections (and the
//! API server pays N handshakes just when it is busiest). Over HTTP/2 every request and watch
//! of a client is a stream of one connection, which is what client-go does. Each client built
//! here has its own connection: the controller keeps its watches on one client and its writes
//! on another, since on a shared connection a burst of writes delayed the watch events enough
//! to make its caches lag (upstream's `--separate-watch-connection` for the same reason).
//!
//! As in client-go, a non-empty `DISABLE_HTTP2` in the environment keeps the connections on
//! HTTP/1.1 (for a proxy in the way that mishandles HTTP/2, or to compare the two).
//!
//! The service stack is kube's default one, minus tracing spans and response decompression
//! (neither is used here) and socket read timeouts (HTTP/2 pings find a dead connection):
//! base URI, retries of throttled and unavailable answers, authentication, the configured
//! extra headers.
//!
//! [`TokenBucket`] is the client-side rate limiting of the programs' API calls (the controller's
//! `--kube-api-qps`, the harness's claims, the warm pools' refill pace), as client-go's
//! `flowcontrol`, on an explicit clock.

pub mod token_bucket;

pub use token_bucket::TokenBucket;

use http::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::retry::RetryPolicy;
use kube::client::{Body, ClientBuilder, ConfigExt, DynBody};
use tower::retry::RetryLayer;
use tower::util::BoxService;
use tower::{BoxError, ServiceBuilder, ServiceExt as _};

/// How long a connection may be silent before it is pinged, and how long the ping may take.
const KEEP_ALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The boxed request service a [`ClientBuilder`] wraps; further layers go on top of it.
pub type ApiService = BoxService<Request<Body>, Response<Box<DynBody>>, BoxError>;

/// Why a client could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the client's TLS or credentials could not be set up from the kubeconfig: {0}")]
    Config(#[from] kube::Error),
    #[error("the kubeconfig's TLS server name {0:?} is not a valid server name")]
    ServerName(String),
}

/// A [`ClientBuilder`] for `config` whose connections negotiate HTTP/2 (falling back to
/// HTTP/1.1 when the server does not offer it); add layers with
/// [`ClientBuilder::with_layer`], then [`ClientBuilder::build`].
pub fn builder(config: &kube::Config) -> Result<ClientBuilder<ApiService>, ClientError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    http.set_nodelay(true);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    let tls = match &config.tls_server_name {
        Some(name) => tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
            name.clone()
                .try_into()
                .map_err(|_| ClientError::ServerName(name.clone()))?,
        )),
        None => tls,
    };
    let connector = if http2_disabled() {
        tls.enable_http1().wrap_connector(http)
    } else {
        tls.enable_all_versions().wrap_connector(http)
    };
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        // Many streams share the connection (a burst's responses, long watches): let the
        // receive windows grow with the measured bandwidth-delay product rather than stall at
        // the 64 KiB default.
        .http2_adaptive_window(true)
        // A connection that died without a word (a half-open TCP connection) would stall
        // every watch on it for good: ping it when idle, and drop it when a ping goes
        // unanswered, as client-go does (30 s, 15 s).
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(client)
        .map_response(|response: Response<_>| {
            response.map(|body| {
                Box::new(http_body_util::BodyExt::map_err(body, BoxError::from)) as Box<DynBody>
            })
        })
        .boxed();
    Ok(ClientBuilder::new(
        service,
        config.default_namespace.clone(),
    ))
}

/// client-go's switch: `DISABLE_HTTP2` set to anything.
fn http2_disabled() -> bool {
    std::env::var_os("DISABLE_HTTP2").is_some_and(|v| !v.is_empty())
}

/// A client for `config` over HTTP/2 with no further layers.
pub fn client(config: &kube::Config) -> Result<kube::Client, ClientError> {
    Ok(builder(config)?.build())
}
