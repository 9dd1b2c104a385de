//! Composing a policy from several sources: a built-in profile, a file, command-line statements,
//! a pod annotation, the node's rules. Statements are read in order (later ones override
//! earlier ones, as in one file), and every statement keeps the origin it was written in, so an
//! error in an annotation says `moat.dev/policy:1:5`, counted from the annotation's own lines,
//! never from a combined text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ErrorKind, ParseError};
use crate::model::{Item, Span, Statement, UseTarget};
use crate::{Loader, Policy, builtin, builtins, utf8};

/// One input of [`Policy::compose`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A built-in profile by name (`moat run --profile`, a node's built-in default).
    Builtin(String),
    /// A policy file; its `use "relative"` statements resolve from its directory.
    File(PathBuf),
    /// Statements given one per entry (`moat run -e`): errors say `ORIGIN:N:COL` for the N-th
    /// entry. `use "path"` resolves from the current directory.
    Statements {
        /// What to call them in messages (`-e`).
        origin: String,
        /// The statements, one each.
        statements: Vec<String>,
    },
    /// A pod annotation's text, under its key: errors count from the annotation's own lines,
    /// and `use` may name built-in profiles only (a path would read files on the node).
    Annotation {
        /// The annotation key (`moat.dev/policy`, `moat.dev/policy.web`).
        key: String,
        /// The policy text.
        text: String,
    },
    /// Policy text the node owns (its default profile file): `use "path"` resolves in `dir`.
    Node {
        /// What to call it in messages (the file name).
        origin: String,
        /// The policy text.
        text: String,
        /// Where relative `use "path"` statements resolve.
        dir: PathBuf,
    },
    /// Policy text already read (a file in another format, translated to moat text by the
    /// importer): `use "path"` resolves in `dir`; errors count from the text's own lines.
    Text {
        /// What to call it in messages (the file name).
        origin: String,
        /// The policy text.
        text: String,
        /// Where relative `use "path"` statements resolve.
        dir: PathBuf,
    },
    /// Mandatory node statements, one per entry, read after everything else by convention
    /// (the node's `enforce` list): errors say `ORIGIN:N:COL` for the N-th entry; no files.
    Enforce {
        /// What to call them in messages (`runtime.toml enforce`).
        origin: String,
        /// The statements, one each.
        statements: Vec<String>,
    },
}

impl Source {
    /// The name this source's statements carry as their origin.
    pub fn origin(&self) -> String {
        match self {
            Source::Builtin(name) => name.clone(),
            Source::File(path) => path.display().to_string(),
            Source::Statements { origin, .. }
            | Source::Node { origin, .. }
            | Source::Text { origin, .. }
            | Source::Enforce { origin, .. } => origin.clone(),
            Source::Annotation { key, .. } => key.clone(),
        }
    }
}

/// One statement per entry, joined so that entry N is line N; a line break inside an entry is
/// an error at that entry.
fn one_per_line(origin: &str, statements: &[String]) -> Result<String, ParseError> {
    for (i, s) in statements.iter().enumerate() {
        if let Some(at) = s.find(['\n', '\r']) {
            let col = s[..at].chars().count() + 1;
            return Err(ParseError::at(
                origin,
                Span {
                    line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    col: u32::try_from(col).unwrap_or(u32::MAX),
                },
                ErrorKind::LineBreak,
            ));
        }
    }
    Ok(statements.join("\n"))
}

impl Policy {
    /// A policy read from `sources` in order, as if each were spliced into one file at its
    /// place, with each statement keeping its own origin and position. The composed policy's
    /// [`Policy::origin`] joins the sources' origins with ` + `; its [`Policy::items`] are the
    /// sources' top-level statements (a built-in or a file as one `use` item).
    ///
    /// ```
    /// use moat_policy::{Policy, Source};
    ///
    /// let p = Policy::compose(&[
    ///     Source::Builtin("container".into()),
    ///     Source::Annotation { key: "moat.dev/policy".into(), text: "deny mkdir\n".into() },
    /// ])?;
    /// assert_eq!(p.origin(), "container + moat.dev/policy");
    /// let e = Policy::compose(&[
    ///     Source::Builtin("container".into()),
    ///     Source::Annotation { key: "moat.dev/policy".into(), text: "deny mkdri\n".into() },
    /// ])
    /// .unwrap_err();
    /// assert!(e.to_string().starts_with("moat.dev/policy:1:6:"), "{e}");
    /// # Ok::<(), moat_policy::ParseError>(())
    /// ```
    pub fn compose(sources: &[Source]) -> Result<Policy, ParseError> {
        let mut loader = Loader::default();
        let mut items = Vec::new();
        let mut text = String::new();
        let mut origins = Vec::new();
        for source in sources {
            let origin: Arc<str> = Arc::from(source.origin().as_str());
            loader.refuse_files = None;
            let (body, dir, key): (String, Option<PathBuf>, String) = match source {
                Source::Builtin(name) => {
                    let Some(b) = builtins().iter().find(|b| b.name == *name) else {
                        return Err(ParseError {
                            origin: name.clone(),
                            span: None,
                            kind: Box::new(ErrorKind::UnknownProfile {
                                name: name.clone(),
                                known: builtin::known(),
                            }),
                        });
                    };
                    loader.root(b.source, &origin, None, format!("builtin:{}", b.name))?;
                    items.push(Item {
                        statement: Statement::Use(UseTarget::Builtin(name.clone())),
                        span: Span { line: 1, col: 1 },
                        reason: None,
                    });
                    text.push_str(&format!("use {name}\n"));
                    origins.push(origin.to_string());
                    continue;
                }
                Source::File(path) => {
                    // The main input, as `Policy::load` reads it: capped, a FIFO the user
                    // named is read.
                    let bytes = moat_io::read(path, moat_io::Limit::TEXT, moat_io::Source::Main)
                        .map_err(|e| ParseError {
                            origin: origin.to_string(),
                            span: None,
                            kind: Box::new(ErrorKind::Io(e.line())),
                        })?;
                    let body = utf8(&bytes, &origin)?;
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    let key = std::fs::canonicalize(path)
                        .map_or_else(|_| origin.to_string(), |p| p.display().to_string());
                    loader.root(body, &origin, Some(&dir), key.clone())?;
                    items.push(Item {
                        statement: Statement::Use(UseTarget::Path(key.clone())),
                        span: Span { line: 1, col: 1 },
                        reason: None,
                    });
                    text.push_str(&format!("use {key:?}\n"));
                    origins.push(origin.to_string());
                    continue;
                }
                Source::Statements {
                    origin: o,
                    statements,
                } => {
                    if statements.is_empty() {
                        continue;
                    }
                    (
                        one_per_line(o, statements)?,
                        Some(PathBuf::new()),
                        format!("text:{o}"),
                    )
                }
                Source::Annotation { key, text } => {
                    loader.refuse_files = Some(format!("the {key} annotation"));
                    (text.clone(), None, format!("text:{key}"))
                }
                Source::Node {
                    origin: o,
                    text,
                    dir,
                }
                | Source::Text {
                    origin: o,
                    text,
                    dir,
                } => (text.clone(), Some(dir.clone()), format!("text:{o}")),
                Source::Enforce {
                    origin: o,
                    statements,
                } => {
                    if statements.is_empty() {
                        continue;
                    }
                    loader.refuse_files = Some(format!("{o} statements"));
                    (one_per_line(o, statements)?, None, format!("text:{o}"))
                }
            };
            items.extend(loader.root(&body, &origin, dir.as_deref(), key)?);
            loader.refuse_files = None;
            text.push_str(body.trim_end_matches('\n'));
            text.push('\n');
            origins.push(origin.to_string());
        }
        if origins.is_empty() {
            return Err(ParseError {
                origin: "(no source)".into(),
                span: None,
                kind: Box::new(ErrorKind::Empty),
            });
        }
        loader.refuse_files = None;
        loader.build(Arc::from(origins.join(" + ").as_str()), text, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Context};

    fn annotation(text: &str) -> Source {
        Source::Annotation {
            key: "moat.dev/policy".into(),
            text: text.into(),
        }
    }

    #[test]
    fn annotation_errors_count_from_the_annotations_own_lines() {
        // Regression (issue 13): a one-line annotation was reported at `moat.dev/policy:2:1`.
        let e = Policy::compose(&[Source::Builtin("container".into()), annotation("alow bpf")])
            .unwrap_err();
        assert!(e.to_string().starts_with("moat.dev/policy:1:1:"), "{e}");
        let e = Policy::compose(&[
            Source::Builtin("container".into()),
            annotation("deny mkdir\n\n  deny rmdri"),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("moat.dev/policy:3:8:"), "{e}");
    }

    #[test]
    fn annotations_cannot_use_files() {
        let e = Policy::compose(&[annotation("use \"/etc/passwd\"")]).unwrap_err();
        assert_eq!(e.span, Some(Span { line: 1, col: 1 }));
        assert!(matches!(*e.kind, ErrorKind::UseFileRefused(_)), "{e}");
        assert!(!e.to_string().contains("root:"), "{e}");
        // Built-in profiles are fine.
        Policy::compose(&[annotation("use strict\nallow mkdir")]).unwrap();
    }

    #[test]
    fn each_statement_keeps_its_origin_and_later_sources_win() {
        let p = Policy::compose(&[
            Source::Builtin("container".into()),
            annotation("allow bpf"),
            Source::Enforce {
                origin: "runtime.toml enforce".into(),
                statements: vec!["deny socket if domain == AF_ALG".into(), "deny bpf".into()],
            },
        ])
        .unwrap();
        let last = p.rules().last().unwrap();
        assert_eq!(&*last.location.origin, "runtime.toml enforce");
        assert_eq!(last.location.span, Span { line: 2, col: 1 });
        let pod = p
            .rules()
            .iter()
            .find(|r| &*r.location.origin == "moat.dev/policy");
        assert_eq!(pod.unwrap().location.span.line, 1);
        let bpf = moat_syscalls::Arch::native().by_name("bpf").unwrap().nr;
        let v = p.evaluate(
            &Context::default(),
            moat_syscalls::Arch::native().audit_arch(),
            bpf,
            [0; 6],
        );
        assert_eq!(v.action, Action::DENY);
    }

    #[test]
    fn statements_are_one_per_entry() {
        let src = |s: &[&str]| Source::Statements {
            origin: "-e".into(),
            statements: s.iter().map(|s| s.to_string()).collect(),
        };
        let e = Policy::compose(&[
            Source::Builtin("container".into()),
            src(&["allow bpf", "deny mkdir\nallow"]),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "-e:2:11: one statement per entry: this one contains a line break"
        );
        let e = Policy::compose(&[src(&["default allow", "deny nosuchcall"])]).unwrap_err();
        assert!(e.to_string().starts_with("-e:2:6:"), "{e}");
        let e = Policy::compose(&[Source::Enforce {
            origin: "enforce".into(),
            statements: vec!["use \"x.moat\"".into()],
        }])
        .unwrap_err();
        assert!(matches!(*e.kind, ErrorKind::UseFileRefused(_)), "{e}");
    }

    #[test]
    fn composed_equals_the_concatenated_text() {
        let a = Policy::compose(&[
            Source::Builtin("container".into()),
            annotation("allow bpf\nerrno ENOSYS mkdir"),
        ])
        .unwrap();
        let b = Policy::parse("use container\nallow bpf\nerrno ENOSYS mkdir\n", "t").unwrap();
        assert_eq!(a.rules(), b.rules());
        assert_eq!(a.default_action().action, b.default_action().action);
        assert_eq!(a.arches(), b.arches());
    }

    #[test]
    fn unknown_builtin_and_missing_file_are_errors() {
        assert!(Policy::compose(&[Source::Builtin("nope".into())]).is_err());
        let e = Policy::compose(&[Source::File("/nonexistent/p.moat".into())]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/p.moat: cannot read policy"),
            "{e}"
        );
        assert!(Policy::compose(&[]).is_err());
    }
}
