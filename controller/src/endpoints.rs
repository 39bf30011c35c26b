//! Plain-HTTP endpoints: `/metrics` (Prometheus text format) on the metrics address, and
//! `/healthz` and `/readyz` on the health address. Either may share one listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// What a listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    pub metrics: bool,
    pub health: bool,
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// The response to one request; pure apart from reading the metrics.
pub fn route(
    routes: Routes,
    metrics: &Metrics,
    readiness: &Readiness,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    match (method, path) {
        (&Method::GET, "/metrics") if routes.metrics => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        (&Method::GET, "/healthz") if routes.health => {
            respond(StatusCode::OK, "text/plain", "ok".into())
        }
        (&Method::GET, "/readyz") if routes.health => match readiness.check() {
            Ok(doing) => respond(StatusCode::OK, "text/plain", doing),
            Err(why) => respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", why),
        },
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found".into()),
    }
}

/// Binds `addr` and serves `routes` until the future is dropped.
pub async fn serve(
    addr: SocketAddr,
    routes: Routes,
    metrics: Arc<Metrics>,
    readiness: Readiness,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, ?routes, "serving endpoints");
    loop {
        let (stream, _) = listener.accept().await?;
        let (metrics, readiness) = (metrics.clone(), readiness.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let response = route(routes, &metrics, &readiness, req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_listener_answers_only_its_routes() {
        let m = Metrics::new();
        let r = Readiness::default();
        let metrics_only = Routes {
            metrics: true,
            health: false,
        };
        assert_eq!(
            route(metrics_only, &m, &r, &Method::GET, "/metrics").status(),
            StatusCode::OK
        );
        assert_eq!(
            route(metrics_only, &m, &r, &Method::GET, "/healthz").status(),
            StatusCode::NOT_FOUND
        );
        let health_only = Routes {
            metrics: false,
            health: true,
        };
        assert_eq!(
            route(health_only, &m, &r, &Method::GET, "/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "a leader whose caches have not listed is not ready"
        );
        r.set_role(crate::readiness::Role::Standby);
        assert_eq!(
            route(health_only, &m, &r, &Method::GET, "/readyz").status(),
            StatusCode::OK
        );
        assert_eq!(
            route(health_only, &m, &r, &Method::GET, "/metrics").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            route(health_only, &m, &r, &Method::POST, "/healthz").status(),
            StatusCode::NOT_FOUND
        );
    }
}
