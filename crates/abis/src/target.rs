//! Per ABI: the qemu machine, the kernel command line and the C compiler for the test program.

use std::path::{Path, PathBuf};

use moat_syscalls::Arch;

use crate::cache_dir;

/// How to build for and boot one ABI.
#[derive(Clone, Debug)]
pub struct Target {
    /// The ABI.
    pub arch: Arch,
    /// The qemu-system binary (a name on PATH or a path).
    pub qemu: String,
    /// Machine options (before the common `-m`, `-kernel`, `-initrd`, console options).
    pub machine: &'static [&'static str],
    /// Kernel command line.
    pub append: &'static str,
    /// C compiler and the flags that select the ABI (`-static` and the output are added).
    pub cc: Vec<String>,
    /// Where the unpacked kernel is.
    pub kernel: PathBuf,
    /// Memory, MiB.
    pub memory: u32,
}

impl Target {
    /// The target for `arch`; `None` for the ABIs this machine runs natively (x86_64, x86).
    pub fn of(arch: Arch) -> Option<Target> {
        let cache = cache_dir();
        let zig = cache.join("zig").to_string_lossy().into_owned();
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let (qemu, machine, append, cc, memory): (_, &'static [&'static str], _, _, _) = match arch
        {
            Arch::Aarch64 => (
                "qemu-system-aarch64",
                &["-M", "virt", "-cpu", "cortex-a57"],
                "console=ttyAMA0",
                s(&["aarch64-linux-gnu-gcc"]),
                512,
            ),
            Arch::Arm => (
                "qemu-system-arm",
                &["-M", "virt", "-cpu", "cortex-a15"],
                "console=ttyAMA0",
                s(&["arm-linux-gnueabihf-gcc"]),
                512,
            ),
            Arch::Riscv64 => (
                "qemu-system-riscv64",
                &["-M", "virt"],
                "console=ttyS0",
                s(&["riscv64-linux-gnu-gcc"]),
                512,
            ),
            // pseries has a VGA device by default, which the console does not need.
            Arch::Ppc64le => (
                "qemu-system-ppc64",
                &["-M", "pseries", "-cpu", "POWER9", "-vga", "none"],
                "console=hvc0",
                s(&["powerpc64le-linux-gnu-gcc"]),
                1024,
            ),
            Arch::S390x => (
                "qemu-system-s390x",
                &["-M", "s390-ccw-virtio"],
                "console=ttysclp0",
                s(&["s390x-linux-gnu-gcc"]),
                512,
            ),
            // Debian's amd64 kernel has x32 built in but off unless `syscall.x32=y`.
            Arch::X32 => (
                "qemu-system-x86_64",
                &["-M", "q35", "-cpu", "qemu64"],
                "console=ttyS0 syscall.x32=y",
                s(&["gcc", "-mx32"]),
                512,
            ),
            // The loong64 kernel probes an i8042 controller the virt machine lacks and hangs.
            Arch::Loongarch64 => (
                "qemu-system-loongarch64",
                &["-M", "virt", "-cpu", "la464"],
                "console=ttyS0 initcall_blacklist=i8042_init",
                vec![
                    zig,
                    "cc".to_owned(),
                    "-target".to_owned(),
                    "loongarch64-linux-musl".to_owned(),
                ],
                1024,
            ),
            Arch::X86_64 | Arch::X86 => return None,
        };
        // Debian 12's qemu 7.2 loads only ELF loongarch64 kernels: scripts/abis-setup unpacks
        // bookworm-backports' qemu into the cache for this one.
        let qemu = if arch == Arch::Loongarch64 {
            cache
                .join("qemu/usr/bin")
                .join(qemu)
                .to_string_lossy()
                .into_owned()
        } else {
            qemu.to_owned()
        };
        Some(Target {
            arch,
            qemu,
            machine,
            append,
            cc,
            kernel: cache.join(arch.name()).join("kernel"),
            memory,
        })
    }

    /// Every ABI with a VM target, in [`Arch::ALL`] order.
    pub fn all() -> Vec<Target> {
        Arch::ALL.iter().filter_map(|&a| Target::of(a)).collect()
    }

    /// The kernel package and version `scripts/abis-setup` recorded, or `unknown`.
    pub fn kernel_version(&self) -> String {
        let file = self.kernel.with_file_name("version");
        std::fs::read_to_string(file).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
    }

    /// What is missing to run this target, by name: the kernel, qemu, the compiler.
    pub fn missing(&self) -> Vec<String> {
        let mut m = Vec::new();
        if !self.kernel.is_file() {
            m.push(format!(
                "kernel {} (run scripts/abis-setup)",
                self.kernel.display()
            ));
        }
        for tool in [self.qemu.as_str(), self.cc[0].as_str()] {
            if !on_path(tool) {
                m.push(format!("{tool} (run scripts/abis-setup)"));
            }
        }
        m
    }
}

fn on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}
