//! temporary
pub mod cidr;
pub mod decide;
pub mod notes;
pub mod peers;
pub mod policy;
pub mod ports;
pub mod render;
pub mod selector;
pub mod snapshot;
