//! security-profiles-operator `SeccompProfile` documents (YAML or JSON), v1 and v1beta1.

use serde_json::Value;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use crate::error::{Error, JsonPath};
use crate::seccomp::{Reader, Seccomp};
use crate::{InputFormat, Loaded, Options};

/// The most nodes a YAML stream may expand to, aliases counted at their full size: a
/// 540-byte "billion laughs" (aliases of aliases) would otherwise expand to gigabytes.
pub const MAX_YAML_NODES: u64 = 200_000;
/// The deepest a YAML stream may nest sequences and mappings (a profile needs 6).
pub const MAX_YAML_DEPTH: usize = 64;

/// Counts what the YAML loader would build before it builds it.
#[derive(Default)]
struct Budget {
    /// Node count of each anchored node, by anchor id.
    sizes: std::collections::HashMap<usize, u64>,
    /// Open collections: their anchor and the count when they started.
    open: Vec<(usize, u64)>,
    count: u64,
    over: Option<(yaml_rust2::scanner::Marker, String)>,
}

impl yaml_rust2::parser::MarkedEventReceiver for Budget {
    fn on_event(&mut self, ev: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        if self.over.is_some() {
            return;
        }
        match ev {
            Event::Scalar(_, _, anchor, _) => {
                self.count += 1;
                if anchor > 0 {
                    self.sizes.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((anchor, self.count));
                self.count += 1;
                if self.open.len() > MAX_YAML_DEPTH {
                    self.over = Some((mark, format!("nested deeper than {MAX_YAML_DEPTH} levels")));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = self.open.pop()
                    && anchor > 0
                {
                    self.sizes.insert(anchor, self.count - start);
                }
            }
            Event::Alias(id) => {
                self.count = self
                    .count
                    .saturating_add(self.sizes.get(&id).copied().unwrap_or(1));
            }
            _ => {}
        }
        if self.count > MAX_YAML_NODES && self.over.is_none() {
            self.over = Some((
                mark,
                format!("expands to more than {MAX_YAML_NODES} nodes (aliases of aliases?)"),
            ));
        }
    }
}

/// Refuses a YAML stream whose aliases expand past [`MAX_YAML_NODES`] or that nests past
/// [`MAX_YAML_DEPTH`], before anything is expanded. Syntax errors are left to the loader.
fn check_budget(text: &str, origin: &str) -> Result<(), Error> {
    let mut budget = Budget::default();
    let _ = yaml_rust2::parser::Parser::new_from_str(text).load(&mut budget, true);
    match budget.over {
        None => Ok(()),
        Some((mark, message)) => Err(Error::Syntax {
            origin: origin.to_string(),
            line: mark.line().max(1),
            col: mark.col() + 1,
            message,
        }),
    }
}

/// The API group of security-profiles-operator.
pub const GROUP: &str = "security-profiles-operator.x-k8s.io";
/// The versions the CRD serves.
pub const VERSIONS: &[&str] = &["v1", "v1beta1"];

/// Every YAML document of `text` as a JSON value (empty documents are left out).
///
/// Errors name the line and column of a syntax error, or the path of a value JSON cannot hold
/// (aliases, non-string keys).
pub fn documents(text: &str, origin: &str) -> Result<Vec<Value>, Error> {
    check_budget(text, origin)?;
    let docs = YamlLoader::load_from_str(text).map_err(|e| Error::Syntax {
        origin: origin.to_string(),
        line: e.marker().line().max(1),
        col: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    let multi = docs.len() > 1;
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let path = if multi {
            JsonPath::new(&format!("documents[{i}]"))
        } else {
            JsonPath::root()
        };
        let v = to_json(d, origin, &path)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn to_json(y: &Yaml, origin: &str, path: &JsonPath) -> Result<Value, Error> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(s) => match s.parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::String(s.clone()), Value::Number),
        },
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| to_json(v, origin, &path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(h) => {
            let mut m = serde_json::Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => {
                        return Err(Error::input(
                            origin,
                            path,
                            "a mapping key that is not a string",
                        ));
                    }
                };
                let p = path.key(&key);
                m.insert(key, to_json(v, origin, &p)?);
            }
            Value::Object(m)
        }
        Yaml::Alias(_) => return Err(Error::input(origin, path, "YAML aliases are not supported")),
        Yaml::BadValue => return Err(Error::input(origin, path, "a value YAML could not read")),
    })
}

/// A JSON value as YAML (block style): what the SPO export writes.
pub fn to_yaml_text(v: &Value) -> String {
    let mut out = String::new();
    let mut e = YamlEmitter::new(&mut out);
    // Writing to a String cannot fail.
    let _ = e.dump(&to_yaml(v));
    out.push('\n');
    out
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        Value::Object(m) => {
            let mut h = yaml_rust2::yaml::Hash::new();
            for (k, v) in m {
                h.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// Reads every YAML document of `text` as a SeccompProfile (a `List` document's items each count
/// as one).
pub(crate) fn load_yaml(text: &str, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let docs = documents(text, origin)?;
    let multi = docs.len() > 1;
    let docs: Vec<(JsonPath, &Value)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let path = if multi {
                JsonPath::new(&format!("documents[{i}]"))
            } else {
                JsonPath::root()
            };
            (path, d)
        })
        .collect();
    load_documents(&docs, origin, opts)
}

/// True for a Kubernetes list object: `kind: List` (what `kubectl get -o yaml` prints for
/// several objects) or `kind: SeccompProfileList` (the CRD's list kind), with `items`.
pub(crate) fn is_list(v: &Value) -> bool {
    matches!(
        v.get("kind").and_then(Value::as_str),
        Some("List" | "SeccompProfileList")
    )
}

/// The documents with every list replaced by its items (`documents[1].items[0]`).
fn flatten<'a>(
    docs: &[(JsonPath, &'a Value)],
    origin: &str,
) -> Result<Vec<(JsonPath, &'a Value)>, Error> {
    let r = Reader { origin };
    let mut out = Vec::new();
    for (path, d) in docs {
        if !is_list(d) {
            out.push((path.clone(), *d));
            continue;
        }
        let m = r.object(d, path)?;
        r.fields(m, path, &["apiVersion", "kind", "metadata", "items"])?;
        let items_path = path.key("items");
        let items = match m.get("items") {
            Some(Value::Array(a)) => a,
            Some(Value::Null) | None => return Err(r.err(path, "a List with no \"items\"")),
            Some(other) => {
                return Err(r.err(
                    &items_path,
                    format!("expected an array, found {}", crate::seccomp::kind(other)),
                ));
            }
        };
        for (j, item) in items.iter().enumerate() {
            if is_list(item) {
                return Err(r.err(&items_path.index(j), "a List inside a List"));
            }
            out.push((items_path.index(j), item));
        }
    }
    Ok(out)
}

struct Doc<'a> {
    name: String,
    path: JsonPath,
    spec: &'a Value,
    base: Option<(String, JsonPath)>,
}

/// Reads SeccompProfile documents and picks the profile: the one no other document names as its
/// base (an error when there are several).
pub(crate) fn load_documents(
    docs: &[(JsonPath, &Value)],
    origin: &str,
    opts: &Options,
) -> Result<Loaded, Error> {
    let r = Reader { origin };
    let docs = flatten(docs, origin)?;
    if docs.is_empty() {
        return Err(Error::input(
            origin,
            &JsonPath::root(),
            "no SeccompProfile (no YAML document, or an empty List)",
        ));
    }
    let mut parsed = Vec::new();
    for (path, d) in docs {
        let m = r.object(d, &path)?;
        let api = match m.get("apiVersion") {
            Some(v) => r.string(v, &path.key("apiVersion"))?,
            None => return Err(r.err(&path, "missing field \"apiVersion\"")),
        };
        let version = api
            .strip_prefix(GROUP)
            .and_then(|v| v.strip_prefix('/'))
            .filter(|v| VERSIONS.contains(v));
        if version.is_none() {
            return Err(r.err(
                &path.key("apiVersion"),
                format!(
                    "unsupported apiVersion \"{api}\" (expected {GROUP}/v1 or {GROUP}/v1beta1)"
                ),
            ));
        }
        let kind = match m.get("kind") {
            Some(v) => r.string(v, &path.key("kind"))?,
            None => return Err(r.err(&path, "missing field \"kind\"")),
        };
        if kind != "SeccompProfile" {
            return Err(r.err(
                &path.key("kind"),
                format!("unsupported kind \"{kind}\" (expected \"SeccompProfile\")"),
            ));
        }
        r.fields(
            m,
            &path,
            &["apiVersion", "kind", "metadata", "spec", "status"],
        )?;
        let name = match m.get("metadata").and_then(|md| md.get("name")) {
            Some(n) => r.string(n, &path.key("metadata").key("name"))?,
            None => String::new(),
        };
        let spec_path = path.key("spec");
        let Some(spec) = m.get("spec") else {
            return Err(r.err(&path, "missing field \"spec\""));
        };
        let sm = r.object(spec, &spec_path)?;
        let base = match sm.get("baseProfileName") {
            None | Some(Value::Null) => None,
            Some(b) => {
                let bp = spec_path.key("baseProfileName");
                let s = r.string(b, &bp)?;
                if s.is_empty() { None } else { Some((s, bp)) }
            }
        };
        parsed.push(Doc {
            name,
            path: spec_path,
            spec,
            base,
        });
    }
    // Every base must be in the file.
    for d in &parsed {
        if let Some((b, bp)) = &d.base {
            if b.starts_with("oci://") {
                return Err(r.err(
                    bp,
                    format!("remote base profile \"{b}\" cannot be read; put the base profile in this file"),
                ));
            }
            if !parsed.iter().any(|o| o.name == *b) {
                return Err(r.err(bp, format!("no SeccompProfile named \"{b}\" in this file")));
            }
        }
    }
    // The profile: not a base of another document.
    let is_base = |d: &Doc<'_>| {
        parsed.iter().any(|o| {
            o.base
                .as_ref()
                .is_some_and(|(b, _)| *b == d.name && !d.name.is_empty())
        })
    };
    let tops: Vec<usize> = (0..parsed.len())
        .filter(|i| !is_base(&parsed[*i]))
        .collect();
    let names = || {
        parsed
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(want) = &opts.profile {
        let Some(i) = parsed.iter().position(|d| d.name == *want) else {
            return Err(r.err(
                &JsonPath::root(),
                format!(
                    "no SeccompProfile named \"{want}\" in this file (it has: {})",
                    names()
                ),
            ));
        };
        return load_one(&parsed, i, origin, opts);
    }
    let top = match tops.as_slice() {
        [one] => *one,
        [] => {
            return Err(r.err(
                &JsonPath::root(),
                "every profile is another one's base: baseProfileName forms a cycle",
            ));
        }
        many => {
            let names: Vec<&str> = many.iter().map(|i| parsed[*i].name.as_str()).collect();
            return Err(r.err(
                &JsonPath::root(),
                format!(
                    "several independent SeccompProfiles ({}); pick one with FILE#NAME or --profile-name NAME",
                    names.join(", ")
                ),
            ));
        }
    };
    load_one(&parsed, top, origin, opts)
}

/// The profile `top` with its base chain.
fn load_one(parsed: &[Doc<'_>], top: usize, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let r = Reader { origin };
    // Union the base chain into the top profile: base entries first, then the profile's own.
    let mut chain = vec![top];
    let mut cur = top;
    while let Some((b, bp)) = &parsed[cur].base {
        if b.starts_with("oci://") {
            return Err(r.err(
                bp,
                format!(
                    "remote base profile \"{b}\" cannot be read; put the base profile in this file"
                ),
            ));
        }
        let Some(next) = parsed.iter().position(|d| d.name == *b) else {
            return Err(r.err(bp, format!("no SeccompProfile named \"{b}\" in this file")));
        };
        if chain.contains(&next) {
            return Err(r.err(bp, format!("baseProfileName cycle through \"{b}\"")));
        }
        chain.push(next);
        cur = next;
    }
    let extra = ["baseProfileName", "state", "disabled"];
    let mut profile = Seccomp::from_value(parsed[top].spec, origin, &parsed[top].path, &extra)?;
    let mut calls = Vec::new();
    for i in chain.iter().skip(1).rev() {
        let base = Seccomp::from_value(parsed[*i].spec, origin, &parsed[*i].path, &extra)?;
        calls.extend(base.syscalls);
    }
    calls.append(&mut profile.syscalls);
    profile.syscalls = calls;
    crate::finish(&profile, origin, &parsed[top].path, opts, InputFormat::Spo)
}
