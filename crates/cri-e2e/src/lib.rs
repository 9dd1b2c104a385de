//! Test-only: moat-runc behind a real containerd, driven over the CRI as the kubelet drives it.
//!
//! - [`daemon`]: a containerd of the test's own (configuration, root, state and sockets in a
//!   temporary directory), with the `moat` runtime handler from
//!   `deploy/kubernetes/containerd.toml` and the same handler (`moat-installed`) for the
//!   moat-runc `moat node install` puts into the test's host root; stopped by its pid on drop.
//! - [`image`]: images built in the test (a busybox-static root file system with the probe, and
//!   a pause image), written as docker archives for `ctr images import`.
//! - [`cri`]: a blocking client for the CRI's `runtime.v1` API over the Unix socket.
//! - [`suite`]: the three together, the kubelet's pod and container configurations, and the
//!   probe (`helpers/probe.c`) that reports, inside the container, the errno of each call it
//!   makes and the `Seccomp:` line of `/proc/self/status`.
//! - [`harness`]: the test binary's runner: one daemon for every case, cases one after the
//!   other (they rewrite the one node configuration moat-runc reads), each with runc and with
//!   crun as the node's runtime, libtest's output.
//!
//! Needs root, containerd 1.6 (`containerd`, `ctr`, `containerd-shim-runc-v2`), runc, crun,
//! gcc (the probe is built static) and busybox-static; under `CI=true` a missing one fails the
//! run naming it. The moat under test is `target/<profile>/moat`, built first when cargo runs
//! the test.

#![deny(missing_docs)]

pub mod cri;
pub mod daemon;
pub mod harness;
pub mod image;
pub mod suite;

pub use suite::{ContainerSpec, Pod, PodSpec, Probe, Profile, Runtime, Suite};

/// Why a step of the test setup or a CRI call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A tool exited unsuccessfully.
    #[error("{command} failed: {output}")]
    Tool {
        /// The command line.
        command: String,
        /// Its standard error.
        output: String,
    },
    /// containerd did not come up or did not do what was waited for.
    #[error("{0}")]
    Daemon(String),
    /// A CRI call returned an error status.
    #[error("{call}: {}", .status.message())]
    Rpc {
        /// The CRI method.
        call: String,
        /// The gRPC status (its message is what the kubelet would show in the pod's events).
        status: Box<tonic::Status>,
    },
}

impl Error {
    /// The gRPC status message of a failed CRI call.
    pub fn rpc_message(&self) -> Option<&str> {
        match self {
            Error::Rpc { status, .. } => Some(status.message()),
            _ => None,
        }
    }
}
