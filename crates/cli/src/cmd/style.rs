//! Colour on terminals: `--color auto` (the default) colours standard output only when it is a
//! terminal, `NO_COLOR` is unset or empty (https://no-color.org) and `TERM` is not `dumb`;
//! `--color always` and `--color never` decide regardless.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

/// When to colour (a global flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum When {
    #[default]
    Auto,
    Always,
    Never,
}

/// What a piece of text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Error,
    Warning,
    Info,
    Fail,
}

static ENABLED: OnceLock<bool> = OnceLock::new();

/// Decides once, from `main`, whether standard output gets colour.
pub(crate) fn set(when: When) {
    let on = match when {
        When::Always => true,
        When::Never => false,
        When::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let _ = ENABLED.set(on);
}

/// `text` in its role's colour when colour is on, else unchanged.
pub(crate) fn paint(text: &str, role: Role) -> String {
    if !ENABLED.get().copied().unwrap_or(false) {
        return text.to_string();
    }
    let code = match role {
        Role::Error | Role::Fail => "1;31",
        Role::Warning => "1;33",
        Role::Info => "1;36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
