//! LXC seccomp policy files (`lxc.seccomp.profile`; the format LXD, Incus and Proxmox generate)
//! → moat, as LXC 5.0–7.0 reads them (`src/lxc/seccomp.c`, `parse_config`, `parse_config_v2`):
//!
//! ```text
//! policy   = VERSION ws line2 { rule-line }     (* fscanf "%d\n": any whitespace after VERSION *)
//! line2    = ( "allowlist" | "whitelist" | "denylist" | "blacklist" ) [ " " action ]
//! rule     = "#..." | "[" SECTION "]" | NAME [ " " action ] { "[" arg "]" } | "reject_force_umount"
//! action   = "kill" | "errno" N | "allow" | "trap" | "notify"      (* matched as prefixes *)
//! arg      = INDEX "," VALUE "," OP [ "," MASK ]
//! OP       = SCMP_CMP_{NE,LT,LE,EQ,GE,GT,MASKED_EQ} | != | < | <= | == | >= | > | &=
//! ```
//!
//! What LXC makes of it, and so the import:
//! - an allowlist's default is `kill` and its rules' default action `allow`; a denylist's default
//!   is `allow` and its rules' `kill`. The default also answers numbers without a name.
//! - Every rule goes to every ABI of the host's filter (on an x86-64 host: x86_64, x86 and x32;
//!   on arm64: aarch64 and arm). A `[section]` only decides whether the lines after it are read at
//!   all: `[x86]` on an x86-64 host is read (and applies to all three ABIs), `[arm64]` is skipped;
//!   `[all]` is always read. A section LXC does not know is an error.
//! - `[i,v,SCMP_CMP_MASKED_EQ,m]` holds when `arg_i & m == v & m`; the comparisons of one rule are
//!   ANDed; an argument index may appear once (libseccomp refuses a second comparison).
//! - `reject_force_umount` is `errno EACCES umount2 if flags & MNT_FORCE`.
//! - libseccomp keeps the first unconditional rule of a syscall and drops conditional rules of a
//!   syscall that also has an unconditional one (the JSON import's rules, reused here).
//!
//! Version 1 files are an allowlist of native syscall numbers, one per line.

use std::fmt::Write as _;

use moat_syscalls::{self as sc, Arch};

use crate::error::{Error, JsonPath};
use crate::import::{Options, arch_token};
use crate::seccomp::{Arg, Entry, ScmpAction, ScmpOp, Seccomp};
use crate::{Extras, InputFormat, Loaded};

/// `MNT_FORCE` (include/linux/fs.h), what `reject_force_umount` tests in `umount2`'s flags.
const MNT_FORCE: u64 = 1;
/// `EACCES`, what `reject_force_umount` answers.
const EACCES: u32 = 13;

/// True when `text` looks like an LXC policy: its first word is a number (the version; no other
/// format moat reads starts with one).
pub fn sniff(text: &str) -> bool {
    text.split_whitespace()
        .next()
        .is_some_and(|w| w.bytes().all(|b| b.is_ascii_digit()))
}

fn err(origin: &str, line: usize, col: usize, message: impl Into<String>) -> Error {
    Error::Syntax {
        origin: origin.to_string(),
        line,
        col,
        message: message.into(),
    }
}

/// The ABIs LXC's filter holds on `host`, and the section names read there (`get_hostarch`,
/// `get_new_ctx`, and the section table of `parse_config_v2`). `None`: LXC does not know the
/// host (riscv64), and reads only `[all]` sections.
fn host_abis(host: Arch) -> Option<(&'static [Arch], &'static [&'static str])> {
    Some(match host {
        Arch::X86_64 => (
            &[Arch::X86_64, Arch::X86, Arch::X32],
            &["x86", "x32", "x86_64"],
        ),
        Arch::X86 => (&[Arch::X86], &["x86"]),
        Arch::Aarch64 => (&[Arch::Aarch64, Arch::Arm], &["arm", "arm64"]),
        Arch::Arm => (&[Arch::Arm], &["arm"]),
        Arch::Ppc64le => (&[Arch::Ppc64le], &["ppc64le"]),
        Arch::S390x => (&[Arch::S390x], &["s390x"]),
        Arch::Loongarch64 => (&[Arch::Loongarch64], &["loongarch64"]),
        Arch::X32 | Arch::Riscv64 => return None,
    })
}

/// Every section header LXC accepts (lower or upper case), whatever the host.
const SECTIONS: &[&str] = &[
    "x86",
    "x32",
    "x86_64",
    "all",
    "arm",
    "arm64",
    "ppc64le",
    "ppc64",
    "ppc",
    "mips64",
    "mips64n32",
    "mips",
    "mipsel64",
    "mipsel64n32",
    "mipsel",
    "s390x",
    "s390",
    "loongarch64",
];

/// An action word as LXC's `get_v2_default_action` reads it: a prefix match (`killall` is
/// `kill`), `errno` followed by a C `%d`. `Ok(None)`: nothing there.
fn action_word(
    s: &str,
    origin: &str,
    line: usize,
    col: usize,
    warnings: &mut Vec<String>,
) -> Result<Option<(ScmpAction, Option<u32>)>, Error> {
    let t = s.trim_start_matches(' ');
    let col = col + (s.len() - t.len());
    if t.is_empty() {
        return Ok(None);
    }
    let word_len = t.find([' ', '[']).unwrap_or(t.len());
    let word = &t[..word_len];
    for (k, a) in [
        ("kill", ScmpAction::Kill),
        ("allow", ScmpAction::Allow),
        ("trap", ScmpAction::Trap),
        ("notify", ScmpAction::Notify),
    ] {
        if t.starts_with(k) {
            if word != k {
                warnings.push(format!(
                    "{origin}:{line}:{col}: LXC reads \"{word}\" as \"{k}\" (it matches action prefixes)"
                ));
            }
            return Ok(Some((a, None)));
        }
    }
    if let Some(rest) = t.strip_prefix("errno") {
        let Some(n) = c_int(rest) else {
            return Err(err(origin, line, col, "errno needs a number (errno 1)"));
        };
        // libseccomp refuses SCMP_ACT_ERRNO data from MAX_ERRNO (4095) on; LXC would pass
        // SCMP_ACT_ERRNO(n), which keeps only n's low 16 bits.
        let max = i64::from(moat_policy::MAX_ERRNO) - 1;
        let e = u32::try_from(n)
            .ok()
            .filter(|e| i64::from(*e) <= max)
            .ok_or_else(|| {
                err(
                    origin,
                    line,
                    col,
                    format!("errno {n} is outside 0-{max} (libseccomp refuses it)"),
                )
            })?;
        return Ok(Some((ScmpAction::Errno, Some(e))));
    }
    let hint = crate::seccomp::closest(word, ["kill", "errno", "allow", "trap", "notify"])
        .map(|h| format!(" (did you mean \"{h}\"?)"))
        .unwrap_or_default();
    Err(err(
        origin,
        line,
        col,
        format!("unknown action \"{word}\"{hint}: LXC reads kill, errno N, allow, trap and notify"),
    ))
}

/// C's `sscanf("%d")`: leading whitespace, a sign, decimal digits; the rest is ignored.
fn c_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v: i64 = t[..digits].parse().ok()?;
    Some(if neg { -v } else { v })
}

/// C's `sscanf("%d")` at the start of `s` (no leading whitespace): the value and the bytes read.
fn c_decimal(s: &str) -> Option<(i64, usize)> {
    let sign = usize::from(s.starts_with(['+', '-']));
    let digits = s[sign..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v: i64 = s[sign..sign + digits].parse().ok()?;
    Some((if s.starts_with('-') { -v } else { v }, sign + digits))
}

/// C's `strtoull(s, _, 0)` as LXC's `lxc_safe_uint64` calls it: leading whitespace, no `-`, `0x`
/// hex or `0` octal or decimal, nothing after.
fn c_u64(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.starts_with('-') || t.is_empty() {
        return None;
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// C's `sscanf("%i")` into an index: sign, `0x`/`0` prefixes; returns the value and the bytes
/// read.
fn c_index(s: &str) -> Option<(i64, usize)> {
    let lead = s.len() - s.trim_start().len();
    let t = &s[lead..];
    let (neg, sign) = match t.as_bytes().first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let t = &t[sign..];
    let (radix, pre) = if t.starts_with("0x") || t.starts_with("0X") {
        (16, 2)
    } else if t.starts_with('0') {
        (8, 0)
    } else {
        (10, 0)
    };
    let body = &t[pre..];
    let n = body
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if n == 0 {
        return None;
    }
    let v = i64::from_str_radix(&body[..n], radix).ok()?;
    Some((if neg { -v } else { v }, lead + sign + pre + n))
}

/// `[idx,value,op(,mask)]` without its brackets, as `get_seccomp_arg_value`'s
/// `sscanf("[%i,%23[^,],%30[^0-9^,],%23[^,]")` reads it.
fn arg(body: &str, origin: &str, line: usize, col: usize) -> Result<Arg, Error> {
    let bad = |what: &str| {
        err(
            origin,
            line,
            col,
            format!(
                "bad argument condition \"[{body}]\": {what} (expected [index,value,op] or [index,value,op,mask])"
            ),
        )
    };
    let (index, used) = c_index(body).ok_or_else(|| bad("no index"))?;
    let rest = body[used..]
        .strip_prefix(',')
        .ok_or_else(|| bad("no value"))?;
    let v_len = rest.find(',').unwrap_or(rest.len());
    if v_len == 0 || v_len > 23 || v_len == rest.len() {
        return Err(bad("no operator"));
    }
    let value_s = &rest[..v_len];
    let rest = &rest[v_len + 1..];
    let op_len = rest
        .bytes()
        .take(30)
        .take_while(|b| !b.is_ascii_digit() && *b != b'^' && *b != b',')
        .count();
    if op_len == 0 {
        return Err(bad("no operator"));
    }
    let op_s = &rest[..op_len];
    let rest = &rest[op_len..];
    // The mask is read only right after a comma; anything else after the operator is ignored.
    let mask_s = match rest.strip_prefix(',') {
        Some(m) => {
            let n = m.find(',').unwrap_or(m.len()).min(23);
            if n == 0 { "0" } else { &m[..n] }
        }
        None => "0",
    };
    if !(0..6).contains(&index) {
        return Err(bad(&format!("index {index} is not 0 to 5")));
    }
    let value = c_u64(value_s).ok_or_else(|| bad(&format!("\"{value_s}\" is not a number")))?;
    let mask = c_u64(mask_s).ok_or_else(|| bad(&format!("\"{mask_s}\" is not a number")))?;
    let op = match op_s {
        "SCMP_CMP_NE" | "!=" => ScmpOp::Ne,
        "SCMP_CMP_LT" | "<" => ScmpOp::Lt,
        "SCMP_CMP_LE" | "<=" => ScmpOp::Le,
        "SCMP_CMP_EQ" | "==" => ScmpOp::Eq,
        "SCMP_CMP_GE" | ">=" => ScmpOp::Ge,
        "SCMP_CMP_GT" | ">" => ScmpOp::Gt,
        "SCMP_CMP_MASKED_EQ" | "&=" => ScmpOp::MaskedEq,
        other => return Err(bad(&format!("unknown operator \"{other}\""))),
    };
    let index = u8::try_from(index).map_err(|_| bad("index out of range"))?;
    // The JSON model's MASKED_EQ keeps the mask in `value` and the compared value in `valueTwo`
    // (libseccomp's datum_a and datum_b); LXC writes the value first and the mask last.
    Ok(match op {
        ScmpOp::MaskedEq => Arg {
            index,
            value: mask,
            value_two: value,
            op,
        },
        _ => Arg {
            index,
            value,
            value_two: 0,
            op,
        },
    })
}

/// An entry and where its line is (line, column).
type Located = (Entry, (usize, usize));

/// One logical line: its number (1-based) and text without the newline.
struct Line<'a> {
    no: usize,
    text: &'a str,
}

/// Reads an LXC seccomp policy.
pub fn import(text: &str, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let mut warnings = Vec::new();
    // `fscanf(f, "%d\n", &version)`: the number, then any whitespace (newlines included).
    let lead = text.len() - text.trim_start().len();
    let Some((version, used)) = c_decimal(&text[lead..]) else {
        return Err(err(
            origin,
            1,
            1,
            "an LXC seccomp policy starts with its version (2)",
        ));
    };
    if version != 1 && version != 2 {
        return Err(err(
            origin,
            1,
            1,
            format!("LXC reads policy versions 1 and 2, not {version}"),
        ));
    }
    let after = &text[lead + used..];
    let body_start = lead + used + (after.len() - after.trim_start().len());
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let col_of = |offset: usize| offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    let rest = &text[body_start..];
    if rest.is_empty() {
        return Err(err(
            origin,
            line_of(body_start),
            col_of(body_start),
            "missing the policy line (allowlist or denylist)",
        ));
    }
    let first_no = line_of(body_start);
    let first_col = col_of(body_start);
    let mut lines = rest.split_inclusive('\n').enumerate().map(|(i, l)| Line {
        no: first_no + i,
        text: l,
    });
    let Some(policy_line) = lines.next() else {
        return Err(err(origin, first_no, first_col, "missing the policy line"));
    };
    let pl = policy_line.text;
    if version == 1 && !pl.contains("allowlist") {
        return Err(err(
            origin,
            first_no,
            first_col,
            "a version 1 policy is an allowlist (its second line must say allowlist)",
        ));
    }
    if let Some(i) = pl.find("debug") {
        return Err(err(
            origin,
            first_no,
            first_col + i,
            "LXC does not implement \"debug\" policies",
        ));
    }
    let host = opts.host.unwrap_or_else(Arch::native);
    if version == 1 {
        return v1(lines, origin, host, opts);
    }
    let denylist = if pl.starts_with("denylist") || pl.starts_with("blacklist") {
        true
    } else if pl.starts_with("allowlist") || pl.starts_with("whitelist") {
        false
    } else {
        let word = pl.split_whitespace().next().unwrap_or("");
        return Err(err(
            origin,
            first_no,
            first_col,
            format!("unknown policy type \"{word}\" (allowlist or denylist)"),
        ));
    };
    // The default: what follows the first space (newline included: "denylist \n" is an error).
    let (default, default_errno) = match pl.find(' ') {
        None => {
            if denylist {
                (ScmpAction::Allow, None)
            } else {
                (ScmpAction::Kill, None)
            }
        }
        Some(i) => {
            let s = &pl[i + 1..];
            let s_trim = s.trim_start_matches(' ');
            if s_trim.trim_end_matches('\n').is_empty() || s_trim.starts_with('#') {
                return Err(err(
                    origin,
                    first_no,
                    first_col + i + 1,
                    "nothing after the space: LXC expects a default action there (kill, errno N, allow, trap, notify)",
                ));
            }
            action_word(
                s.trim_end_matches('\n'),
                origin,
                first_no,
                first_col + i + 1,
                &mut warnings,
            )?
            .unwrap_or((ScmpAction::Kill, None))
        }
    };
    let rule_default = if denylist {
        ScmpAction::Kill
    } else {
        ScmpAction::Allow
    };
    let family = host_abis(host);
    let abis: Vec<Arch> = match (&opts.arches, family) {
        (Some(a), _) => a.clone(),
        (None, Some((abis, _))) => abis.to_vec(),
        (None, None) => vec![host],
    };
    // Lines are read until a section for another host; LXC starts in "all" on hosts with
    // compat ABIs and in the native section elsewhere, and skips everything on hosts it does
    // not know until an [all].
    let mut reading = family.is_some();
    let mut entries = Vec::new();
    for l in lines {
        let raw = l.text.trim_end_matches('\n');
        if l.text.starts_with('#') || raw.is_empty() {
            continue;
        }
        if raw.starts_with('[') {
            let name = raw
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .filter(|n| {
                    SECTIONS.contains(n) || SECTIONS.iter().any(|s| s.to_ascii_uppercase() == **n)
                });
            let Some(name) = name else {
                return Err(err(
                    origin,
                    l.no,
                    1,
                    format!(
                        "LXC has no architecture section {raw:?} (one of [all], [x86], [x86_64], [x32], [arm], [arm64], [ppc64le], [s390x], ...)"
                    ),
                ));
            };
            let lower = name.to_ascii_lowercase();
            reading =
                lower == "all" || family.is_some_and(|(_, read)| read.contains(&lower.as_str()));
            continue;
        }
        if !reading {
            continue;
        }
        if let Some(e) = rule(raw, l.no, origin, rule_default, opts, &mut warnings)? {
            entries.push(e);
        }
    }
    // What makes LXC refuse the policy (the container does not start).
    let default_action =
        crate::import::action(default, default_errno, origin, &JsonPath::root(), "default")?;
    for (e, (line, col)) in &entries {
        let a = crate::import::action(e.action, e.errno_ret, origin, &JsonPath::root(), "errno")?;
        if a == default_action {
            return Err(err(
                origin,
                *line,
                *col,
                format!(
                    "the rule's action is the policy's default ({}): libseccomp refuses it, so LXC would not load this policy",
                    a
                ),
            ));
        }
        if !e.args.is_empty() && abis.contains(&Arch::X86) {
            let n = &e.names[0];
            if let Some(m) = sc::multiplexed(Arch::X86, n) {
                let via = match m.via {
                    sc::Multiplexer::Socketcall => "socketcall",
                    sc::Multiplexer::Ipc => "ipc",
                };
                return Err(err(
                    origin,
                    *line,
                    *col,
                    format!(
                        "argument conditions on {n}: on x86, which LXC adds on an {} host, {n} is also reached through {via} and libseccomp refuses the exact rule LXC adds (EINVAL), so LXC would not load this policy",
                        host.name()
                    ),
                ));
            }
        }
    }
    let s = Seccomp {
        default_action: default,
        default_errno_ret: default_errno,
        architectures: abis.iter().map(|a| arch_token(*a).to_string()).collect(),
        arch_map: Vec::new(),
        syscalls: entries.into_iter().map(|(e, _)| e).collect(),
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    };
    let o = Options {
        host: Some(abis[0]),
        arches: Some(abis.clone()),
        ..opts.clone()
    };
    let imported = crate::import::import(&s, origin, &JsonPath::root(), &o).map_err(relocate)?;
    warnings.extend(
        imported
            .warnings
            .iter()
            .map(|w| relocate_warning(w, origin)),
    );
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# {origin}: an LXC seccomp policy as LXC reads it on an {} host",
        host.name()
    );
    text.push_str(&imported.text);
    let policy = moat_policy::Policy::parse(&text, &format!("{origin} (as moat)"))?;
    Ok(Loaded {
        policy,
        format: InputFormat::Lxc,
        text,
        warnings,
        extras: Extras::default(),
    })
}

/// One rule line of a version 2 policy: an entry and where it is (line, column), or nothing for
/// a line LXC skips.
fn rule(
    raw: &str,
    no: usize,
    origin: &str,
    rule_default: ScmpAction,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<Option<Located>, Error> {
    // The action: what follows the first space, unless that is empty or a comment.
    if raw.starts_with(' ') {
        let after = raw.trim_start_matches(' ');
        if !after.is_empty() && !after.starts_with('#') {
            return Err(err(
                origin,
                no,
                1,
                "a line that starts with a space: LXC reads what follows the first space as the action (remove the indentation)",
            ));
        }
    }
    let (action, errno_ret) = match raw.find(' ') {
        None => (rule_default, None),
        Some(i) => {
            let after = raw[i + 1..].trim_start_matches(' ');
            if after.is_empty() || after.starts_with('#') {
                (rule_default, None)
            } else {
                match action_word(&raw[i + 1..], origin, no, i + 2, warnings)? {
                    Some(a) => a,
                    None => (rule_default, None),
                }
            }
        }
    };
    // Conditions: LXC splits the line at every ']' (strtok: empty pieces skipped) and reads at
    // most six pieces, each from its '['.
    let mut args = Vec::new();
    if raw.contains('[') {
        let mut offset = 0;
        let mut pieces = 0;
        for piece in raw.split(']') {
            let start = offset;
            offset += piece.len() + 1;
            if piece.is_empty() {
                continue;
            }
            if pieces == 6 {
                warnings.push(format!(
                    "{origin}:{no}:{}: LXC reads six argument conditions per rule and ignores the rest",
                    start + 1
                ));
                break;
            }
            pieces += 1;
            let Some(b) = piece.find('[') else {
                return Err(err(
                    origin,
                    no,
                    start + 1,
                    format!(
                        "{:?} after a condition: LXC expects only [index,value,op] groups there",
                        piece.trim()
                    ),
                ));
            };
            let a = arg(&piece[b + 1..], origin, no, start + b + 1)?;
            if args.iter().any(|x: &Arg| x.index == a.index) {
                return Err(err(
                    origin,
                    no,
                    start + b + 1,
                    format!(
                        "argument {} is compared twice: libseccomp refuses that, so LXC would not load this policy",
                        a.index
                    ),
                ));
            }
            args.push(a);
        }
    }
    let name = raw.split(' ').next().unwrap_or("");
    if name.starts_with("reject_force_umount") {
        return Ok(Some((
            Entry {
                names: vec!["umount2".into()],
                action: ScmpAction::Errno,
                errno_ret: Some(EACCES),
                args: vec![Arg {
                    index: 1,
                    value: MNT_FORCE,
                    value_two: MNT_FORCE,
                    op: ScmpOp::MaskedEq,
                }],
                comment: Some("reject_force_umount".into()),
                includes: Default::default(),
                excludes: Default::default(),
                path: Some(JsonPath::new(&format!("{no}:1"))),
            },
            (no, 1),
        )));
    }
    if name.is_empty() {
        warnings.push(format!(
            "{origin}:{no}:1: LXC ignores a line that starts with a space (the syscall name is empty)"
        ));
        return Ok(None);
    }
    if !sc::is_known(name) && sc::foreign(name).is_none() {
        let hint = sc::suggest(name)
            .map(|s| format!(" (did you mean \"{s}\"?)"))
            .unwrap_or_default();
        if opts.allow_unknown_names {
            warnings.push(format!(
                "{origin}:{no}:1: skipped syscall {name:?}, unknown to moat{hint}"
            ));
            return Ok(None);
        }
        return Err(err(
            origin,
            no,
            1,
            format!("unknown syscall {name:?}{hint} (--allow-unknown-names skips it)"),
        ));
    }
    Ok(Some((
        Entry {
            names: vec![name.to_string()],
            action,
            errno_ret,
            args,
            comment: Some(format!("line {no}")),
            includes: Default::default(),
            excludes: Default::default(),
            path: Some(JsonPath::new(&format!("{no}:1"))),
        },
        (no, 1),
    )))
}

/// A version 1 policy: native syscall numbers, one per line, allowed; everything else killed.
fn v1<'a>(
    lines: impl Iterator<Item = Line<'a>>,
    origin: &str,
    host: Arch,
    opts: &Options,
) -> Result<Loaded, Error> {
    let mut entries = Vec::new();
    for l in lines {
        // `sscanf(line, "%d")` must read a number: blank lines and comments are errors too.
        let Some(nr) = c_int(l.text) else {
            return Err(err(
                origin,
                l.no,
                1,
                "a version 1 policy holds one syscall number per line",
            ));
        };
        let name = u32::try_from(nr)
            .ok()
            .and_then(|n| host.by_nr(n))
            .map(|s| s.name)
            .ok_or_else(|| {
                err(
                    origin,
                    l.no,
                    1,
                    format!("{} has no syscall number {nr}", host.name()),
                )
            })?;
        entries.push(Entry {
            names: vec![name.to_string()],
            action: ScmpAction::Allow,
            errno_ret: None,
            args: Vec::new(),
            comment: Some(format!("line {}: {nr}", l.no)),
            includes: Default::default(),
            excludes: Default::default(),
            path: Some(JsonPath::new(&format!("{}:1", l.no))),
        });
    }
    let s = Seccomp {
        default_action: ScmpAction::Kill,
        default_errno_ret: None,
        architectures: vec![arch_token(host).to_string()],
        arch_map: Vec::new(),
        syscalls: entries,
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    };
    let o = Options {
        host: Some(host),
        arches: Some(vec![host]),
        ..opts.clone()
    };
    let imported = crate::import::import(&s, origin, &JsonPath::root(), &o).map_err(relocate)?;
    let mut text = format!("# {origin}: an LXC version 1 policy (native syscall numbers)\n");
    text.push_str(&imported.text);
    let policy = moat_policy::Policy::parse(&text, &format!("{origin} (as moat)"))?;
    Ok(Loaded {
        policy,
        format: InputFormat::Lxc,
        warnings: imported
            .warnings
            .iter()
            .map(|w| relocate_warning(w, origin))
            .collect(),
        text,
        extras: Extras::default(),
    })
}

/// The line and column an entry path `L:C` (or `L:C.names[0]`) stands for.
fn location(path: &str) -> Option<(usize, usize)> {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    let (l, c) = path[..end].split_once(':')?;
    Some((l.parse().ok()?, c.parse().ok()?))
}

/// An error of the JSON importer about an entry, as `file:line:col`.
fn relocate(e: Error) -> Error {
    match e {
        Error::Input {
            origin,
            path,
            message,
        } => match location(&path.to_string()) {
            Some((line, col)) => Error::Syntax {
                origin,
                line,
                col,
                message,
            },
            None => Error::Input {
                origin,
                path,
                message,
            },
        },
        other => other,
    }
}

/// A warning of the JSON importer (`origin: L:C.names[0]: ...`) as `origin:L:C: ...`.
fn relocate_warning(w: &str, origin: &str) -> String {
    let Some(rest) = w.strip_prefix(&format!("{origin}: ")) else {
        return w.to_string();
    };
    let Some((path, msg)) = rest.split_once(": ") else {
        return w.to_string();
    };
    match location(path) {
        Some((l, c)) => format!("{origin}:{l}:{c}: {msg}"),
        None => w.to_string(),
    }
}

/// An LXC seccomp policy (version 2) for `policy` on `host`'s filter: the OCI export's rules
/// (guards resolved for `ctx`), one line per syscall name, under `[all]`.
///
/// Losses: those of the OCI export; `kill-process` becomes `kill` (the thread), `log` becomes
/// `allow`, `trace` becomes `errno ENOSYS`; argument conditions on calls x86 multiplexes through
/// `socketcall`/`ipc` (which LXC cannot load on an x86-64 host) give way to the call's most
/// restrictive action; `flags` and listener settings are left out. A policy that leaves out an
/// ABI LXC's filter holds on `host` (x86 or x32 on an x86-64 host) is refused: LXC applies every
/// rule to all of them.
pub fn export(
    loaded: &Loaded,
    ctx: &moat_policy::Context,
    host: Arch,
) -> Result<crate::Exported, crate::ExportError> {
    use crate::ExportError;
    use crate::target::Loss;
    use moat_policy::Action;

    let (s, mut losses) = crate::to_seccomp(&loaded.policy, ctx, &Extras::default())?;
    let family: Vec<Arch> = host_abis(host).map_or_else(|| vec![host], |(a, _)| a.to_vec());
    for a in &family {
        if !s.architectures.iter().any(|t| t == arch_token(*a)) {
            return Err(ExportError::Unsupported(format!(
                "LXC's filter on an {} host applies every rule to {}; {} is left out here (the policy refuses it, or a rule on a call it multiplexes through socketcall/ipc cannot be written exactly: see `--to oci`), which an LXC policy cannot say",
                host.name(),
                family
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.name()
            )));
        }
    }
    if !loaded.extras.flags.is_empty()
        || loaded.extras.listener_path.is_some()
        || loaded.extras.listener_metadata.is_some()
    {
        losses.push(Loss(
            "LXC policies have no flags, listenerPath or listenerMetadata: they are left out"
                .into(),
        ));
    }
    let to_action = |a: ScmpAction, e: Option<u32>| {
        crate::import::action(a, e, "", &JsonPath::root(), "errnoRet")
            .map_err(|err| ExportError::Unsupported(err.to_string()))
    };
    // What LXC can say for an action, and the loss when it cannot.
    let word = |a: Action, losses: &mut Vec<Loss>, what: &str| -> String {
        match a {
            Action::Allow => "allow".into(),
            Action::Errno(e) => format!("errno {e}"),
            Action::KillThread => "kill".into(),
            Action::KillProcess => {
                losses.push(Loss(format!(
                    "{what}: LXC's kill kills the thread, not the process"
                )));
                "kill".into()
            }
            Action::Trap(_) => "trap".into(),
            Action::Notify => "notify".into(),
            Action::Log => {
                losses.push(Loss(format!(
                    "{what}: LXC has no log action: the calls run without being logged"
                )));
                "allow".into()
            }
            Action::Trace(_) => {
                losses.push(Loss(format!(
                    "{what}: LXC has no trace action: the calls fail with ENOSYS (what they get without a tracer)"
                )));
                "errno 38".into()
            }
        }
    };
    let default = to_action(s.default_action, s.default_errno_ret)?;
    let default_word = word(default, &mut losses, "the default action");
    // Per name: its entries (action, conditions).
    let mut names: std::collections::BTreeMap<String, Vec<(Action, Vec<crate::seccomp::Arg>)>> =
        std::collections::BTreeMap::new();
    for e in &s.syscalls {
        let a = to_action(e.action, e.errno_ret)?;
        for n in &e.names {
            names
                .entry(n.clone())
                .or_default()
                .push((a, e.args.clone()));
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "2");
    if default == Action::Allow {
        let _ = writeln!(out, "denylist");
    } else {
        let _ = writeln!(out, "allowlist {default_word}");
    }
    let _ = writeln!(
        out,
        "# moat: an LXC seccomp policy (lxc.seccomp.profile, LXD and Incus raw.seccomp)"
    );
    let _ = writeln!(out, "[all]");
    for (name, mut entries) in names {
        let conditional = entries.iter().any(|(_, c)| !c.is_empty());
        let mux = sc::multiplexed(Arch::X86, &name).filter(|_| family.contains(&Arch::X86));
        if let Some(m) = mux.filter(|_| conditional) {
            let strictest = Action::strictest(
                entries
                    .iter()
                    .map(|(a, _)| *a)
                    .chain(std::iter::once(default)),
            )
            .unwrap_or(default);
            let via = match m.via {
                sc::Multiplexer::Socketcall => "socketcall",
                sc::Multiplexer::Ipc => "ipc",
            };
            losses.push(Loss(format!(
                "{name}: LXC cannot load argument conditions on it (x86 reaches it through {via}); it gets `{strictest}` for every call"
            )));
            losses.push(Loss(format!(
                "{via}: on x86 its call {} gets `{strictest}` too: libseccomp applies the rule on {name} to it",
                m.call
            )));
            entries = vec![(strictest, Vec::new())];
        }
        for (a, conds) in entries {
            // LXC refuses a rule whose action is the default (libseccomp does).
            if a == default {
                continue;
            }
            let w = word(a, &mut losses, &name);
            let mut line = format!("{name} {w}");
            for c in conds {
                let op = c.op.token();
                if c.op == ScmpOp::MaskedEq {
                    let _ = write!(
                        line,
                        " [{},{:#x},{op},{:#x}]",
                        c.index, c.value_two, c.value
                    );
                } else {
                    let _ = write!(line, " [{},{:#x},{op}]", c.index, c.value);
                }
            }
            let _ = writeln!(out, "{line}");
        }
    }
    losses.dedup();
    Ok(crate::Exported {
        data: out.into_bytes(),
        losses,
        notes: vec![
            "set lxc.seccomp.profile = FILE in the container's config (LXD, Incus: raw.seccomp)"
                .into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_numbers_read_as_lxc_reads_them() {
        assert_eq!(c_u64("0x10"), Some(16));
        assert_eq!(c_u64("010"), Some(8));
        assert_eq!(c_u64(" 7"), Some(7));
        assert_eq!(c_u64("-1"), None);
        assert_eq!(c_u64("7 "), None);
        assert_eq!(c_int(" 38 [0,1,==]"), Some(38));
        assert_eq!(c_index("0x2,"), Some((2, 3)));
    }

    #[test]
    fn masked_eq_keeps_the_mask_in_value() {
        let a = arg("1,8192,SCMP_CMP_MASKED_EQ,61440", "t", 1, 1).unwrap();
        assert_eq!((a.index, a.value, a.value_two), (1, 61440, 8192));
        let a = arg("0,5,==", "t", 1, 1).unwrap();
        assert_eq!((a.value, a.op), (5, ScmpOp::Eq));
        // sscanf stops the operator at a digit and ignores what it cannot match.
        let a = arg("0,5,==7", "t", 1, 1).unwrap();
        assert_eq!(a.op, ScmpOp::Eq);
        assert!(arg("0, 5, ==", "t", 1, 1).is_err());
        assert!(arg("6,5,==", "t", 1, 1).is_err());
    }

    #[test]
    fn sniff_wants_a_version_and_a_policy_type() {
        assert!(sniff("2\ndenylist\nmount\n"));
        assert!(sniff("2\nallowlist kill\n"));
        assert!(sniff("1\nwhitelist\n0\n"));
        assert!(sniff("3\ngraylist\n"));
        assert!(!sniff("default allow\n"));
    }
}
