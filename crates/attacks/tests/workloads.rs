//! Real programs under the `container` profile must keep working: a false denial is a bug in the
//! profile. Each workload runs as a shell script in a fresh process confined by the compiled
//! profile (`moat-confine`, which installs it with moat-sys, and `moat run` where the CLI has
//! it), and must exit 0 with the expected output. A missing tool skips its workload with the
//! reason printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::sandbox::{Filter, tmp};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn workdir(name: &str) -> PathBuf {
    let d = tmp().join(format!("workload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A free loopback TCP port (bound and released; the race with other processes is harmless
/// on a test machine).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `script` with `sh -c` in `dir`, confined by `filter`; the script first proves it runs
/// under a seccomp filter with no_new_privs.
fn confined(filter: &Filter, dir: &Path, script: &str) -> Output {
    let script = format!(
        "grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && grep -q \
         '^NoNewPrivs:[[:space:]]*1' /proc/self/status || {{ echo not confined; exit 99; }}\n{script}"
    );
    Command::new(env!("CARGO_BIN_EXE_moat-confine"))
        .arg(&filter.path)
        .args(["/bin/sh", "-c", &script])
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .unwrap()
}

/// The same script under `moat run --profile container` (the workspace's `moat` binary), when
/// it is built and has `run`.
fn via_moat_run(dir: &Path, script: &str) -> Option<Output> {
    let exe = std::env::current_exe().ok()?;
    let moat = exe.parent()?.parent()?.join("moat");
    let has_run = Command::new(&moat)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !moat_testkit::require(
        has_run,
        &format!(
            "{} is missing or has no `run` (build moat-cli)",
            moat.display()
        ),
    ) {
        return None;
    }
    let script = format!(
        "grep -q '^Seccomp:[[:space:]]*2' /proc/self/status || {{ echo not confined; exit 99; }}\n{script}"
    );
    Some(
        Command::new(moat)
            .args([
                "run",
                "--profile",
                "container",
                "--",
                "/bin/sh",
                "-c",
                &script,
            ])
            .current_dir(dir)
            .env("HOME", dir)
            .output()
            .unwrap(),
    )
}

/// Runs `script` confined by `moat-confine` and by `moat run`; checks both.
fn both(name: &str, filter: &Filter, dir: &Path, script: &str, expect: &[&str]) {
    check(name, &confined(filter, dir, script), expect);
    if let Some(out) = via_moat_run(dir, script) {
        check(&format!("{name} (moat run)"), &out, expect);
    }
}

fn check(name: &str, out: &Output, expect: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed under container: {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    for e in expect {
        assert!(
            stdout.contains(e),
            "{name}: missing {e:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        );
    }
    eprintln!("workload {name}: ok");
}

#[test]
fn busybox_applets() {
    if !moat_testkit::require(have("busybox"), "busybox is not installed") {
        return;
    }
    let c = Filter::builtin("container");
    let expect = [
        "2\n",
        "cp-ok",
        "tar-ok",
        "gzip-ok",
        "nested-sh-ok",
        "ps-ok",
        "wget-ok",
    ];
    for runner in ["moat-confine", "moat run"] {
        let dir = workdir(&format!("busybox-{}", runner.replace(' ', "-")));
        let port = free_port();
        let script = format!(
            r#"set -e
bb=busybox
$bb mkdir -p src www
$bb echo "hello from moat" > src/a.txt
$bb seq 1 2000 > src/b.txt
$bb ls -l src | $bb grep -c txt
$bb cp -a src copy && $bb cmp src/b.txt copy/b.txt && echo cp-ok
$bb tar cf t.tar src && $bb mkdir x && $bb tar xf t.tar -C x && $bb cmp src/a.txt x/src/a.txt && echo tar-ok
$bb gzip -k src/b.txt && $bb gunzip -c src/b.txt.gz | $bb cmp - src/b.txt && echo gzip-ok
$bb sh -c 'echo nested-sh-ok'
$bb ps | $bb grep -q busybox && echo ps-ok
$bb cp src/a.txt www/index.html
$bb httpd -p 127.0.0.1:{port} -h www
i=0; until $bb wget -q -O got.html http://127.0.0.1:{port}/index.html; do i=$((i+1)); [ $i -lt 50 ] || exit 1; $bb usleep 100000; done
$bb cmp got.html src/a.txt && echo wget-ok
$bb pkill -f "httpd -p 127.0.0.1:{port}" || true
"#
        );
        if runner == "moat-confine" {
            check("busybox", &confined(&c, &dir, &script), &expect);
        } else if let Some(out) = via_moat_run(&dir, &script) {
            check("busybox (moat run)", &out, &expect);
        }
    }
}

#[test]
fn python_threads_sockets_subprocess_asyncio() {
    if !moat_testkit::require(have("python3"), "python3 is not installed") {
        return;
    }
    let c = Filter::builtin("container");
    let dir = workdir("python");
    std::fs::write(
        dir.join("w.py"),
        r#"
import asyncio, socket, subprocess, threading, concurrent.futures

# threads
results = []
def work(i):
    results.append(i * i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("threads", sum(results))
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    print("pool", sum(ex.map(lambda x: x + 1, range(10))))

# sockets: a TCP echo over loopback, IPv4 and IPv6 where available, and a unix socketpair
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
def serve():
    conn, _ = srv.accept()
    conn.sendall(conn.recv(100).upper()); conn.close()
threading.Thread(target=serve).start()
cl = socket.create_connection(srv.getsockname())
cl.sendall(b"echo"); print("tcp", cl.recv(100).decode()); cl.close()
a, b = socket.socketpair(); a.sendall(b"pair"); print("unix", b.recv(10).decode())
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
u.sendto(b"dgram", u.getsockname()); print("udp", u.recvfrom(10)[0].decode())

# subprocess
print("subprocess", subprocess.run(["echo", "child"], capture_output=True, text=True).stdout.strip())

# asyncio: a server and a client in one loop
async def main():
    async def handle(r, w):
        w.write((await r.read(100))[::-1]); await w.drain(); w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"olleh"); await w.drain(); w.write_eof()
    print("asyncio", (await r.read(100)).decode())
    w.close(); server.close(); await server.wait_closed()
    out = await asyncio.create_subprocess_exec("echo", "async-child", stdout=asyncio.subprocess.PIPE)
    print("async-subprocess", (await out.communicate())[0].decode().strip())
asyncio.run(main())
"#,
    )
    .unwrap();
    both(
        "python3",
        &c,
        &dir,
        "python3 w.py",
        &[
            "threads 140",
            "pool 55",
            "tcp ECHO",
            "unix pair",
            "udp dgram",
            "subprocess child",
            "asyncio hello",
            "async-subprocess async-child",
        ],
    );
}

#[test]
fn git_init_commit_log() {
    if !moat_testkit::require(have("git"), "git is not installed") {
        return;
    }
    let c = Filter::builtin("container");
    let dir = workdir("git");
    let script = r#"set -e
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=moat GIT_AUTHOR_EMAIL=moat@example.invalid
export GIT_COMMITTER_NAME=moat GIT_COMMITTER_EMAIL=moat@example.invalid
git init -q repo && cd repo
echo one > f && git add f && git commit -q -m first
echo two >> f && git commit -q -am second
git log --format=%s
git status --short | wc -l
"#;
    both("git", &c, &dir, script, &["second\nfirst\n", "0\n"]);
}

#[test]
fn gcc_compiles_and_runs_a_program() {
    if !moat_testkit::require(have("gcc"), "gcc is not installed") {
        return;
    }
    let c = Filter::builtin("container");
    let dir = workdir("gcc");
    std::fs::write(
        dir.join("hello.c"),
        "#include <stdio.h>\nint main(void) { printf(\"hello %d\\n\", 6 * 7); return 0; }\n",
    )
    .unwrap();
    both(
        "gcc",
        &c,
        &dir,
        "gcc -O2 -o hello hello.c && ./hello",
        &["hello 42"],
    );
}

#[test]
fn cargo_builds_a_crate_offline() {
    if !moat_testkit::require(have("cargo"), "cargo is not installed") {
        return;
    }
    let c = Filter::builtin("container");
    let dir = workdir("cargo");
    std::fs::create_dir_all(dir.join("demo/src")).unwrap();
    std::fs::write(
        dir.join("demo/Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("demo/src/main.rs"),
        "fn main() { let v: Vec<u32> = (1..=10).collect(); println!(\"sum {}\", v.iter().sum::<u32>()); }\n",
    )
    .unwrap();
    // HOME points into the work directory, so keep the real toolchain locations.
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let rustup = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup"));
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    let script = format!(
        "set -e\ncd demo\nRUSTUP_HOME={rustup} CARGO_HOME={cargo_home} CARGO_TARGET_DIR=$PWD/target \
         cargo build --offline -q && ./target/debug/demo"
    );
    both("cargo", &c, &dir, &script, &["sum 55"]);
}

/// A 32-bit program runs under `container` (the profile accepts the i386 ABI), but cannot create
/// sockets: Debian's i386 glibc calls socketcall(SYS_SOCKET, args), the family is behind a
/// pointer, and the profile refuses the whole sub-call so that AF_VSOCK and AF_ALG cannot come
/// through it (CVE-2026-31431; Docker's block had this hole). A known, documented false denial
/// for 32-bit networking programs (`docs/security.md`); this test flips if the profile changes.
#[test]
fn i386_program_runs_but_cannot_open_sockets() {
    let c = Filter::builtin("container");
    let bin = match moat_attacks::helpers::build(
        "sock32",
        &format!("sock32-{}", std::process::id()),
        // gcc-12-multilib (not gcc-multilib, which the cross compilers of crates/abis conflict
        // with) has no /usr/include/asm: the x86 headers serve i386 too.
        &["-m32", "-isystem", "/usr/include/x86_64-linux-gnu"],
        &tmp().join("bin"),
    ) {
        Ok(b) => b,
        Err(e) => {
            let _ = moat_testkit::require(
                false,
                &format!("cannot build the i386 program with -m32 (gcc-12-multilib missing?): {e}"),
            );
            return;
        }
    };
    let unconfined = Command::new(&bin).output().unwrap();
    let text = String::from_utf8_lossy(&unconfined.stdout);
    if !moat_testkit::require(
        text.contains("socket=ok"),
        &format!("the i386 program does not run unconfined: {text}"),
    ) {
        return;
    }
    let dir = workdir("i386");
    let out = confined(&c, &dir, &bin.display().to_string());
    check("i386 program", &out, &["files=ok socket=EPERM"]);
}
