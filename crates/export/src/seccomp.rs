//! The Docker/moby and OCI `linux.seccomp` JSON model, read strictly from a JSON (or YAML) value
//! with errors that name the offending path, and written back as JSON.
//!
//! Docker's profile format is a superset of OCI's: it adds `archMap`, per-entry `comment`,
//! `includes`/`excludes` and the deprecated single `name`. Both are read by [`Seccomp::from_value`].

use serde_json::{Map, Value, json};

use crate::error::{Error, JsonPath};

/// `SCMP_ACT_*` as written in a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScmpAction {
    /// `SCMP_ACT_KILL` (runc: kill the thread).
    Kill,
    /// `SCMP_ACT_KILL_PROCESS`.
    KillProcess,
    /// `SCMP_ACT_KILL_THREAD`.
    KillThread,
    /// `SCMP_ACT_TRAP`.
    Trap,
    /// `SCMP_ACT_ERRNO` (with `errnoRet`, default EPERM).
    Errno,
    /// `SCMP_ACT_TRACE` (with `errnoRet` as the tracer's value, default EPERM like runc).
    Trace,
    /// `SCMP_ACT_ALLOW`.
    Allow,
    /// `SCMP_ACT_LOG`.
    Log,
    /// `SCMP_ACT_NOTIFY`.
    Notify,
}

/// Every action token, for messages and suggestions.
pub const ACTIONS: &[(&str, ScmpAction)] = &[
    ("SCMP_ACT_KILL", ScmpAction::Kill),
    ("SCMP_ACT_KILL_PROCESS", ScmpAction::KillProcess),
    ("SCMP_ACT_KILL_THREAD", ScmpAction::KillThread),
    ("SCMP_ACT_TRAP", ScmpAction::Trap),
    ("SCMP_ACT_ERRNO", ScmpAction::Errno),
    ("SCMP_ACT_TRACE", ScmpAction::Trace),
    ("SCMP_ACT_ALLOW", ScmpAction::Allow),
    ("SCMP_ACT_LOG", ScmpAction::Log),
    ("SCMP_ACT_NOTIFY", ScmpAction::Notify),
];

impl ScmpAction {
    /// The token.
    pub fn token(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("SCMP_ACT_KILL", |(t, _)| t)
    }
}

/// `SCMP_CMP_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScmpOp {
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `arg & value == valueTwo`
    MaskedEq,
}

/// Every operator token.
pub const OPS: &[(&str, ScmpOp)] = &[
    ("SCMP_CMP_NE", ScmpOp::Ne),
    ("SCMP_CMP_LT", ScmpOp::Lt),
    ("SCMP_CMP_LE", ScmpOp::Le),
    ("SCMP_CMP_EQ", ScmpOp::Eq),
    ("SCMP_CMP_GE", ScmpOp::Ge),
    ("SCMP_CMP_GT", ScmpOp::Gt),
    ("SCMP_CMP_MASKED_EQ", ScmpOp::MaskedEq),
];

impl ScmpOp {
    /// The token.
    pub fn token(self) -> &'static str {
        OPS.iter()
            .find(|(_, o)| *o == self)
            .map_or("SCMP_CMP_EQ", |(t, _)| t)
    }
}

/// Every `SCMP_ARCH_*` token libseccomp and the OCI schema know (moat supports a subset).
pub const ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

/// Every `SECCOMP_FILTER_FLAG_*` the OCI schema allows.
pub const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Docker's architecture names in `includes.arches`/`excludes.arches` (Go's GOARCH spelling,
/// moby `goToNative`).
pub const DOCKER_ARCHES: &[&str] = &[
    "amd64",
    "x86",
    "x32",
    "arm64",
    "arm",
    "riscv64",
    "ppc64le",
    "ppc64",
    "ppc",
    "s390x",
    "s390",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64n32",
    "mips64len32",
    "386",
];

/// A Docker `archMap` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchMapEntry {
    /// The host architecture (`SCMP_ARCH_*`).
    pub architecture: String,
    /// The ABIs the filter also accepts on that host.
    pub sub_architectures: Vec<String>,
}

/// `includes` or `excludes` of a Docker entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Capabilities, `CAP_*`.
    pub caps: Vec<String>,
    /// Docker architecture names (`amd64`, `arm64`, ...).
    pub arches: Vec<String>,
    /// `major.minor`.
    pub min_kernel: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// One argument comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Argument index, 0..=5.
    pub index: u8,
    /// The value (for `SCMP_CMP_MASKED_EQ`, the mask).
    pub value: u64,
    /// For `SCMP_CMP_MASKED_EQ`, the expected masked value.
    pub value_two: u64,
    /// The operator.
    pub op: ScmpOp,
}

/// One `syscalls[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Syscall names.
    pub names: Vec<String>,
    /// The action.
    pub action: ScmpAction,
    /// `errnoRet`.
    pub errno_ret: Option<u32>,
    /// Conditions (runc: ANDed, unless an index repeats, then every comparison is its own rule).
    pub args: Vec<Arg>,
    /// Docker's `comment`.
    pub comment: Option<String>,
    /// Docker's `includes`.
    pub includes: Filter,
    /// Docker's `excludes`.
    pub excludes: Filter,
    /// Where the entry was read (for messages), when it came from a document.
    pub path: Option<JsonPath>,
}

/// A `linux.seccomp` section or Docker profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seccomp {
    /// `defaultAction`.
    pub default_action: ScmpAction,
    /// `defaultErrnoRet`.
    pub default_errno_ret: Option<u32>,
    /// `architectures`.
    pub architectures: Vec<String>,
    /// Docker's `archMap`.
    pub arch_map: Vec<ArchMapEntry>,
    /// `syscalls`.
    pub syscalls: Vec<Entry>,
    /// `flags`.
    pub flags: Vec<String>,
    /// `listenerPath`.
    pub listener_path: Option<String>,
    /// `listenerMetadata`.
    pub listener_metadata: Option<String>,
}

/// Closest candidate for "did you mean" ([`moat_syscalls::closest`]).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    moat_syscalls::closest(word, candidates)
}

fn suggestion(hint: Option<&str>) -> String {
    hint.map(|h| format!(" (did you mean \"{h}\"?)"))
        .unwrap_or_default()
}

/// A path-aware reader of JSON values.
pub(crate) struct Reader<'a> {
    pub origin: &'a str,
}

impl Reader<'_> {
    pub(crate) fn err(&self, path: &JsonPath, message: impl Into<String>) -> Error {
        Error::input(self.origin, path, message)
    }

    pub(crate) fn object<'v>(
        &self,
        v: &'v Value,
        path: &JsonPath,
    ) -> Result<&'v Map<String, Value>, Error> {
        v.as_object()
            .ok_or_else(|| self.err(path, format!("expected an object, found {}", kind(v))))
    }

    /// Rejects fields not in `known`.
    pub(crate) fn fields(
        &self,
        m: &Map<String, Value>,
        path: &JsonPath,
        known: &[&str],
    ) -> Result<(), Error> {
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                let hint = closest(k, known.iter().copied());
                return Err(self.err(
                    &path.key(k),
                    format!("unknown field \"{k}\"{}", suggestion(hint)),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn string(&self, v: &Value, path: &JsonPath) -> Result<String, Error> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(path, format!("expected a string, found {}", kind(v))))
    }

    pub(crate) fn u64(&self, v: &Value, path: &JsonPath) -> Result<u64, Error> {
        match v {
            Value::Number(n) => n.as_u64().ok_or_else(|| {
                self.err(
                    path,
                    format!("expected an unsigned 64-bit integer, found {n}"),
                )
            }),
            other => Err(self.err(
                path,
                format!("expected an unsigned integer, found {}", kind(other)),
            )),
        }
    }

    pub(crate) fn u32(&self, v: &Value, path: &JsonPath) -> Result<u32, Error> {
        let n = self.u64(v, path)?;
        u32::try_from(n)
            .map_err(|_| self.err(path, format!("{n} does not fit an unsigned 32-bit integer")))
    }

    pub(crate) fn array<'v>(&self, v: &'v Value, path: &JsonPath) -> Result<&'v [Value], Error> {
        v.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.err(path, format!("expected an array, found {}", kind(v))))
    }

    pub(crate) fn strings(&self, v: &Value, path: &JsonPath) -> Result<Vec<String>, Error> {
        if v.is_null() {
            return Ok(Vec::new());
        }
        self.array(v, path)?
            .iter()
            .enumerate()
            .map(|(i, s)| self.string(s, &path.index(i)))
            .collect()
    }

    fn action(&self, v: &Value, path: &JsonPath) -> Result<ScmpAction, Error> {
        let s = self.string(v, path)?;
        ACTIONS
            .iter()
            .find(|(t, _)| *t == s)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let hint = closest(&s, ACTIONS.iter().map(|(t, _)| *t));
                self.err(path, format!("unknown action \"{s}\"{}", suggestion(hint)))
            })
    }

    fn arch(&self, v: &Value, path: &JsonPath) -> Result<String, Error> {
        let s = self.string(v, path)?;
        if ARCHES.contains(&s.as_str()) {
            Ok(s)
        } else {
            let hint = closest(&s, ARCHES.iter().copied());
            Err(self.err(
                path,
                format!("unknown architecture \"{s}\"{}", suggestion(hint)),
            ))
        }
    }
}

/// A short description of a value's JSON type, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const TOP: &[&str] = &[
    "defaultAction",
    "defaultErrnoRet",
    "defaultErrno",
    "architectures",
    "archMap",
    "syscalls",
    "flags",
    "listenerPath",
    "listenerMetadata",
];

impl Seccomp {
    /// Reads a Docker profile or OCI `linux.seccomp` section strictly. `extra` lists further
    /// top-level fields the caller handles (SPO's `baseProfileName`, `disabled`).
    pub fn from_value(
        v: &Value,
        origin: &str,
        path: &JsonPath,
        extra: &[&str],
    ) -> Result<Seccomp, Error> {
        let r = Reader { origin };
        let m = r.object(v, path)?;
        let known: Vec<&str> = TOP.iter().chain(extra).copied().collect();
        r.fields(m, path, &known)?;
        let default_action = match m.get("defaultAction") {
            Some(a) => r.action(a, &path.key("defaultAction"))?,
            None => return Err(r.err(path, "missing field \"defaultAction\"")),
        };
        let opt_u32 =
            |key: &str, m: &Map<String, Value>, p: &JsonPath| -> Result<Option<u32>, Error> {
                match m.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => r.u32(v, &p.key(key)).map(Some),
                }
            };
        let mut default_errno_ret = opt_u32("defaultErrnoRet", m, path)?;
        // containers/common (Podman, Buildah) also reads an errno name, which wins over the
        // number when both are given (its `getErrno`).
        if let Some(n) = errno_name(&r, m.get("defaultErrno"), &path.key("defaultErrno"))? {
            default_errno_ret = Some(n);
        }
        let mut architectures = Vec::new();
        if let Some(a) = m.get("architectures").filter(|v| !v.is_null()) {
            let p = path.key("architectures");
            for (i, x) in r.array(a, &p)?.iter().enumerate() {
                architectures.push(r.arch(x, &p.index(i))?);
            }
        }
        let mut arch_map = Vec::new();
        if let Some(a) = m.get("archMap").filter(|v| !v.is_null()) {
            let p = path.key("archMap");
            for (i, e) in r.array(a, &p)?.iter().enumerate() {
                let pe = p.index(i);
                let em = r.object(e, &pe)?;
                r.fields(em, &pe, &["architecture", "subArchitectures"])?;
                let architecture = match em.get("architecture") {
                    Some(x) => r.arch(x, &pe.key("architecture"))?,
                    None => return Err(r.err(&pe, "missing field \"architecture\"")),
                };
                let mut sub_architectures = Vec::new();
                if let Some(s) = em.get("subArchitectures").filter(|v| !v.is_null()) {
                    let ps = pe.key("subArchitectures");
                    for (j, x) in r.array(s, &ps)?.iter().enumerate() {
                        sub_architectures.push(r.arch(x, &ps.index(j))?);
                    }
                }
                arch_map.push(ArchMapEntry {
                    architecture,
                    sub_architectures,
                });
            }
        }
        if !architectures.is_empty() && !arch_map.is_empty() {
            return Err(r.err(
                path,
                "both \"architectures\" and \"archMap\" are given; Docker accepts only one of them",
            ));
        }
        let mut flags = Vec::new();
        if let Some(f) = m.get("flags").filter(|v| !v.is_null()) {
            let p = path.key("flags");
            for (i, x) in r.array(f, &p)?.iter().enumerate() {
                let s = r.string(x, &p.index(i))?;
                if !FLAGS.contains(&s.as_str()) {
                    let hint = closest(&s, FLAGS.iter().copied());
                    return Err(r.err(
                        &p.index(i),
                        format!("unknown flag \"{s}\"{}", suggestion(hint)),
                    ));
                }
                flags.push(s);
            }
        }
        let opt_string = |key: &str| -> Result<Option<String>, Error> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => r.string(v, &path.key(key)).map(Some),
            }
        };
        let listener_path = opt_string("listenerPath")?;
        let listener_metadata = opt_string("listenerMetadata")?;
        let mut syscalls = Vec::new();
        if let Some(s) = m.get("syscalls").filter(|v| !v.is_null()) {
            let p = path.key("syscalls");
            for (i, e) in r.array(s, &p)?.iter().enumerate() {
                syscalls.push(entry(&r, e, &p.index(i))?);
            }
        }
        Ok(Seccomp {
            default_action,
            default_errno_ret,
            architectures,
            arch_map,
            syscalls,
            flags,
            listener_path,
            listener_metadata,
        })
    }

    /// The JSON form: OCI's fields, plus Docker's `comment` per entry when `docker` is set.
    pub fn to_value(&self, docker: bool) -> Value {
        let mut m = Map::new();
        m.insert("defaultAction".into(), json!(self.default_action.token()));
        if let Some(e) = self.default_errno_ret {
            m.insert("defaultErrnoRet".into(), json!(e));
        }
        if !self.architectures.is_empty() {
            m.insert("architectures".into(), json!(self.architectures));
        }
        if !self.arch_map.is_empty() {
            let v: Vec<Value> = self
                .arch_map
                .iter()
                .map(|a| json!({"architecture": a.architecture, "subArchitectures": a.sub_architectures}))
                .collect();
            m.insert("archMap".into(), Value::Array(v));
        }
        if !self.flags.is_empty() {
            m.insert("flags".into(), json!(self.flags));
        }
        if let Some(p) = &self.listener_path {
            m.insert("listenerPath".into(), json!(p));
        }
        if let Some(p) = &self.listener_metadata {
            m.insert("listenerMetadata".into(), json!(p));
        }
        let calls: Vec<Value> = self
            .syscalls
            .iter()
            .map(|e| {
                let mut c = Map::new();
                c.insert("names".into(), json!(e.names));
                c.insert("action".into(), json!(e.action.token()));
                if let Some(r) = e.errno_ret {
                    c.insert("errnoRet".into(), json!(r));
                }
                if !e.args.is_empty() {
                    let args: Vec<Value> = e
                        .args
                        .iter()
                        .map(|a| {
                            let mut am = Map::new();
                            am.insert("index".into(), json!(a.index));
                            am.insert("value".into(), json!(a.value));
                            if a.op == ScmpOp::MaskedEq || a.value_two != 0 {
                                am.insert("valueTwo".into(), json!(a.value_two));
                            }
                            am.insert("op".into(), json!(a.op.token()));
                            Value::Object(am)
                        })
                        .collect();
                    c.insert("args".into(), Value::Array(args));
                }
                if docker {
                    if let Some(cm) = &e.comment {
                        c.insert("comment".into(), json!(cm));
                    }
                    if !e.includes.is_empty() {
                        c.insert("includes".into(), filter_value(&e.includes));
                    }
                    if !e.excludes.is_empty() {
                        c.insert("excludes".into(), filter_value(&e.excludes));
                    }
                }
                Value::Object(c)
            })
            .collect();
        m.insert("syscalls".into(), Value::Array(calls));
        Value::Object(m)
    }
}

fn filter_value(f: &Filter) -> Value {
    let mut m = Map::new();
    if !f.caps.is_empty() {
        m.insert("caps".into(), json!(f.caps));
    }
    if !f.arches.is_empty() {
        m.insert("arches".into(), json!(f.arches));
    }
    if let Some(k) = &f.min_kernel {
        m.insert("minKernel".into(), json!(k));
    }
    Value::Object(m)
}

fn entry(r: &Reader<'_>, v: &Value, path: &JsonPath) -> Result<Entry, Error> {
    let m = r.object(v, path)?;
    r.fields(
        m,
        path,
        &[
            "names", "name", "action", "errnoRet", "errno", "args", "comment", "includes",
            "excludes",
        ],
    )?;
    let mut names = match m.get("names").filter(|v| !v.is_null()) {
        Some(n) => r.strings(n, &path.key("names"))?,
        None => Vec::new(),
    };
    if let Some(n) = m.get("name").filter(|v| !v.is_null()) {
        let one = r.string(n, &path.key("name"))?;
        if !names.is_empty() && !one.is_empty() {
            return Err(r.err(
                path,
                "both \"name\" and \"names\" are given; Docker accepts only one of them",
            ));
        }
        if !one.is_empty() {
            names.push(one);
        }
    }
    if names.is_empty() {
        return Err(r.err(path, "no syscall names (\"names\" is missing or empty)"));
    }
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(r.err(&path.key("names").index(i), "empty syscall name"));
        }
    }
    let action = match m.get("action") {
        Some(a) => r.action(a, &path.key("action"))?,
        None => return Err(r.err(path, "missing field \"action\"")),
    };
    let mut errno_ret = match m.get("errnoRet") {
        None | Some(Value::Null) => None,
        Some(v) => Some(r.u32(v, &path.key("errnoRet"))?),
    };
    // containers/common's per-rule `errno` name wins over `errnoRet`.
    if let Some(n) = errno_name(r, m.get("errno"), &path.key("errno"))? {
        errno_ret = Some(n);
    }
    let mut args = Vec::new();
    if let Some(a) = m.get("args").filter(|v| !v.is_null()) {
        let p = path.key("args");
        for (i, x) in r.array(a, &p)?.iter().enumerate() {
            let pa = p.index(i);
            let am = r.object(x, &pa)?;
            r.fields(am, &pa, &["index", "value", "valueTwo", "op"])?;
            let index = match am.get("index") {
                Some(v) => r.u64(v, &pa.key("index"))?,
                None => return Err(r.err(&pa, "missing field \"index\"")),
            };
            let index = u8::try_from(index).ok().filter(|i| *i < 6).ok_or_else(|| {
                r.err(
                    &pa.key("index"),
                    format!("argument index {index} is not 0 to 5"),
                )
            })?;
            let value = match am.get("value") {
                Some(v) => r.u64(v, &pa.key("value"))?,
                None => return Err(r.err(&pa, "missing field \"value\"")),
            };
            let value_two = match am.get("valueTwo") {
                None | Some(Value::Null) => 0,
                Some(v) => r.u64(v, &pa.key("valueTwo"))?,
            };
            let op = match am.get("op") {
                Some(o) => {
                    let s = r.string(o, &pa.key("op"))?;
                    OPS.iter()
                        .find(|(t, _)| *t == s)
                        .map(|(_, o)| *o)
                        .ok_or_else(|| {
                            let hint = closest(&s, OPS.iter().map(|(t, _)| *t));
                            r.err(
                                &pa.key("op"),
                                format!("unknown operator \"{s}\"{}", suggestion(hint)),
                            )
                        })?
                }
                None => return Err(r.err(&pa, "missing field \"op\"")),
            };
            args.push(Arg {
                index,
                value,
                value_two,
                op,
            });
        }
    }
    let comment = match m.get("comment") {
        None | Some(Value::Null) => None,
        Some(c) => Some(r.string(c, &path.key("comment"))?),
    };
    let includes = filter(r, m.get("includes"), &path.key("includes"))?;
    let excludes = filter(r, m.get("excludes"), &path.key("excludes"))?;
    Ok(Entry {
        names,
        action,
        errno_ret,
        args,
        comment,
        includes,
        excludes,
        path: Some(path.clone()),
    })
}

/// containers/common's `defaultErrno`/`errno`: an errno name (`"ENOSYS"`); empty means unset.
fn errno_name(r: &Reader<'_>, v: Option<&Value>, path: &JsonPath) -> Result<Option<u32>, Error> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = r.string(v, path)?;
    if s.is_empty() {
        return Ok(None);
    }
    match moat_syscalls::errno(&s) {
        Some(n) => Ok(Some(u32::from(n))),
        None => {
            let hint = closest(&s, ERRNO_HINTS.iter().copied());
            Err(r.err(
                path,
                format!("unknown errno name \"{s}\"{}", suggestion(hint)),
            ))
        }
    }
}

/// Errno names offered as suggestions for a misspelt one.
const ERRNO_HINTS: &[&str] = &[
    "EPERM",
    "ENOENT",
    "EINTR",
    "EIO",
    "EBADF",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "EBUSY",
    "EEXIST",
    "EINVAL",
    "ENOSPC",
    "EROFS",
    "ENOSYS",
    "ENOTSUP",
    "EOPNOTSUPP",
    "ENODEV",
    "ENXIO",
];

fn filter(r: &Reader<'_>, v: Option<&Value>, path: &JsonPath) -> Result<Filter, Error> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Filter::default());
    };
    let m = r.object(v, path)?;
    r.fields(m, path, &["caps", "arches", "minKernel"])?;
    let caps = match m.get("caps") {
        Some(c) => r.strings(c, &path.key("caps"))?,
        None => Vec::new(),
    };
    for (i, c) in caps.iter().enumerate() {
        if moat_syscalls::capability(c).is_none() {
            return Err(r.err(
                &path.key("caps").index(i),
                format!("unknown capability \"{c}\""),
            ));
        }
    }
    let arches = match m.get("arches") {
        Some(a) => r.strings(a, &path.key("arches"))?,
        None => Vec::new(),
    };
    for (i, a) in arches.iter().enumerate() {
        if !DOCKER_ARCHES.contains(&a.as_str()) {
            let hint = closest(a, DOCKER_ARCHES.iter().copied());
            return Err(r.err(
                &path.key("arches").index(i),
                format!("unknown Docker architecture \"{a}\"{}", suggestion(hint)),
            ));
        }
    }
    let min_kernel = match m.get("minKernel") {
        None | Some(Value::Null) => None,
        Some(k) => {
            let s = r.string(k, &path.key("minKernel"))?;
            if s.parse::<moat_syscalls::KernelVersion>().is_err() {
                return Err(r.err(
                    &path.key("minKernel"),
                    format!("cannot read kernel version \"{s}\" (expected MAJOR.MINOR)"),
                ));
            }
            Some(s)
        }
    };
    Ok(Filter {
        caps,
        arches,
        min_kernel,
    })
}

/// Refuses a JSON object that names a key twice. serde_json (like Go's encoding/json, which the
/// runtimes use) would keep the last value silently; a profile that says two things about one
/// field is refused instead.
pub(crate) struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_none<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !seen.insert(k.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key \"{k}\" (a runtime would keep only the last one)"
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}
