//! moat-record: learn the policy a program needs by running it.
//!
//! What it does: runs a command under a seccomp filter that hands every call of every thread,
//! fork and exec to this process through user notification and lets it continue
//! (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`, see [`run::record`]); counts each (ABI, number) and
//! keeps the values of the arguments policies condition on ([`recording::watched`]: clone and
//! unshare flags, socket domains, personality, ioctl requests, prctl options, fcntl commands,
//! mmap and mprotect permissions, open access modes); generalises those values into conditions
//! and writes an allow-list policy in moat's language ([`Profile`]), or only what a base
//! profile would deny; merges several recorded policies; and writes call counts as weights.
//!
//! What it does not do: it reads no memory of the recorded program (arguments behind pointers,
//! such as paths or `clone3`'s flags, are not seen), compiles and installs no policy (that is
//! `moat-compile` and `moat-sys`), and cannot record programs that install a seccomp listener
//! themselves (the kernel allows one listener per filter chain).
//!
//! ```no_run
//! use std::ffi::OsString;
//! use moat_record::{Options, Profile, run::record};
//!
//! let argv: Vec<OsString> = vec!["true".into()];
//! let outcome = record(&argv, None, None, |_| {})?;
//! let text = Profile::from_recording(&outcome.recording, &Options::default()).to_text();
//! assert!(text.contains("allow execve"));
//! # Ok::<(), moat_record::run::RecordError>(())
//! ```

#![deny(missing_docs)]

pub mod profile;
pub mod recording;
pub mod run;

pub use profile::{Allowance, Alt, MergeError, Options, Profile, When};
pub use recording::{Recording, Seen, Shape, Values};
pub use run::{Outcome, Progress, RecordError, record};
