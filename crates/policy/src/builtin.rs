//! Built-in profiles: `.moat` files compiled into the library (`crates/policy/profiles/`).

/// A built-in profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Builtin {
    /// The name `use NAME` and `moat explain NAME` take.
    pub name: &'static str,
    /// The profile's text.
    pub source: &'static str,
}

impl Builtin {
    /// The one-line description: the profile's first line, `# NAME: description`.
    pub fn description(&self) -> &'static str {
        let first = self.source.lines().next().unwrap_or_default();
        let text = first.trim_start_matches('#').trim();
        text.split_once(": ").map_or(text, |(_, d)| d)
    }
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "container",
        source: include_str!("../profiles/container.moat"),
    },
    Builtin {
        name: "docker",
        source: include_str!("../profiles/docker.moat"),
    },
    Builtin {
        name: "strict",
        source: include_str!("../profiles/strict.moat"),
    },
];

/// Every built-in profile, by name.
pub fn builtins() -> &'static [Builtin] {
    BUILTINS
}

/// The built-in names, comma-separated, for messages.
pub(crate) fn known() -> String {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}
