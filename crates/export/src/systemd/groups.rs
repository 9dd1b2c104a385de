//! systemd's `SystemCallFilter=` groups (`@system-service`, `@mount`, ...) as one systemd
//! version defines them.
//!
//! `data/systemd-groups.txt` is generated from systemd's source (`src/shared/seccomp-util.c`,
//! `syscall_filter_sets`, and `src/basic/syscall-list.txt` for `@known`) by
//! `cargo xtask gen-systemd-groups DIR`; the tests compare it with `systemd-analyze
//! syscall-filter` of the systemd installed on the machine. moat's own groups are a different
//! thing (`moat_syscalls::group`): an imported unit always means what its systemd makes of it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("../../data/systemd-groups.txt");

/// One systemd group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `@system-service`.
    pub name: &'static str,
    /// systemd's one-line description.
    pub help: &'static str,
    /// Syscall names and nested `@groups`, as systemd lists them.
    pub members: Vec<&'static str>,
}

struct Table {
    version: &'static str,
    groups: Vec<Group>,
    by_name: BTreeMap<&'static str, usize>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut version = "";
        let mut groups = Vec::new();
        for line in DATA.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let mut f = line.split('\t');
            let (Some(a), Some(b)) = (f.next(), f.next()) else {
                continue;
            };
            if a == "version" {
                version = b;
                continue;
            }
            groups.push(Group {
                name: a,
                help: b,
                members: f.next().unwrap_or("").split_whitespace().collect(),
            });
        }
        let by_name = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name, i))
            .collect();
        Table {
            version,
            groups,
            by_name,
        }
    })
}

/// The systemd version the groups are those of (`252`).
pub fn version() -> &'static str {
    table().version
}

/// Every group, in systemd's order.
pub fn groups() -> &'static [Group] {
    &table().groups
}

/// The group called `name` (with its `@`).
pub fn group(name: &str) -> Option<&'static Group> {
    let t = table();
    t.by_name.get(name).map(|&i| &t.groups[i])
}

/// The syscall names of a group, nested groups expanded, in systemd's order (duplicates kept
/// out). `None` for an unknown group.
pub fn expand(name: &str) -> Option<Vec<&'static str>> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    walk(group(name)?, &mut out, &mut seen);
    Some(out)
}

fn walk(g: &'static Group, out: &mut Vec<&'static str>, seen: &mut Vec<&'static str>) {
    if seen.contains(&g.name) {
        return;
    }
    seen.push(g.name);
    for m in &g.members {
        if m.starts_with('@') {
            if let Some(inner) = group(m) {
                walk(inner, out, seen);
            }
        } else if !out.contains(m) {
            out.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_systemd_252_and_nested_groups_resolve() {
        assert_eq!(version(), "252");
        assert_eq!(groups().len(), 29);
        for g in groups() {
            for m in &g.members {
                if m.starts_with('@') {
                    assert!(group(m).is_some(), "{}: unknown nested {m}", g.name);
                }
            }
        }
        let ss = expand("@system-service").unwrap();
        assert!(ss.contains(&"read") && ss.contains(&"setuid32") && ss.contains(&"execve"));
        assert!(!ss.contains(&"mount") && !ss.contains(&"reboot"));
        assert!(expand("@nonexistent").is_none());
    }
}
