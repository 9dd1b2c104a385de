//! The data and the page behind `moat explain`'s cache coverage and `--html`.
//!
//! [`costs`] compiles the policy and reports, per ABI and syscall, whether the kernel's
//! constant-allow cache serves it (Linux 5.11+) and otherwise how many instructions the filter
//! executes. [`html`] renders an explanation as one self-contained page: no scripts, no external
//! resources; a colour grid of syscall groups × ABIs and a row per syscall with its verdict per
//! ABI, the deciding lines and the cost.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use moat_compile::Report;
use moat_policy::{AbiEntry, Action, Context, Decider, Explanation, Policy};
use moat_syscalls::Arch;

/// What the compiled filter costs one syscall on one ABI.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cost {
    /// Served by the kernel's constant-allow cache: the filter does not run.
    Cached,
    /// The filter runs: mean and worst executed instructions, and whether it reads arguments.
    Filtered {
        /// Mean over boundary arguments.
        mean: f64,
        /// Longest path.
        worst: usize,
        /// The path loads an argument.
        checks_args: bool,
    },
}

/// Per ABI, per syscall name, the cost; plus the program length.
#[derive(Clone, Debug, Default)]
pub struct Costs {
    /// Instructions in the compiled program.
    pub len: usize,
    /// Per ABI: syscall name -> cost.
    pub abis: BTreeMap<Arch, BTreeMap<&'static str, Cost>>,
}

impl Costs {
    /// The cost of `name` on `arch`, if the compiler reported it.
    pub fn get(&self, arch: Arch, name: &str) -> Option<Cost> {
        self.abis.get(&arch).and_then(|m| m.get(name)).copied()
    }

    /// (cached, filtered) counts on `arch`.
    pub fn counts(&self, arch: Arch) -> (usize, usize) {
        self.abis.get(&arch).map_or((0, 0), |m| {
            let cached = m.values().filter(|c| matches!(c, Cost::Cached)).count();
            (cached, m.len() - cached)
        })
    }
}

/// Compiles `policy` for `ctx` and collects the compiler's cost report.
pub fn costs(policy: &Policy, ctx: &Context) -> Result<Costs, moat_compile::CompileError> {
    let options = moat_compile::Options {
        ctx: *ctx,
        ..moat_compile::Options::default()
    };
    let compiled = moat_compile::compile(policy, &options)?;
    Ok(from_report(&moat_compile::report(&compiled)))
}

/// Converts the compiler's report.
pub fn from_report(r: &Report) -> Costs {
    let mut abis = BTreeMap::new();
    for a in &r.abis {
        let mut m = BTreeMap::new();
        for &name in &a.cached {
            m.insert(name, Cost::Cached);
        }
        for c in &a.filtered {
            m.insert(
                c.name,
                Cost::Filtered {
                    mean: c.mean,
                    worst: c.worst,
                    checks_args: c.checks_args,
                },
            );
        }
        abis.insert(a.arch, m);
    }
    Costs { len: r.len, abis }
}

/// How a syscall fares on one ABI, for colouring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Runs (allow, log) for every argument.
    Allowed,
    /// Some arguments run, others do not.
    Conditional,
    /// Never runs.
    Refused,
    /// The ABI has no such syscall.
    Absent,
}

impl Class {
    fn css(self) -> &'static str {
        match self {
            Class::Allowed => "allow",
            Class::Conditional => "cond",
            Class::Refused => "deny",
            Class::Absent => "absent",
        }
    }
}

/// The class of one entry.
pub fn class(policy: &Policy, e: &AbiEntry) -> Class {
    let decided = |d: &Decider| match d {
        Decider::Rule { index, .. } => policy
            .rules()
            .get(*index)
            .map_or(policy.default_action().action, |r| r.action),
        _ => policy.default_action().action,
    };
    match e {
        AbiEntry::Absent => Class::Absent,
        AbiEntry::Unknown { .. } => {
            if policy.unknown_action().action.runs_call() {
                Class::Allowed
            } else {
                Class::Refused
            }
        }
        AbiEntry::Known {
            branches,
            otherwise,
            ..
        } => {
            let base = decided(otherwise).runs_call();
            if branches.iter().any(|b| b.action.runs_call() != base) {
                Class::Conditional
            } else if base {
                Class::Allowed
            } else {
                Class::Refused
            }
        }
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#57606a;margin:0 0 12px}code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre.src{background:#f6f8fa;border:1px solid #d0d7de;padding:10px;overflow:auto;max-height:320px}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.allow{background:#c8f0cf}td.deny{background:#f7c1c1}td.cond{background:#fbe3a1}td.absent{background:#eee;color:#8c959f}
td.cell{min-width:90px;text-align:center}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #d0d7de}
.legend .allow{background:#c8f0cf}.legend .deny{background:#f7c1c1}.legend .cond{background:#fbe3a1}.legend .absent{background:#eee}
details summary{cursor:pointer}.cost{color:#57606a;font-size:12px}
";

/// Renders an explanation as one self-contained HTML page.
pub fn html(policy: &Policy, exp: &Explanation, costs: Option<&Costs>) -> String {
    let mut s = String::new();
    let title = format!("moat explain: {}", policy.origin());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let arches: Vec<String> = exp.arches.iter().map(|a| a.to_string()).collect();
    let _ = writeln!(s, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        s,
        "<p class=\"meta\">ABIs: {} · default: {} · unknown numbers: {} · other ABIs: {}</p>",
        esc(&arches.join(", ")),
        esc(&policy.default_action().action.to_string()),
        esc(&policy.unknown_action().action.to_string()),
        esc(&policy.badarch_action().action.to_string())
    );
    let _ = writeln!(
        s,
        "<p class=\"legend\"><span class=\"allow\">runs</span><span class=\"cond\">depends on arguments</span>\
         <span class=\"deny\">refused</span><span class=\"absent\">not on this ABI</span></p>"
    );
    if let Some(c) = costs {
        let _ = write!(
            s,
            "<p class=\"meta\" id=\"cache\">Compiled: {} instructions.",
            c.len
        );
        for a in &exp.arches {
            let (cached, filtered) = c.counts(*a);
            let _ = write!(
                s,
                " {a}: {cached} syscalls served by the kernel's constant-allow cache, {filtered} run the filter."
            );
        }
        s.push_str("</p>\n");
    }
    // The grid: groups × ABIs.
    let by_name: BTreeMap<&str, &moat_policy::SyscallEntry> =
        exp.syscalls.iter().map(|e| (e.name, e)).collect();
    s.push_str("<h2>Groups</h2>\n<table id=\"grid\"><tr><th>group</th>");
    for a in &arches {
        let _ = write!(s, "<th>{}</th>", esc(a));
    }
    s.push_str("</tr>\n");
    for g in moat_syscalls::groups() {
        let members = moat_syscalls::expand_group(g.name).unwrap_or_default();
        let _ = write!(
            s,
            "<tr><th title=\"{}\">@{}</th>",
            esc(g.description),
            esc(g.name)
        );
        for (i, a) in exp.arches.iter().enumerate() {
            let mut counts: BTreeMap<Class, usize> = BTreeMap::new();
            for m in &members {
                if let Some(e) = by_name.get(m).and_then(|e| e.abis.get(i)) {
                    *counts.entry(class(policy, &e.1)).or_default() += 1;
                }
            }
            let present: Vec<(Class, usize)> = counts
                .iter()
                .filter(|(c, _)| **c != Class::Absent)
                .map(|(c, n)| (*c, *n))
                .collect();
            let cls = match present.as_slice() {
                [] => Class::Absent,
                [(c, _)] => *c,
                _ => Class::Conditional,
            };
            let words: Vec<String> = present
                .iter()
                .map(|(c, n)| {
                    let w = match c {
                        Class::Allowed => "run",
                        Class::Conditional => "depend",
                        Class::Refused => "refused",
                        Class::Absent => "absent",
                    };
                    format!("{n} {w}")
                })
                .collect();
            let _ = write!(
                s,
                "<td class=\"cell {}\" id=\"cell-{}-{}\">{}</td>",
                cls.css(),
                esc(g.name),
                a,
                if words.is_empty() {
                    "–".to_string()
                } else {
                    esc(&words.join(", "))
                }
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    // Per syscall.
    s.push_str("<h2>Syscalls</h2>\n<table id=\"syscalls\"><tr><th>syscall</th>");
    for a in &arches {
        let _ = write!(s, "<th>{}</th>", esc(a));
    }
    s.push_str("</tr>\n");
    for e in &exp.syscalls {
        let _ = write!(s, "<tr id=\"sc-{}\"><th>{}</th>", esc(e.name), esc(e.name));
        for (a, entry) in &e.abis {
            let cls = class(policy, entry);
            let short = match entry {
                AbiEntry::Absent => "–".to_string(),
                AbiEntry::Unknown { .. } => policy.unknown_action().action.to_string(),
                AbiEntry::Known { branches, .. } if !branches.is_empty() => "depends".to_string(),
                AbiEntry::Known { otherwise, .. } => match otherwise {
                    Decider::Rule { index, .. } => policy
                        .rules()
                        .get(*index)
                        .map_or(String::new(), |r| action_word(r.action)),
                    _ => action_word(policy.default_action().action),
                },
            };
            let cost = costs.and_then(|c| c.get(*a, e.name)).map(|c| match c {
                Cost::Cached => "cached".to_string(),
                Cost::Filtered { mean, worst, .. } => format!("{mean:.1} insns (≤ {worst})"),
            });
            if matches!(entry, AbiEntry::Absent) {
                let _ = write!(s, "<td class=\"absent\">–</td>");
                continue;
            }
            let nr = match entry {
                AbiEntry::Unknown { nr } | AbiEntry::Known { nr, .. } => *nr,
                AbiEntry::Absent => 0,
            };
            let _ = write!(
                s,
                "<td class=\"{}\"><details><summary>{}</summary><code>{}</code><br><span class=\"cost\">nr {nr}{}</span></details></td>",
                cls.css(),
                esc(&short),
                esc(&policy.describe_entry(entry)),
                cost.map(|c| format!(" · {}", esc(&c))).unwrap_or_default()
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n<h2>Policy</h2>\n<pre class=\"src\">");
    s.push_str(&esc(policy.source()));
    s.push_str("</pre>\n</body></html>\n");
    s
}

fn action_word(a: Action) -> String {
    a.to_string()
}
