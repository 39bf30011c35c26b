//! Each of the server's [`Limits`] fires, over loopback TLS.
//!
//! Every test shrinks only the limit under test and makes the others patient (an hour), so the
//! expected event (a dropped connection, a 4xx/5xx, a waiting client served) happens only
//! because of that limit: without it the bounded wait for the event runs out and the test
//! fails. (The stalled-reader test also allows a single connection, to observe the drop as the
//! next connection being served.) Where a test must show that something does *not* happen while
//! a limit holds it back, it gives it [`QUIET`] to happen first.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use super::Limits;
use super::fixtures;
use super::test_client::{closed, connect, head, read_head, read_response, start_with, tls};

/// The deadline under test.
const SHORT: Duration = Duration::from_millis(200);
/// Every other deadline.
const PATIENT: Duration = Duration::from_secs(3600);
/// Longest wait for an event a limit should cause.
const WAIT: Duration = Duration::from_secs(10);
/// How long a client held back by a limit is given to get through anyway.
const QUIET: Duration = Duration::from_millis(500);

fn patient() -> Limits {
    Limits {
        handshake_timeout: PATIENT,
        header_read_timeout: PATIENT,
        body_read_timeout: PATIENT,
        request_timeout: PATIENT,
        write_timeout: PATIENT,
        ..Limits::default()
    }
}

/// A review of `count` v1alpha1 Sandboxes, each padded with an annotation of `pad` bytes.
fn review(count: usize, pad: usize) -> String {
    let objects: Vec<Value> = (0..count)
        .map(|i| {
            let mut sandbox = serde_json::to_value(fixtures::alpha_sandbox()).unwrap();
            sandbox["metadata"]["name"] = json!(format!("sb-{i}"));
            sandbox["metadata"]["annotations"]["pad"] = json!("x".repeat(pad));
            sandbox
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {
            "uid": "11111111-2222-3333-4444-555555555555",
            "desiredAPIVersion": "agents.x-k8s.io/v1beta1",
            "objects": objects
        }
    })
    .to_string()
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

#[tokio::test]
async fn a_client_that_never_starts_tls_is_dropped() {
    let server = start_with(Limits {
        handshake_timeout: SHORT,
        ..patient()
    })
    .await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    within("close of a silent connection", closed(&mut tcp)).await;
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_headers_is_dropped() {
    let server = start_with(Limits {
        header_read_timeout: SHORT,
        ..patient()
    })
    .await;
    let mut tls = connect(server.addr, &server.ca_pem).await.unwrap();
    tls.write_all(b"POST /convert HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    within(
        "close of a connection stuck in its headers",
        closed(&mut tls),
    )
    .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start_with(Limits {
        header_read_timeout: SHORT,
        ..patient()
    })
    .await;
    let mut tls = connect(server.addr, &server.ca_pem).await.unwrap();
    tls.write_all(head("GET", "/healthz", 0, "").as_bytes())
        .await
        .unwrap();
    let (status, body) = within("health answer", read_response(&mut tls))
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    within("close of the idle connection", closed(&mut tls)).await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_one_at_the_limit_is_converted() {
    let max = 64 * 1024;
    let server = start_with(Limits {
        max_body_bytes: max,
        ..patient()
    })
    .await;
    let fits = review(1, 0);
    let fits = format!("{fits}{}", " ".repeat(max - fits.len()));
    let too_big = format!("{fits} ");
    for (body, expected) in [(fits, 200), (too_big, 413)] {
        let mut tls = connect(server.addr, &server.ca_pem).await.unwrap();
        let head = head("POST", "/convert", body.len(), "Connection: close\r\n");
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(body.as_bytes()).await.unwrap();
        let (status, text) = within("answer", read_response(&mut tls)).await.unwrap();
        assert_eq!(status, expected, "{} bytes: {text}", body.len());
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let server = start_with(Limits {
        body_read_timeout: SHORT,
        ..patient()
    })
    .await;
    let mut tls = connect(server.addr, &server.ca_pem).await.unwrap();
    tls.write_all(head("POST", "/convert", 100, "").as_bytes())
        .await
        .unwrap();
    tls.write_all(b"{\"apiVersion\":").await.unwrap();
    let (status, _) = within("answer", read_response(&mut tls)).await.unwrap();
    assert_eq!(status, 408);
    within("close after 408", closed(&mut tls)).await;
}

#[tokio::test]
async fn a_request_not_answered_in_time_gets_503() {
    let server = start_with(Limits {
        request_timeout: SHORT,
        ..patient()
    })
    .await;
    let mut tls = connect(server.addr, &server.ca_pem).await.unwrap();
    tls.write_all(head("POST", "/convert", 100, "").as_bytes())
        .await
        .unwrap();
    let (status, _) = within("answer", read_response(&mut tls)).await.unwrap();
    assert_eq!(status, 503);
    within("close after 503", closed(&mut tls)).await;
}

#[tokio::test]
async fn a_connection_over_the_limit_waits_until_another_ends() {
    let server = start_with(Limits {
        max_connections: 2,
        ..patient()
    })
    .await;
    let first = connect(server.addr, &server.ca_pem).await.unwrap();
    let _second = connect(server.addr, &server.ca_pem).await.unwrap();

    // The third is TCP-connected (the listen backlog) but not accepted, so its handshake waits.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let ca = server.ca_pem.clone();
    let mut third = tokio::spawn(async move { tls(tcp, &ca).await });
    assert!(
        tokio::time::timeout(QUIET, &mut third).await.is_err(),
        "a third connection was served while two were held"
    );

    drop(first);
    let mut third = within("handshake of the waiting connection", third)
        .await
        .unwrap()
        .unwrap();
    third
        .write_all(head("GET", "/healthz", 0, "").as_bytes())
        .await
        .unwrap();
    let (status, _) = within("health answer", read_response(&mut third))
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_conversion_over_the_limit_waits_for_a_slot() {
    let server = start_with(Limits {
        max_concurrent_conversions: 1,
        ..patient()
    })
    .await;
    let body = review(1, 0);

    // The first request holds the only slot: the server asks for its body (`100 Continue` is
    // sent when the body is first read, which is after the slot is taken), and gets it later.
    let mut first = connect(server.addr, &server.ca_pem).await.unwrap();
    let expect = "Expect: 100-continue\r\n";
    first
        .write_all(head("POST", "/convert", body.len(), expect).as_bytes())
        .await
        .unwrap();
    let (status, _) = within("100 Continue", read_response(&mut first))
        .await
        .unwrap();
    assert_eq!(status, 100);

    let mut second = connect(server.addr, &server.ca_pem).await.unwrap();
    second
        .write_all(head("POST", "/convert", body.len(), "").as_bytes())
        .await
        .unwrap();
    second.write_all(body.as_bytes()).await.unwrap();
    let mut second = tokio::spawn(async move { read_response(&mut second).await });
    assert!(
        tokio::time::timeout(QUIET, &mut second).await.is_err(),
        "a second conversion ran while the first held the only slot"
    );

    first.write_all(body.as_bytes()).await.unwrap();
    let (status, _) = within("first answer", read_response(&mut first))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = within("second answer", second).await.unwrap().unwrap();
    assert_eq!(status, 200);
}

/// A connection whose client receives into a small buffer, so that a large response stalls
/// as soon as the client stops reading.
async fn slow_reader(server: &super::test_client::Running) -> TlsStream<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr).await.unwrap();
    tls(tcp, &server.ca_pem).await.unwrap()
}

/// A review whose response (about 12 MiB: each object comes back with its pad twice, once in
/// the stash) is far beyond what the socket buffers hold.
fn large_review() -> String {
    review(6, 1 << 20)
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_dropped() {
    let server = start_with(Limits {
        max_connections: 1,
        write_timeout: SHORT,
        ..patient()
    })
    .await;
    let body = large_review();
    let mut stalled = slow_reader(&server).await;
    stalled
        .write_all(head("POST", "/convert", body.len(), "").as_bytes())
        .await
        .unwrap();
    stalled.write_all(body.as_bytes()).await.unwrap();

    // The only connection slot is free again once the stalled one is dropped.
    let mut next = within(
        "a connection served after the stalled one",
        connect(server.addr, &server.ca_pem),
    )
    .await
    .unwrap();
    next.write_all(head("GET", "/healthz", 0, "").as_bytes())
        .await
        .unwrap();
    let (status, _) = within("health answer", read_response(&mut next))
        .await
        .unwrap();
    assert_eq!(status, 200);
    drop(stalled);
}

#[tokio::test]
async fn a_conversion_slot_is_held_until_its_response_is_taken() {
    let server = start_with(Limits {
        max_concurrent_conversions: 1,
        ..patient()
    })
    .await;
    let large = large_review();
    let mut first = slow_reader(&server).await;
    // `100 Continue` first, so the first request has the slot before the second arrives.
    first
        .write_all(head("POST", "/convert", large.len(), "Expect: 100-continue\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(
        within("100 Continue", read_head(&mut first))
            .await
            .unwrap()
            .0,
        100
    );
    first.write_all(large.as_bytes()).await.unwrap();
    // Its head has arrived, so it is converted and its body is stuck behind the client.
    assert_eq!(
        within("first answer", read_head(&mut first))
            .await
            .unwrap()
            .0,
        200
    );

    let small = review(1, 0);
    let mut second = connect(server.addr, &server.ca_pem).await.unwrap();
    second
        .write_all(head("POST", "/convert", small.len(), "").as_bytes())
        .await
        .unwrap();
    second.write_all(small.as_bytes()).await.unwrap();
    let mut second = tokio::spawn(async move { read_response(&mut second).await });
    assert!(
        tokio::time::timeout(QUIET, &mut second).await.is_err(),
        "a second conversion ran while the first response was still held in memory"
    );

    // Gone, the first client takes its response with it, and the slot is free.
    drop(first);
    let (status, _) = within("second answer", second).await.unwrap().unwrap();
    assert_eq!(status, 200);
}
