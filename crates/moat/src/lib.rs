//! moat: Linux seccomp made usable.
//!
//! This facade re-exports the workspace's library crates, so an application depends on one crate.

pub use moat_bpf as bpf;
pub use moat_compile as compile;
pub use moat_policy as policy;
pub use moat_record as record;
pub use moat_runtime as runtime;
pub use moat_syscalls as syscalls;
pub use moat_sys as sys;

pub mod sandbox;
pub use sandbox::{Builder, Sandbox};
