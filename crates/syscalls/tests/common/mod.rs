//! Shared by the header cross-checks (`headers.rs`, `cross_headers.rs`).

use std::collections::BTreeMap;

use moat_syscalls::{Arch, KernelVersion};

/// Checks moat's table for `arch` against `header` (name to number, from Linux 6.1 UAPI
/// headers): every header entry is in the table with the same number, and every table entry
/// the 6.1 kernel already had is in the header, while later ones are not.
pub fn compare(arch: Arch, header: &BTreeMap<String, u32>) {
    for (name, nr) in header {
        let ours = arch
            .by_name(name)
            .unwrap_or_else(|| panic!("{arch}: {name} ({nr}) missing"));
        assert_eq!(ours.nr, *nr, "{arch}: {name}");
    }
    let v6_1 = KernelVersion::new(6, 1);
    for s in arch.syscalls() {
        if s.since <= v6_1 {
            assert_eq!(
                header.get(s.name),
                Some(&s.nr),
                "{arch}: {} (since {})",
                s.name,
                s.since
            );
        } else {
            assert!(
                !header.contains_key(s.name),
                "{arch}: {} is in 6.1 but since {}",
                s.name,
                s.since
            );
        }
    }
}
