//! Free loopback ports for one cluster's components.
//!
//! All listeners of a cluster are bound at once (so the kernel hands out distinct ports) and
//! released just before the components start. Two clusters started side by side therefore get
//! disjoint ports; the remaining window between release and a component's own bind is closed
//! in practice by the kernel's ephemeral-port rotation, and a component that still loses the
//! race exits early with its log, which `up` reports.

use std::net::{Ipv4Addr, TcpListener};

use serde::{Deserialize, Serialize};

/// The ports one local cluster listens on, all on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub etcd_client: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
    pub controller_manager: u16,
    pub scheduler: u16,
}

impl Ports {
    pub fn allocate() -> std::io::Result<Self> {
        let listeners = (0..5)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let port = |i: usize| listeners[i].local_addr().map(|a| a.port());
        Ok(Self {
            etcd_client: port(0)?,
            etcd_peer: port(1)?,
            apiserver: port(2)?,
            controller_manager: port(3)?,
            scheduler: port(4)?,
        })
    }

    pub fn all(&self) -> [u16; 5] {
        [
            self.etcd_client,
            self.etcd_peer,
            self.apiserver,
            self.controller_manager,
            self.scheduler,
        ]
    }
}

/// Whether anything accepts connections on `127.0.0.1:port`.
pub fn is_listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        std::time::Duration::from_millis(200),
    )
    .is_ok()
}

/// One free port on loopback, for a component started after the others (the real node's
/// kubelet); the same release-then-bind window as [`Ports::allocate`] applies.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_cluster_gets_five_distinct_nonzero_ports() {
        let ports = Ports::allocate().unwrap();
        let distinct: HashSet<u16> = ports.all().into_iter().collect();
        assert_eq!(distinct.len(), 5, "{ports:?}");
        assert!(!distinct.contains(&0));
    }
}
