//! The webhook server on a loopback port and a raw HTTP/1.1-over-TLS client for its tests, raw
//! so that tests can misbehave (stop mid-request, never read) the way a real client would not.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{Limits, ServeError, Server, self_signed};

/// A running server on a loopback port and the CA that signed its certificate; stopped on drop.
pub struct Running {
    pub addr: SocketAddr,
    pub ca_pem: String,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start() -> Running {
    start_with(Limits::default()).await
}

pub async fn start_with(limits: Limits) -> Running {
    let (ca_pem, cert_pem, key_pem) = self_signed(&["localhost".to_owned()]).unwrap();
    let server = Server::bind(([127, 0, 0, 1], 0).into(), &cert_pem, &key_pem)
        .await
        .unwrap()
        .with_limits(limits);
    let addr = server.local_addr().unwrap();
    let task = tokio::spawn(server.run());
    Running { addr, ca_pem, task }
}

/// A TLS client trusting only `ca_pem`.
pub fn connector(ca_pem: &str) -> TlsConnector {
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

/// TLS over `tcp`, verifying the server as `localhost` against `ca_pem`.
pub async fn tls(tcp: TcpStream, ca_pem: &str) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").unwrap();
    connector(ca_pem).connect(name, tcp).await
}

/// A TLS connection to the server at `addr`.
pub async fn connect(addr: SocketAddr, ca_pem: &str) -> std::io::Result<TlsStream<TcpStream>> {
    tls(TcpStream::connect(addr).await?, ca_pem).await
}

/// A request head with `Content-Length: length` and any `extra` header lines.
pub fn head(method: &str, path: &str, length: usize, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n{extra}\r\n"
    )
}

/// Sends one request on a new connection (closed after it) and returns the status code and
/// body.
pub async fn request(
    addr: SocketAddr,
    ca_pem: &str,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut tls = connect(addr, ca_pem).await?;
    let head = head(method, path, body.len(), "Connection: close\r\n");
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body.as_bytes()).await?;
    read_response(&mut tls).await
}

/// Reads one response (or an interim `100 Continue`) without waiting for the connection to
/// close, and returns its status code and body.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(u16, String)> {
    let (status, length) = read_head(stream).await?;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok((status, String::from_utf8(body).unwrap()))
}

/// Reads a response's head only, and returns its status code and `Content-Length` (0 if none).
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(u16, usize)> {
    // Byte by byte, so nothing after the head is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await?);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    Ok((status, length))
}

/// Returns once the server has closed the connection (end of stream or an error), discarding
/// anything it sent before.
pub async fn closed<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let mut sink = [0; 4096];
    while let Ok(1..) = stream.read(&mut sink).await {}
}
