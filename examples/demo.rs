//! The README's first command: `cargo run --release --example demo`.
//!
//! Shows pairshell's main job on a throwaway setup: a private sshd on
//! 127.0.0.1 (its own config and host key, in a directory under `/run`), a
//! host enabled with `pairshell host add` who shares a session with
//! `pairshell share`, and two guests, alice (read-write) and bob
//! (read-only). It prints the `ssh` command for each guest and the host's
//! own commands (`who`, `kick`, `grant`, `share`), echoes the audit trail as
//! lines arrive, and on Ctrl-C stops what it started, deletes the throwaway
//! Unix users it created and removes its directory. It never touches
//! /etc/ssh or the system's sshd.
//!
//! It is built on the same lab as the integration tests (`lab/`),
//! so what the demo shows is what the tests check.

use pairshell_lab as support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("run the demo as root: it creates two throwaway users and starts sshd".into());
    }
    install_missing_packages()?;
    let binary = build_pairshell()?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }

    println!("demo: setting up (throwaway users, sshd on 127.0.0.1, a tmux session)…");
    let mut lab = support::Lab::with_binary(&binary)
        .ok_or("this machine cannot host the demo (see the SKIPPED line above)")?;
    // Recording on, as install.sh's starter config has it: alice's join
    // (read-write) is recorded under <lab>/recordings; `pairshell replay
    // alice` and `pairshell typed HOST/demo` (as root) read it back.
    let recordings = support::recording::enable(&mut lab, "read-write", "");
    println!("  Recordings of read-write joins: {}", recordings.display());
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    // The host the supported way: `host add` (as root), then `share` as
    // that host, which starts the session's own tmux server.
    let host = lab.enable_host();
    let (_, shared) = lab.share_as(&host, "demo", &["--rw", "alice", "--ro", "bob"]);
    // The lookup index, as `pairshell guest add` leaves it on a real host.
    let indexed = lab.pairshell_root(&["index"]);
    if !indexed.success() {
        return Err(format!("pairshell index failed: {indexed}"));
    }
    // Colour and UTF-8 in the pane, as a guest's screen should show them.
    lab.host_types_line(
        &shared,
        r"clear; printf '\033[1;32m\342\234\223\033[0m hello from the host: \033[36malice\033[0m may type here, \033[33mbob\033[0m may watch \342\200\224 gr\303\274\303\237e\n'",
    );

    println!();
    println!("pairshell demo is running. In another terminal, as root:");
    println!();
    println!("  alice joins read-write:");
    println!("    {}", lab.ssh_command_line(&alice, true, Some("demo")));
    println!("  bob joins read-only:");
    println!("    {}", lab.ssh_command_line(&bob, true, Some("demo")));
    println!("  the chooser (no session named):");
    println!("    {}", lab.ssh_command_line(&alice, true, None));
    println!("  what bob may join:");
    println!("    {}", lab.ssh_command_line(&bob, false, Some("list")));
    println!("  the host's own view of the session (shows the guests' line, and copies it):");
    println!("    {}", lab.host_command_line(&host, &["share", "demo"]));
    println!("  who is connected, as the host:");
    println!("    {}", lab.host_command_line(&host, &["who"]));
    println!("  the host ends bob's connection (his grant stands):");
    println!("    {}", lab.host_command_line(&host, &["kick", "bob"]));
    println!("  the host lets bob type too:");
    println!(
        "    {}",
        lab.host_command_line(&host, &["grant", "demo", "bob", "--rw"])
    );
    println!();
    println!(
        "  Inside a session, Ctrl-b d leaves. The config is {}.",
        lab.config.display()
    );
    println!();
    println!("Audit trail (syslog, facility authpriv, ident pairshell) as it arrives; Ctrl-C ends the demo:");

    let mut shown = 0;
    while !stop.load(Ordering::SeqCst) {
        let lines = lab.syslog().raw_bytes();
        for line in &lines[shown..] {
            println!("  {}", printable(line));
        }
        shown = lines.len();
        std::thread::sleep(Duration::from_millis(200));
    }
    println!();
    println!("demo: cleaning up…");
    drop(lab);
    println!("demo: done; the throwaway users, sshd, tmux server and files are gone.");
    Ok(())
}

/// A syslog datagram as one line, as a log file would show it: invalid UTF-8
/// replaced, control characters (pairshell escapes its own) shown escaped.
fn printable(datagram: &[u8]) -> String {
    String::from_utf8_lossy(datagram)
        .trim_end_matches(['\n', '\0'])
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// tmux and openssh-server from Debian's packages, when either is missing.
fn install_missing_packages() -> Result<(), String> {
    let missing = ["/usr/bin/tmux", "/usr/sbin/sshd", "/usr/bin/ssh"]
        .iter()
        .any(|p| !Path::new(p).exists());
    if !missing {
        return Ok(());
    }
    println!("demo: installing tmux and openssh-server…");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("apt-get: {e}"))
            .and_then(|s| {
                s.success()
                    .then_some(())
                    .ok_or_else(|| format!("apt-get {} failed", args.join(" ")))
            })
    };
    apt(&["update", "-q"])?;
    apt(&[
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "tmux",
        "openssh-server",
        "openssh-client",
    ])
}

/// The pairshell binary next to this example, built (or brought up to date)
/// with the same profile.
fn build_pairshell() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/examples/demo → target/<profile>/pairshell
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // `--example demo` too: with an example in the build, cargo resolves
    // the dev-dependencies' features as it did for this example, so the
    // crate is not compiled a second time with other features.
    cmd.args(["build", "--bin", "pairshell", "--example", "demo"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // `cargo run` hands this process the package's CARGO_PKG_*,
    // CARGO_MANIFEST_DIR and the like. Build scripts (ring's) ask cargo to
    // rebuild when those change, so passing them on would rebuild the
    // dependencies here, and again at the next plain `cargo build`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_") && !matches!(&*name, "CARGO_HOME" | "CARGO_TARGET_DIR") {
            cmd.env_remove(&*name);
        }
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --bin pairshell failed".into());
    }
    let binary = profile_dir.join("pairshell");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}
