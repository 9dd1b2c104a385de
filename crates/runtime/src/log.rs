//! Lines for the runtime's log file, in the format the runtime writes (`--log-format`):
//! logrus text (`time="..." level=warning msg="..."`) or JSON
//! (`{"level":"warning","msg":"...","time":"..."}`), which containerd reads back to report a
//! failed `create`.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something the user should know; the container starts.
    Warning,
    /// The container does not start.
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// RFC 3339 UTC time for `secs` since the epoch (civil-from-days, H. Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One log line (without the newline) in `format` (`json`; anything else is text).
pub fn line(format: Option<&str>, level: Level, msg: &str, secs: u64) -> String {
    let time = rfc3339(secs);
    if format == Some("json") {
        serde_json::json!({"level": level.name(), "msg": msg, "time": time}).to_string()
    } else {
        let quoted = serde_json::Value::String(msg.to_string()).to_string();
        format!("time=\"{time}\" level={} msg={quoted}", level.name())
    }
}

/// Appends a line to the runtime's log file, now.
pub fn append(path: &Path, format: Option<&str>, level: Level, msg: &str) -> std::io::Result<()> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", line(format, level, msg, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn formats() {
        let j = line(Some("json"), Level::Error, "bad \"x\"", 0);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"x\"");
        assert_eq!(
            line(Some("text"), Level::Warning, "a \"b\"", 0),
            r#"time="1970-01-01T00:00:00Z" level=warning msg="a \"b\"""#
        );
    }
}
