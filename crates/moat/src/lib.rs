//! moat: Linux seccomp made usable.
//!
//! This facade re-exports the workspace's library crates, so an application depends on one crate,
//! and ties them together in [`Sandbox`]: a policy (text, built-in profile or [`Builder`])
//! compiled for the ABIs it accepts and applied to the whole process with its Landlock rules.
//!
//! ```no_run
//! fn main() -> Result<(), moat::sandbox::Error> {
//!     let sandbox = moat::Sandbox::from_text("use container\nfs read /usr /etc\n", "app")?;
//!     sandbox.confine()?; // seccomp on every thread (TSYNC), Landlock on this one
//!     // ... the rest of the program runs confined
//!     Ok(())
//! }
//! ```
//!
//! A runnable version is `crates/moat/examples/sandbox.rs`; `moat run` (docs/run.md) does the same
//! for another program.
//!
//! [`input::open`] reads what a user names on moat's command line (a built-in profile, a file
//! in any policy format, raw BPF or a listing, `-`, `pid:N`) by one rule, with size caps.

pub use moat_analyze as analyze;
pub use moat_bpf as bpf;
pub use moat_compile as compile;
pub use moat_export as export;
pub use moat_io as io;
pub use moat_policy as policy;
pub use moat_record as record;
pub use moat_runtime as runtime;
pub use moat_sys as sys;
pub use moat_syscalls as syscalls;

pub mod input;
pub mod sandbox;
pub use sandbox::{Builder, Sandbox};
