//! The serve mode's HTTP/1.1 server: just enough HTTP for the harness to fetch a report over
//! the Pod IP, on std sockets with a thread per connection, so the static binary carries no
//! async runtime. Every response closes its connection and states its length.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::report;
use crate::request::{Route, parse_request_line};

/// The most of a request head the server reads: a request line with a few dozen targets and
/// paths fits many times over, and a client cannot make a connection's thread hold more.
const MAX_HEAD: usize = 16 * 1024;

/// How long a client may take to send its head or read the answer before its thread gives up.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response before it is written: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// The bytes on the wire; `Connection: close` because the server never reads a second
    /// request on a connection.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Internal Server Error",
        };
        let mut bytes = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

/// The answer to a request line; the report is read only for a well-formed `/report`.
pub fn respond(request_line: &str) -> Response {
    match parse_request_line(request_line) {
        Ok(Route::Healthz) => Response::text(200, "ok"),
        Ok(Route::Report(request)) => match serde_json::to_string(&report::run(&request)) {
            Ok(json) => Response {
                status: 200,
                content_type: "application/json",
                body: json,
            },
            Err(e) => Response::text(500, format!("cannot encode the report: {e}")),
        },
        Err(e) => Response::text(e.status(), e.to_string()),
    }
}

/// Accepts connections for ever, each answered on a thread of its own so a slow check (a
/// silent connect target) does not hold up `/healthz`.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                std::thread::spawn(move || {
                    if let Err(e) = handle(stream) {
                        eprintln!("sandbox-probe: connection: {e}");
                    }
                });
            }
            // A failed accept (a client gone before it was taken, out of descriptors) is the
            // client's loss, not the server's end; the pause keeps an exhausted process from
            // spinning.
            Err(e) => {
                eprintln!("sandbox-probe: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let line = head.lines().next().unwrap_or("");
    stream.write_all(&respond(line).to_bytes())?;
    stream.flush()
}

/// Reads up to the blank line ending the head. The whole head is read, not just the first
/// line, because closing a socket with unread input makes the kernel send a reset, which can
/// reach the client before the response does.
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_state_their_length_and_close() {
        let bytes = Response::text(404, "no route /x").to_bytes();
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 11\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nno route /x"), "{text}");
    }

    #[test]
    fn each_route_gets_its_status_and_type() {
        assert_eq!(respond("GET /healthz HTTP/1.1"), Response::text(200, "ok"));
        let report = respond("GET /report?path=/proc HTTP/1.1");
        assert_eq!(
            (report.status, report.content_type),
            (200, "application/json")
        );
        let json: serde_json::Value = serde_json::from_str(&report.body).expect("json");
        assert_eq!(json["visible_paths"]["/proc"], true, "{json}");
        assert_eq!(respond("GET /nope HTTP/1.1").status, 404);
        let bad = respond("GET /report?path=%g0 HTTP/1.1");
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("bad percent escape"), "{bad:?}");
    }
}
