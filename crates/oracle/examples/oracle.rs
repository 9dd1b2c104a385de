//! Prints what libseccomp makes of Docker's default profile.
//!
//! `cargo run -p moat-oracle --example oracle -- [arch] [default|tree] [pfc|oci|bpf]`

use std::str::FromStr;

use moat_oracle::{Arch, Layout, compile, docker_default, pfc, version};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arch = match args.first() {
        Some(a) => Arch::from_str(a)?,
        None => Arch::X86_64,
    };
    let mut filter = docker_default(arch)?;
    match args.get(1).map(String::as_str) {
        Some("tree") => filter.optimize = Layout::BinaryTree,
        Some("default") => filter.optimize = Layout::Default,
        _ => {}
    }
    if args.get(2).map(String::as_str) == Some("oci") {
        let json = moat_oracle::docker_default_json();
        let caps = moat_oracle::DOCKER_DEFAULT_CAPS;
        println!("{}", moat_oracle::docker_to_oci(&json, arch, caps, None)?);
        return Ok(());
    }
    if args.get(2).map(String::as_str) == Some("bpf") {
        use std::io::Write;
        std::io::stdout().write_all(&compile(&filter)?.bytes)?;
        return Ok(());
    }
    if args.get(2).map(String::as_str) == Some("pfc") {
        print!("{}", pfc(&filter)?);
        return Ok(());
    }
    let c = compile(&filter)?;
    println!("libseccomp {:?}", version());
    println!(
        "arch {arch} arches {:?} layout {:?}",
        filter.arches, filter.optimize
    );
    println!("rules {} insns {}", filter.rules.len(), c.len());
    println!("skipped (unknown to libseccomp): {:?}", c.skipped);
    println!("redundant (same as default): {:?}", c.redundant);
    println!("unresolved per arch: {:?}", c.unresolved);
    Ok(())
}
