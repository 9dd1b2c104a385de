//! Kernel versions (major.minor), as used for "introduced in".

use std::fmt;
use std::str::FromStr;

/// A Linux kernel version, major and minor only (`5.10`).
///
/// As the `since` of a [`crate::Syscall`] it is the first release whose table has the syscall
/// on that ABI. Versions at an ABI's floor (3.0 for most, 3.4 for x32, 3.7 for aarch64, 4.15 for
/// riscv64, 5.19 for loongarch64) mean "that release or earlier".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// The major number (`5` in 5.10).
    pub major: u16,
    /// The minor number (`10` in 5.10).
    pub minor: u16,
}

impl KernelVersion {
    /// The version `major.minor`.
    pub const fn new(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Text that is not a kernel version (`MAJOR.MINOR` or `MAJOR.MINOR.PATCH`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid kernel version `{input}` (expected MAJOR.MINOR, like 5.10)")]
pub struct BadVersion {
    /// The text as given.
    pub input: String,
}

impl FromStr for KernelVersion {
    type Err = BadVersion;

    /// Parses `5.10` or `5.10.3` (the patch level is ignored).
    fn from_str(s: &str) -> Result<KernelVersion, BadVersion> {
        let bad = || BadVersion {
            input: s.to_owned(),
        };
        let mut parts = s.split('.');
        let number = |p: Option<&str>| -> Result<u16, BadVersion> {
            let p = p.ok_or_else(bad)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(KernelVersion { major, minor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!("5.10".parse(), Ok(KernelVersion::new(5, 10)));
        assert_eq!("5.10.3".parse(), Ok(KernelVersion::new(5, 10)));
        assert_eq!(KernelVersion::new(6, 18).to_string(), "6.18");
        for bad in [
            "", "5", "5.", ".1", "5.x", "5.10.3.1", "-1.0", "70000.1", "5.10.", " 5.1",
        ] {
            assert!(bad.parse::<KernelVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ordering_is_numeric() {
        assert!(KernelVersion::new(5, 9) < KernelVersion::new(5, 10));
        assert!(KernelVersion::new(4, 20) < KernelVersion::new(5, 0));
    }
}
