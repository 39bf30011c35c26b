//! What the webhook server accepts from one client and from all of them at once.
//!
//! The webhook listens on a Pod port that anything on the cluster network can reach, and TLS
//! here does not authenticate clients. Every way a client can hold server resources therefore
//! has a bound: each phase of a connection has a deadline, and the number of connections and of
//! conversions in progress is capped, so a slow or hostile client costs at most one slot for a
//! bounded time, and memory stays bounded by `max_concurrent_conversions × max_body_bytes`
//! (times the few copies one conversion makes), plus one write buffer (hyper's, some hundreds
//! of KiB) per connection.

use std::time::Duration;

/// The server's bounds. [`Limits::default`] is what the controller runs with; tests shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (at least 1). The server takes a slot *before* it calls
    /// `accept`, so connections beyond the limit wait, TCP-connected, in the kernel's listen
    /// backlog and are served as soon as a slot frees, instead of being closed: a closed
    /// connection fails the API server's conversion at once, while a short burst that waits is
    /// only delayed. The wait is bounded on both sides: every slot frees within bounded time
    /// (idle connections close after `header_read_timeout`), and the API server's webhook
    /// client (client-go's transport) gives up on a TLS handshake after 10 s; a connection it
    /// abandoned in the backlog fails its handshake at once when it is finally accepted.
    ///
    /// Default 256: the API server talks to webhooks over HTTP/1.1 only, so it converts one
    /// review per connection, and its client keeps up to 25 idle connections per webhook host
    /// and API server instance; 256 leaves room for several API servers' pools. An idle TLS
    /// connection costs a task and some tens of KiB of buffers, so 256 of them are cheap; the
    /// memory that matters is bounded by `max_concurrent_conversions` instead.
    pub max_connections: usize,
    /// Conversions in progress at once (at least 1), from reading the body until hyper has
    /// taken the response; further requests wait for a slot, within `request_timeout`, before
    /// their body is read. A conversion holds several copies of its body (the bytes, the parsed
    /// JSON, the converted objects with their stash annotations, the response, about twice the
    /// request), so this, not the connection limit, is what bounds memory. Default 8:
    /// conversions are CPU-bound and run on blocking threads, so more at once than a few per
    /// core would not finish sooner.
    pub max_concurrent_conversions: usize,
    /// Largest request body accepted; larger ones get `413`.
    ///
    /// Default 16 MiB. The API server sends one object per review for a read, a write or a
    /// watch event, and that object is at most its ~3 MiB request limit (and, stored, etcd's
    /// 1.5 MiB value limit). A list response is converted in one review, so the bound is really
    /// about lists: 16 MiB holds five objects at the request limit, or a 500-item page (the
    /// usual page size of kubectl and client-go) of objects averaging 32 KiB, several times a
    /// typical Sandbox. A larger list fails its conversion with `413` rather than taking the
    /// controller's memory; its client can ask for smaller pages. The previous 64 MiB, times the
    /// copies one conversion makes, was many times the Pod's whole memory request.
    pub max_body_bytes: usize,
    /// A client that has not finished its TLS handshake by then is dropped (default 10 s; a
    /// handshake is a couple of round trips).
    pub handshake_timeout: Duration,
    /// A client that has not sent a request's headers this long after the connection became
    /// ready, or after the previous response, is dropped. hyper restarts this timer whenever a
    /// keep-alive connection goes idle, so this is also the idle keep-alive timeout; hyper's
    /// HTTP/1 server has no separate one. Default 30 s, below the 90 s after which Go's client
    /// closes idle connections itself, so the server is the side that closes them; Go's
    /// transport sees the close and dials afresh for its next request.
    pub header_read_timeout: Duration,
    /// A request whose body has not fully arrived this long after the server started reading
    /// it gets `408` and the connection is closed. Default 10 s: the API server sends the body
    /// right after the headers, and `max_body_bytes` needs well under a second on a cluster
    /// network.
    pub body_read_timeout: Duration,
    /// A request not answered this long after its headers arrived (waiting for a conversion
    /// slot, reading the body and converting, together) gets `503` and the connection is
    /// closed. The API server's call to the webhook carries no deadline of its own (its
    /// converter uses an unbounded context), so this is what bounds it. Default 30 s: the
    /// client request the conversion serves is given up after the API server's
    /// `--request-timeout` (60 s by default), so a later answer is of little use to anyone.
    pub request_timeout: Duration,
    /// A write to the client that makes no progress for this long (a client that stopped
    /// reading its response) drops the connection. Without it such a client would hold its
    /// connection slot for ever, since the other deadlines end once the response is written.
    /// Default 10 s.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_concurrent_conversions: 8,
            max_body_bytes: 16 << 20,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
        }
    }
}
