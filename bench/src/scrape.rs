//! `/metrics` before and after the load: the controller's own metrics and the API server's
//! request counts, kept as deltas so a report says what the run cost, not what the process
//! did since it started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One scrape: series (`name{labels}` as written) → value.
pub type Samples = BTreeMap<String, f64>;

/// Parses the Prometheus text format; comments, blank lines and unparsable values are
/// skipped (a scrape is evidence, not input the run depends on).
pub fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The value follows the series; labels may contain spaces, so split after `}`.
        let (series, rest) = match line.rfind('}') {
            Some(end) => (&line[..=end], &line[end + 1..]),
            None => match line.split_once(' ') {
                Some((series, rest)) => (series, rest),
                None => continue,
            },
        };
        let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) else {
            continue;
        };
        samples.insert(series.to_string(), value);
    }
    samples
}

/// The metric name of a series.
pub fn name(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

/// The value of label `key` in a series, if present.
pub fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    let labels = series.split_once('{')?.1.strip_suffix('}')?;
    let needle = format!("{key}=\"");
    let mut rest = labels;
    loop {
        let at = rest.find(&needle)?;
        // Only at the start of a label, not inside another label's name.
        if at == 0 || rest.as_bytes()[at - 1] == b',' {
            let value = &rest[at + needle.len()..];
            return value.find('"').map(|end| &value[..end]);
        }
        rest = &rest[at + needle.len()..];
    }
}

/// Counter-like series (`_total`, `_count`, `_sum`) of the metrics `keep` accepts that moved
/// between the two scrapes, with how much. Buckets are left out: the harness measures latency
/// itself, and bucket deltas would swamp the report.
pub fn counter_deltas(before: &Samples, after: &Samples, keep: impl Fn(&str) -> bool) -> Samples {
    after
        .iter()
        .filter(|(series, _)| {
            let n = name(series);
            (n.ends_with("_total") || n.ends_with("_count") || n.ends_with("_sum")) && keep(n)
        })
        .filter_map(|(series, value)| {
            let delta = value - before.get(series).copied().unwrap_or(0.0);
            (delta != 0.0).then(|| (series.clone(), delta))
        })
        .collect()
}

/// API server requests during the run by `VERB resource[/subresource] code`, from
/// `apiserver_request_total`: the subresource tells a claim's status patch from its spec, the
/// scheduler's `pods/binding` from a Pod's create and kwok's `pods/status` from a label
/// patch; the code shows conflicts (409) and throttling (429).
pub fn apiserver_requests(before: &Samples, after: &Samples) -> BTreeMap<String, f64> {
    let mut by = BTreeMap::new();
    for (series, delta) in counter_deltas(before, after, |n| n == "apiserver_request_total") {
        let verb = label(&series, "verb").unwrap_or("?");
        let resource = label(&series, "resource").unwrap_or("?");
        let code = label(&series, "code").unwrap_or("?");
        let key = match label(&series, "subresource").filter(|s| !s.is_empty()) {
            Some(sub) => format!("{verb} {resource}/{sub} {code}"),
            None => format!("{verb} {resource} {code}"),
        };
        *by.entry(key).or_insert(0.0) += delta;
    }
    by
}

/// Whether an [`apiserver_requests`] key counts a write (POST, PUT, PATCH, DELETE).
pub fn is_write(key: &str) -> bool {
    matches!(
        key.split_whitespace().next(),
        Some("POST" | "PUT" | "PATCH" | "DELETE")
    )
}

/// What a run (or a window of it) cost per claim, from its metrics as `results.json` keeps
/// them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerClaim {
    /// CPU seconds by process.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// API writes (POST, PUT, PATCH, DELETE, by every client); `None` without API server
    /// readings.
    pub writes: Option<f64>,
    /// The same writes by `VERB resource[/subresource]`, every response code together.
    pub writes_by_request: BTreeMap<String, f64>,
}

/// The cost per claim of the window whose metrics these are.
pub fn per_claim(metrics: &BTreeMap<String, serde_json::Value>, claims: u64) -> PerClaim {
    let claims = claims.max(1) as f64;
    let cpu_seconds = metrics
        .get("processes")
        .and_then(|p| p.as_object())
        .map(|processes| {
            processes
                .iter()
                .filter_map(|(name, used)| {
                    Some((name.clone(), used["cpu_seconds"].as_f64()? / claims))
                })
                .collect()
        })
        .unwrap_or_default();
    let requests = metrics
        .get("apiserver_requests")
        .and_then(|r| r.as_object());
    let mut writes_by_request = BTreeMap::new();
    for (key, n) in requests.into_iter().flatten() {
        if let (true, Some(n)) = (is_write(key), n.as_f64()) {
            // The key ends with the response code.
            let request = key.rsplit_once(' ').map_or(key.as_str(), |(r, _)| r);
            *writes_by_request.entry(request.to_string()).or_insert(0.0) += n / claims;
        }
    }
    PerClaim {
        cpu_seconds,
        writes: requests.map(|_| writes_by_request.values().sum()),
        writes_by_request,
    }
}

/// `GET /metrics` over plain HTTP from a loopback address (the controller's endpoint).
pub async fn http_metrics(addr: SocketAddr) -> std::io::Result<String> {
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 10s"))??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let ok = head.starts_with("HTTP/1.") && head.split_whitespace().nth(1) == Some("200");
    if !ok {
        let status = head.lines().next().unwrap_or("");
        return Err(std::io::Error::other(format!(
            "{addr}/metrics answered {status:?}"
        )));
    }
    Ok(body.to_string())
}

/// `GET /metrics` from the API server, with the harness's credentials.
pub async fn apiserver_metrics(client: &kube::Client) -> Result<String, kube::Error> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="sandboxclaims",verb="POST"} 10
apiserver_request_total{code="200",resource="sandboxes",verb="PUT"} 4
apiserver_request_total{code="409",resource="sandboxes",verb="PUT"} 1
agent_sandbox_claim_startup_latency_ms_bucket{le="10"} 3
agent_sandbox_claim_startup_latency_ms_count 3
process_resident_memory_bytes 1.2e+07
"#;

    const AFTER: &str = r#"apiserver_request_total{code="201",resource="sandboxclaims",verb="POST"} 60
apiserver_request_total{code="200",resource="sandboxes",verb="PUT"} 54
apiserver_request_total{code="409",resource="sandboxes",verb="PUT"} 3
apiserver_request_total{code="200",resource="pods",verb="LIST",subresource=""} 2
apiserver_request_total{code="200",resource="sandboxclaims",subresource="status",verb="PATCH"} 50
agent_sandbox_claim_startup_latency_ms_bucket{le="10"} 40
agent_sandbox_claim_startup_latency_ms_count 53
process_resident_memory_bytes 2.5e+07
broken_line{a="b"} not-a-number
"#;

    #[test]
    fn series_and_values_are_parsed_and_junk_is_skipped() {
        let s = parse(AFTER);
        assert_eq!(s["process_resident_memory_bytes"], 2.5e7);
        assert_eq!(
            s[r#"apiserver_request_total{code="409",resource="sandboxes",verb="PUT"}"#],
            3.0
        );
        assert!(!s.keys().any(|k| k.starts_with("broken_line")));
        assert_eq!(s.len(), 8);
    }

    #[test]
    fn labels_are_found_by_exact_name() {
        let series = r#"x{subresource="status",resource="pods",verb="GET"}"#;
        assert_eq!(label(series, "resource"), Some("pods"));
        assert_eq!(label(series, "verb"), Some("GET"));
        assert_eq!(label(series, "source"), None);
        assert_eq!(label("x", "verb"), None);
    }

    #[test]
    fn deltas_keep_counters_that_moved_and_drop_buckets_and_gauges() {
        let d = counter_deltas(&parse(BEFORE), &parse(AFTER), |n| n.starts_with("agent_"));
        assert_eq!(
            d.into_iter().collect::<Vec<_>>(),
            [(
                "agent_sandbox_claim_startup_latency_ms_count".to_string(),
                50.0
            )]
        );
    }

    #[test]
    fn api_server_requests_are_summed_by_verb_resource_and_subresource() {
        let by = apiserver_requests(&parse(BEFORE), &parse(AFTER));
        assert_eq!(by["POST sandboxclaims 201"], 50.0);
        assert_eq!(by["PUT sandboxes 200"], 50.0);
        assert_eq!(by["PUT sandboxes 409"], 2.0);
        assert_eq!(by["LIST pods 200"], 2.0);
        assert_eq!(by["PATCH sandboxclaims/status 200"], 50.0);
        let writes: Vec<&str> = by
            .keys()
            .map(String::as_str)
            .filter(|k| is_write(k))
            .collect();
        assert_eq!(
            writes,
            [
                "PATCH sandboxclaims/status 200",
                "POST sandboxclaims 201",
                "PUT sandboxes 200",
                "PUT sandboxes 409"
            ]
        );
    }

    #[test]
    fn the_cost_per_claim_sums_writes_by_request_over_response_codes() {
        let metrics: BTreeMap<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
            "processes": {"kube-apiserver": {"cpu_seconds": 5.0}, "controller": {"cpu_seconds": 1.0}},
            "apiserver_requests": apiserver_requests(&parse(BEFORE), &parse(AFTER)),
        }))
        .unwrap();
        let cost = per_claim(&metrics, 50);
        assert_eq!(cost.cpu_seconds["kube-apiserver"], 0.1);
        assert_eq!(cost.cpu_seconds["controller"], 0.02);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let by: Vec<(&str, f64)> = cost
            .writes_by_request
            .iter()
            .map(|(request, n)| (request.as_str(), *n))
            .collect();
        let expected = [
            ("PATCH sandboxclaims/status", 1.0),
            ("POST sandboxclaims", 1.0),
            ("PUT sandboxes", 1.04),
        ];
        assert_eq!(by.len(), expected.len(), "{by:?}");
        for ((request, n), (want, w)) in by.iter().zip(expected) {
            assert!(*request == want && close(*n, w), "{by:?}");
        }
        assert!(cost.writes.is_some_and(|w| close(w, 3.04)), "{cost:?}");
        // Without the API server's readings there is no write count, not a count of zero.
        let cost = per_claim(&BTreeMap::new(), 50);
        assert_eq!((cost.writes, cost.writes_by_request.len()), (None, 0));
    }

    #[tokio::test]
    async fn the_controller_endpoint_is_read_over_http_and_errors_name_the_status() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for body in [
                "HTTP/1.0 200 OK\r\n\r\nup 1\n",
                "HTTP/1.0 404 Not Found\r\n\r\n",
            ] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await.unwrap();
                socket.write_all(body.as_bytes()).await.unwrap();
            }
        });
        assert_eq!(http_metrics(addr).await.unwrap(), "up 1\n");
        let err = http_metrics(addr).await.unwrap_err().to_string();
        assert!(err.contains("404 Not Found"), "{err}");
        server.await.unwrap();
    }
}
