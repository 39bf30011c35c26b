//! Turns an HTTP request line into what the serve mode should do. Pure, so every branch is
//! tested without a socket; [`crate::serve`] does the I/O around it.

use crate::report::ReportRequest;

/// What a well-formed request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Report(ReportRequest),
}

/// Why a request is refused; each maps to one HTTP status in [`RequestError::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Not `METHOD TARGET HTTP/x`: 400.
    Malformed(String),
    /// A known path asked for with another method than GET: 405.
    MethodNotAllowed(String),
    /// No such path: 404.
    NotFound(String),
    /// The path exists but its query does not make sense: 400.
    BadQuery(String),
}

impl RequestError {
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Malformed(_) | RequestError::BadQuery(_) => 400,
            RequestError::MethodNotAllowed(_) => 405,
            RequestError::NotFound(_) => 404,
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Malformed(why) => write!(f, "malformed request line: {why}"),
            RequestError::MethodNotAllowed(m) => write!(f, "method {m} not allowed: use GET"),
            RequestError::NotFound(p) => write!(f, "no route {p}: try /healthz or /report"),
            RequestError::BadQuery(why) => write!(f, "bad query: {why}"),
        }
    }
}

/// Parses a request line such as `GET /report?connect=10.96.0.1%3A443 HTTP/1.1`.
pub fn parse_request_line(line: &str) -> Result<Route, RequestError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed(format!("{line:?}")));
    };
    if !version.starts_with("HTTP/") {
        return Err(RequestError::Malformed(format!("version {version:?}")));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/healthz" && path != "/report" {
        return Err(RequestError::NotFound(path.to_string()));
    }
    if method != "GET" {
        return Err(RequestError::MethodNotAllowed(method.to_string()));
    }
    if path == "/healthz" {
        return Ok(Route::Healthz);
    }
    parse_report_query(query).map(Route::Report)
}

/// The `/report` query: `connect` and `path` may repeat; each node fact may be given once.
/// Unknown keys are refused so that a misspelt check is not silently skipped.
fn parse_report_query(query: &str) -> Result<ReportRequest, RequestError> {
    let mut request = ReportRequest::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        let value = percent_decode(value)?;
        if value.is_empty() {
            return Err(RequestError::BadQuery(format!("{key} has no value")));
        }
        let once = |slot: &mut String| {
            if slot.is_empty() {
                *slot = value.clone();
                Ok(())
            } else {
                Err(RequestError::BadQuery(format!("{key} given twice")))
            }
        };
        match key.as_str() {
            "connect" => request.connect.push(value),
            "path" => request.paths.push(value),
            "node_kernel_release" => once(&mut request.node.kernel_release)?,
            "node_boot_id" => once(&mut request.node.boot_id)?,
            _ => return Err(RequestError::BadQuery(format!("unknown parameter {key}"))),
        }
    }
    Ok(request)
}

/// Decodes `%XX` escapes and `+` (a space, as form encoding writes it, which is what HTTP
/// clients' query builders produce); the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, RequestError> {
    let bad = || RequestError::BadQuery(format!("bad percent escape in {text:?}"));
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = rest.get(..2).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                rest = &rest[2..];
            }
            _ => bytes.push(b),
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| RequestError::BadQuery(format!("{text:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(line: &str) -> ReportRequest {
        match parse_request_line(line) {
            Ok(Route::Report(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn healthz_is_a_route_of_its_own() {
        assert_eq!(
            parse_request_line("GET /healthz HTTP/1.1"),
            Ok(Route::Healthz)
        );
    }

    #[test]
    fn a_full_report_query_is_decoded() {
        let r = report(
            "GET /report?connect=10.96.0.1%3A443&path=%2Fvar%2Frun%2Fsecrets\
             &node_kernel_release=6.18.44-fc&node_boot_id=b2a2d101 HTTP/1.1",
        );
        assert_eq!(r.connect, ["10.96.0.1:443"]);
        assert_eq!(r.paths, ["/var/run/secrets"]);
        assert_eq!(r.node.kernel_release, "6.18.44-fc");
        assert_eq!(r.node.boot_id, "b2a2d101");
    }

    #[test]
    fn a_report_without_query_asks_only_for_facts() {
        assert_eq!(report("GET /report HTTP/1.1"), ReportRequest::default());
        assert_eq!(report("GET /report? HTTP/1.0"), ReportRequest::default());
    }

    #[test]
    fn connect_and_path_repeat_in_order_but_node_facts_do_not() {
        let r =
            report("GET /report?connect=127.0.0.1:1&path=/a+b&connect=[::1]:80&path=/c HTTP/1.1");
        assert_eq!(r.connect, ["127.0.0.1:1", "[::1]:80"]);
        assert_eq!(r.paths, ["/a b", "/c"]);
        let twice = parse_request_line("GET /report?node_boot_id=a&node_boot_id=b HTTP/1.1");
        assert!(
            matches!(&twice, Err(RequestError::BadQuery(m)) if m.contains("twice")),
            "{twice:?}"
        );
    }

    #[test]
    fn bad_percent_escapes_and_non_utf8_are_bad_queries() {
        for line in [
            "GET /report?path=%2 HTTP/1.1",
            "GET /report?path=%zz HTTP/1.1",
            "GET /report?path=%%41 HTTP/1.1",
            "GET /report?path=%ff HTTP/1.1",
        ] {
            let e = parse_request_line(line).expect_err(line);
            assert_eq!(e.status(), 400, "{line}: {e}");
            assert!(matches!(e, RequestError::BadQuery(_)), "{line}: {e:?}");
        }
    }

    #[test]
    fn unknown_or_empty_parameters_are_bad_queries() {
        let misspelt = parse_request_line("GET /report?conect=1.2.3.4:5 HTTP/1.1");
        assert_eq!(
            misspelt,
            Err(RequestError::BadQuery("unknown parameter conect".into()))
        );
        let empty = parse_request_line("GET /report?path= HTTP/1.1");
        assert_eq!(
            empty,
            Err(RequestError::BadQuery("path has no value".into()))
        );
    }

    #[test]
    fn unknown_paths_are_not_found_and_other_methods_not_allowed() {
        let e = parse_request_line("GET /metrics HTTP/1.1").expect_err("no such route");
        assert_eq!(
            (e.status(), e),
            (404, RequestError::NotFound("/metrics".into()))
        );
        // The query is not consulted for a path that does not exist.
        let e = parse_request_line("GET /?x=%zz HTTP/1.1").expect_err("no such route");
        assert_eq!(e.status(), 404);
        let e = parse_request_line("POST /report HTTP/1.1").expect_err("GET only");
        assert_eq!(
            (e.status(), e),
            (405, RequestError::MethodNotAllowed("POST".into()))
        );
    }

    #[test]
    fn a_line_that_is_not_http_is_malformed() {
        for line in [
            "",
            "GET /healthz",
            "GET /healthz HTTP/1.1 extra",
            "GET /healthz SPDY/3",
        ] {
            let e = parse_request_line(line).expect_err(line);
            assert_eq!(e.status(), 400, "{line}");
            assert!(matches!(e, RequestError::Malformed(_)), "{line}: {e:?}");
        }
    }
}
