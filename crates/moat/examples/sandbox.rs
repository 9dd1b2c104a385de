//! An application that confines itself from `main()`: the `container` profile, one exception
//! written from code, and Landlock rules for the paths and ports it needs.
//!
//! ```text
//! cargo run -p moat --example sandbox            # confines itself, then tries a few things
//! ```
//!
//! The seccomp filter reaches every thread of the process (TSYNC), including the worker started
//! before the sandbox, and stays for the life of the process and its children. Landlock before
//! ABI 8 confines only the calling thread and what it starts later, so `confine` warns about the
//! worker (with `landlock required` it would refuse instead).

use std::process::ExitCode;

use moat::policy::Action;

fn main() -> ExitCode {
    // A worker thread that exists before the sandbox: it is confined too.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        wait.recv().ok();
        // unshare(CLONE_NEWUSER) is refused by the container profile.
        std::process::Command::new("unshare")
            .args(["-U", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });

    let sandbox = match moat::Builder::new()
        .profile("container") // the built-in profile
        .rule(Action::Errno(1), &["getppid"]) // one more rule, written from code
        .fs_read(&["/usr", "/etc", "/proc", "/dev"]) // Landlock: read only here
        .build()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    match sandbox.confine() {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("sandbox: warning: {w}");
            }
        }
        Err(e) => {
            eprintln!("sandbox: {e}");
            return ExitCode::from(2);
        }
    }

    let _ = go.send(());
    let unshare_worked = worker.join().unwrap_or(true);
    let hostname = std::fs::read_to_string("/etc/hostname").is_ok();
    let home = std::fs::read_dir("/root").is_ok();
    println!("confined: {} instructions", sandbox.program().len());
    println!("worker thread could unshare: {unshare_worked}");
    println!("read /etc/hostname: {hostname}");
    println!("list /root: {home}");
    if unshare_worked || !hostname || home {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
