//! Policy → Docker/OCI JSON, Kubernetes, security-profiles-operator YAML, systemd, moat text,
//! BPF, KEP-6061 artifacts and LXC: [`export`] picks the writer for a [`Format`].

use moat_policy::Context;
use moat_syscalls::Arch;
use serde_json::{Value, json};

use crate::Loaded;
use crate::error::ExportError;
use crate::rules::{to_seccomp, to_seccomp_with};
use crate::seccomp::Seccomp;
use crate::target::{Exported, Format, Loss};

/// A Kubernetes object name (DNS-1123 subdomain): lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit, at most 253 characters.
pub fn k8s_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(253);
    let s = s
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if s.is_empty() {
        "policy".to_string()
    } else {
        s
    }
}

/// Exports a loaded policy. `ctx` resolves `when` guards (formats other than moat have none of
/// their own).
pub fn export(
    loaded: &Loaded,
    format: Format,
    ctx: &Context,
    name: &str,
) -> Result<Exported, ExportError> {
    let name = &k8s_name(name);
    match format {
        Format::Moat => Ok(Exported {
            data: if loaded.format == crate::InputFormat::Moat {
                loaded.policy.to_string()
            } else {
                loaded.text.clone()
            }
            .into_bytes(),
            losses: Vec::new(),
            notes: Vec::new(),
        }),
        Format::Docker | Format::Oci | Format::K8s => {
            // Docker's format (read by Docker, containerd and CRI-O for Kubernetes Localhost
            // profiles) keeps capability and kernel guards as includes/excludes; OCI has none.
            let guards = format != Format::Oci;
            let (s, losses) = to_seccomp_with(&loaded.policy, ctx, &loaded.extras, guards)?;
            let v = s.to_value(format != Format::Oci);
            let mut text = serde_json::to_string_pretty(&v)
                .map_err(|e| ExportError::Unsupported(e.to_string()))?;
            text.push('\n');
            let mut notes = Vec::new();
            if format == Format::K8s {
                notes.push(format!(
                    "save this file on every node as /var/lib/kubelet/seccomp/profiles/{name}.json and set in the pod or container spec:\n{}",
                    k8s_snippet(name)
                ));
            }
            Ok(Exported {
                data: text.into_bytes(),
                losses,
                notes,
            })
        }
        Format::Spo => {
            let (s, mut losses) = to_seccomp(&loaded.policy, ctx, &loaded.extras)?;
            let (text, more) = spo_yaml(&s, name)?;
            losses.extend(more);
            Ok(Exported {
                data: text.into_bytes(),
                losses,
                notes: vec![format!(
                    "apply with kubectl; the operator installs it as operator/{name}.json on every node"
                )],
            })
        }
        Format::Systemd => crate::systemd::export(&loaded.policy, ctx),
        Format::Lxc => crate::lxc::export(loaded, ctx, Arch::native()),
        Format::OciArtifact => {
            let (layout, losses) = crate::oci::artifact(loaded, ctx, name)?;
            Ok(Exported {
                data: layout
                    .to_tar()
                    .map_err(|e| ExportError::Unsupported(e.to_string()))?,
                losses,
                notes: vec![format!(
                    "an OCI layout archive holding the artifact {name}; push it with `skopeo copy oci-archive:FILE:{name} docker://REGISTRY/REPO:TAG` and reference it by digest"
                )],
            })
        }
        Format::Bpf => {
            let c = moat_compile::compile(
                &loaded.policy,
                &moat_compile::Options {
                    ctx: *ctx,
                    weights: None,
                },
            )?;
            Ok(Exported {
                data: c.program.to_bytes(),
                losses: Vec::new(),
                notes: vec![format!(
                    "{} instructions; load with `bwrap --seccomp FD`, or base64-encode it into crun's run.oci.seccomp_bpf_data annotation",
                    c.program.len()
                )],
            })
        }
    }
}

/// The pod `securityContext.seccompProfile` snippet for a Localhost profile.
pub fn k8s_snippet(name: &str) -> String {
    format!(
        "securityContext:\n  seccompProfile:\n    type: Localhost\n    localhostProfile: profiles/{name}.json\n"
    )
}

fn spo_yaml(s: &Seccomp, name: &str) -> Result<(String, Vec<Loss>), ExportError> {
    let mut losses = Vec::new();
    let mut spec = s.to_value(false);
    if let Some(m) = spec.as_object_mut() {
        if let Some(e) = m.remove("defaultErrnoRet")
            && e != json!(1)
        {
            losses.push(Loss(format!(
                "SeccompProfile has no defaultErrnoRet: the default action fails calls with EPERM instead of errno {e}"
            )));
        }
        if let Some(Value::Array(calls)) = m.get("syscalls") {
            for c in calls {
                for a in c
                    .get("args")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for k in ["value", "valueTwo"] {
                        if a.get(k)
                            .and_then(Value::as_u64)
                            .is_some_and(|v| v > i64::MAX as u64)
                        {
                            losses.push(Loss(format!(
                                "SeccompProfile values are int64: {k} {} of {} is written as is and may be refused",
                                a[k], c["names"]
                            )));
                        }
                    }
                }
            }
        }
    }
    let doc = json!({
        "apiVersion": "security-profiles-operator.x-k8s.io/v1beta1",
        "kind": "SeccompProfile",
        "metadata": {"name": name},
        "spec": spec,
    });
    let text = crate::spo::to_yaml_text(&doc);
    Ok((text, losses))
}
