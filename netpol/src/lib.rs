//! `sandbox-netpol`: enforces Kubernetes NetworkPolicy (networking.k8s.io/v1) for the pods
//! of one node with iptables, for the local test cluster whose kernel lacks the nftables
//! `queue` expression that kube-network-policies needs.
//!
//! The work is split so that everything that decides is pure:
//! - [`snapshot`] reduces watched objects to the fields policies read;
//! - [`selector`], [`policy`], [`peers`] and [`ports`] implement the API's semantics;
//! - [`decide`] says, per enforced pod and direction, which (peer, ports) pairs are allowed;
//! - [`render`] turns that into `iptables-restore` input for the `filter` table.
//!
//! The rest does I/O: [`watch`] keeps reflector caches, [`enforce`] applies on change,
//! [`iptables`] runs the programs, [`sysctl`] lets bridged traffic reach iptables.

pub mod cidr;
pub mod decide;
pub mod enforce;
pub mod flags;
pub mod iptables;
pub mod notes;
pub mod peers;
pub mod policy;
pub mod ports;
pub mod render;
pub mod selector;
pub mod snapshot;
pub mod sysctl;
pub mod watch;
