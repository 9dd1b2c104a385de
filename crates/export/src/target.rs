//! An export target ([`Format`]) and what an export produces ([`Exported`], its [`Loss`]es).

/// An export target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// moat's policy language.
    Moat,
    /// A Docker/moby seccomp profile (`docker run --security-opt seccomp=FILE`).
    Docker,
    /// An OCI `config.json` `linux.seccomp` section.
    Oci,
    /// A Kubernetes `Localhost` profile (Docker JSON) plus the pod `securityContext` snippet.
    K8s,
    /// A security-profiles-operator `SeccompProfile` (YAML).
    Spo,
    /// A systemd unit drop-in.
    Systemd,
    /// Raw seccomp BPF (`struct sock_filter` array, little-endian): for `bwrap --seccomp FD` and,
    /// base64-encoded, crun's `run.oci.seccomp_bpf_data` annotation.
    Bpf,
    /// A KEP-6061 seccomp profile artifact: an OCI image layout archive (tar) whose one manifest
    /// has the config media type `application/vnd.cncf.seccomp-profile.config.v1+json` and one
    /// layer, the profile JSON ([`crate::oci::artifact`] gives the layout itself).
    OciArtifact,
    /// An LXC seccomp policy (version 2) for the host's filter ([`crate::lxc::export`]).
    Lxc,
}

impl Format {
    /// Every target, in the order `moat convert --help` lists them.
    pub const ALL: [Format; 9] = [
        Format::Moat,
        Format::Docker,
        Format::Oci,
        Format::K8s,
        Format::Spo,
        Format::Systemd,
        Format::Bpf,
        Format::OciArtifact,
        Format::Lxc,
    ];

    /// One line on what the target is (`moat convert --help`; no final period, as clap prints help).
    pub fn about(self) -> &'static str {
        match self {
            Format::Moat => "moat's policy language",
            Format::Docker => {
                "Docker/moby seccomp JSON (keeps capability and kernel guards as includes/excludes)"
            }
            Format::Oci => "The linux.seccomp object of an OCI runtime config.json",
            Format::K8s => "A Kubernetes Localhost profile (the pod snippet goes to stderr)",
            Format::Spo => "A security-profiles-operator SeccompProfile (YAML)",
            Format::Systemd => "A systemd unit drop-in (SystemCallFilter= ...)",
            Format::Bpf => "Raw seccomp BPF (struct sock_filter array)",
            Format::OciArtifact => {
                "A KEP-6061 seccomp profile artifact: an OCI layout archive, or with `-o DIR/` a \
                 layout directory"
            }
            Format::Lxc => "An LXC seccomp policy (lxc.seccomp.profile; LXD and Incus raw.seccomp)",
        }
    }

    /// True when the target keeps `when cap …`/`when kernel …` guards (moat text, and Docker's
    /// includes/excludes); every other target is exported for one resolved context.
    pub fn keeps_guards(self) -> bool {
        matches!(self, Format::Moat | Format::Docker | Format::K8s)
    }

    /// The name `--to` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Moat => "moat",
            Format::Docker => "docker",
            Format::Oci => "oci",
            Format::K8s => "k8s",
            Format::Spo => "spo",
            Format::Systemd => "systemd",
            Format::Bpf => "bpf",
            Format::OciArtifact => "oci-artifact",
            Format::Lxc => "lxc",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// A `--to` name no target has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown export format `{0}` (one of: moat, docker, oci, k8s, spo, systemd, bpf, oci-artifact, lxc)"
)]
pub struct UnknownFormat(pub String);

/// One thing the target format cannot say, and what the export does instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss(pub String);

/// An export: the text to write, what was lost, and instructions for the user.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The file content (UTF-8 text for every format but `bpf`).
    pub data: Vec<u8>,
    /// What the target cannot express (empty: exact).
    pub losses: Vec<Loss>,
    /// How to use the output (e.g. the pod snippet for `k8s`).
    pub notes: Vec<String>,
}

impl Exported {
    /// The content as text (lossy for `bpf`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}
