//! Call frequencies for the weighted search tree: `name count` per line, as a recording writes.

use std::collections::BTreeMap;

/// How often each syscall is called (by name, on every ABI).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Weights {
    counts: BTreeMap<String, u64>,
}

/// A line of a weights file that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{col}: {message}")]
pub struct WeightsError {
    /// File name as given.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl Weights {
    /// Parses `name count` lines; blank lines and `#` comments are ignored, a name given twice
    /// adds up. Names must be syscalls moat knows on some ABI.
    pub fn parse(text: &str, origin: &str) -> Result<Weights, WeightsError> {
        let mut counts = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |col: usize, message: String| WeightsError {
                origin: origin.to_string(),
                line: i + 1,
                col,
                message,
            };
            let line = raw.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            let col = |w: &str| raw.find(w).map_or(1, |p| raw[..p].chars().count() + 1);
            if !moat_syscalls::is_known(name) {
                let hint = moat_syscalls::suggest(name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(err(col(name), format!("unknown syscall `{name}`{hint}")));
            }
            let Some(count) = words.next() else {
                return Err(err(
                    raw.chars().count() + 1,
                    format!("expected a count after `{name}`, e.g. `{name} 100`"),
                ));
            };
            let n: u64 = count.parse().map_err(|_| {
                err(
                    col(count),
                    format!("`{count}` is not a count (a whole number)"),
                )
            })?;
            if let Some(extra) = words.next() {
                return Err(err(
                    col(extra),
                    format!("unexpected `{extra}` after the count"),
                ));
            }
            let c: &mut u64 = counts.entry(name.to_string()).or_default();
            *c = c.saturating_add(n);
        }
        Ok(Weights { counts })
    }

    /// The count recorded for `name` (0 when absent).
    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Sets the count for `name`.
    pub fn set(&mut self, name: &str, count: u64) {
        self.counts.insert(name.to_string(), count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_comments() {
        let w = Weights::parse("# recorded\nread 10\nwrite 5 # hot\n\nread 2\n", "w").unwrap();
        assert_eq!(w.count("read"), 12);
        assert_eq!(w.count("write"), 5);
        assert_eq!(w.count("openat"), 0);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Weights::parse("read 1\n  wrtie 5\n", "w.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.txt:2:3: unknown syscall `wrtie` (did you mean `write`?)"
        );
        let e = Weights::parse("read x\n", "w").unwrap_err();
        assert_eq!(e.to_string(), "w:1:6: `x` is not a count (a whole number)");
        let e = Weights::parse("read\n", "w").unwrap_err();
        assert!(e.to_string().starts_with("w:1:5: expected a count"));
        let e = Weights::parse("read 1 2\n", "w").unwrap_err();
        assert_eq!(e.to_string(), "w:1:8: unexpected `2` after the count");
    }
}
