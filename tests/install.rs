//! The install path a new admin takes, on the real system: `contrib/install.sh`
//! run twice (the second run changes nothing), a guest through the *system*
//! sshd on port 22 as configured by it, then `--uninstall`, after which
//! nothing of pairshell is left and `sshd -t` still passes.
//!
//! These tests change the machine (/usr/local/bin, /etc/pairshell, /etc/ssh,
//! the account `pair`, the group `pairshell`, an sshd on port 22), so they run
//! only when `CI` is set or `PAIRSHELL_SYSTEM_TESTS=1`, print a loud SKIPPED
//! otherwise, and refuse to run over an existing installation. They take the
//! lab's users lock around every command that edits /etc/passwd or
//! /etc/group, so they can run alongside the lab tests (which use private
//! sshds on other ports and accounts named `pst<pid>…`). An sshd that
//! install.sh had to start is stopped again at the end, by its pid; one
//! that was running before is left running.

use pairshell_lab as support;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Group, Pid, User};
use support::{pid_alive, pids_of_uids, poll, run_with_timeout, Run, Syslog, Tty, UsersLock};

/// The systemd units install.sh puts in place, and where.
const UNIT_DIR: &str = "/etc/systemd/system";
const UNITS: [&str; 4] = [
    "pairshell-index.path",
    "pairshell-index.service",
    "pairshell-sync.timer",
    "pairshell-sync.service",
];
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/install.sh");
const BINARY: &str = "/usr/local/bin/pairshell";
const CONF_DIR: &str = "/etc/pairshell";
const CONFIG: &str = "/etc/pairshell/pairshell.toml";
const DROP_IN: &str = "/etc/ssh/sshd_config.d/pairshell.conf";
const TMPFILES: &str = "/etc/tmpfiles.d/pairshell.conf";
const ACCOUNT: &str = "pair";
const GROUP: &str = "pairshell";
const PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One system test at a time: they share /etc/pairshell, `pair` and port 22.
static SYSTEM: Mutex<()> = Mutex::new(());

/// Whether the system tests may run here; panics when they were asked for
/// (CI, PAIRSHELL_SYSTEM_TESTS=1) and cannot.
fn system_tests_enabled() -> bool {
    let ci = std::env::var_os("CI").is_some();
    let asked = std::env::var("PAIRSHELL_SYSTEM_TESTS").as_deref() == Ok("1");
    let stars = "*".repeat(62);
    if !ci && !asked {
        let _ = writeln!(
            std::io::stderr(),
            "\n{stars}\nSKIPPED: pairshell install test: it changes this machine \
             (/usr/local/bin,\n         /etc/pairshell, /etc/ssh, the account pair, \
             sshd on port 22);\n         set PAIRSHELL_SYSTEM_TESTS=1 (or CI) to run it\n{stars}"
        );
        return false;
    }
    if let Some(why) = support::missing_prerequisite() {
        panic!("the install test was asked for but cannot run here: {why}");
    }
    let existing: Vec<String> = [BINARY, CONF_DIR, DROP_IN, TMPFILES]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .map(str::to_string)
        .chain(user_exists(ACCOUNT).then(|| format!("the account {ACCOUNT}")))
        .chain(group_exists(GROUP).then(|| format!("the group {GROUP}")))
        .collect();
    assert!(
        existing.is_empty(),
        "refusing to run the install test over an existing pairshell installation \
         (its uninstall would remove it): {existing:?}"
    );
    true
}

fn user_exists(name: &str) -> bool {
    User::from_name(name).ok().flatten().is_some()
}

fn group_exists(name: &str) -> bool {
    Group::from_name(name).ok().flatten().is_some()
}

/// The pid of the system's sshd, from /run/sshd.pid.
fn system_sshd() -> Option<i32> {
    let pid: i32 = fs::read_to_string("/run/sshd.pid")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "sshd" && pid_alive(pid)).then_some(pid)
}

/// `bash contrib/install.sh ARGS…` as root, under the users lock, in a clean
/// environment.
fn install_sh(args: &[&str]) -> Run {
    let _lock = UsersLock::take();
    let mut cmd = Command::new("/bin/bash");
    cmd.arg(SCRIPT)
        .args(args)
        .env_clear()
        .env("PATH", PATH_ENV)
        .env("LANG", "C.UTF-8")
        .current_dir("/");
    run_with_timeout(cmd, Duration::from_secs(120))
}

fn sshd_t() -> Run {
    let mut cmd = Command::new("/usr/sbin/sshd");
    cmd.arg("-t");
    run_with_timeout(cmd, Duration::from_secs(20))
}

/// What the tests changed, undone on drop even when they fail: the host
/// account and its tmux server, the installation (only when a test ran
/// install.sh), an sshd that install.sh started, scratch files.
struct System {
    scratch: PathBuf,
    sshd_before: Option<i32>,
    installed: bool,
    host: Option<String>,
    extra_files: Vec<PathBuf>,
}

impl System {
    fn new() -> System {
        let scratch = PathBuf::from(format!(
            "/run/pairshell-tests/install-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(scratch.join("keys")).unwrap();
        // The pair account sends audit lines to a socket in here.
        fs::set_permissions(&scratch, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(scratch.join("keys"), fs::Permissions::from_mode(0o700)).unwrap();
        System {
            scratch,
            sshd_before: system_sshd(),
            installed: false,
            host: None,
            extra_files: Vec::new(),
        }
    }

    fn install(&mut self, args: &[&str]) -> Run {
        self.installed = true;
        let mut all = vec!["--binary", env!("CARGO_BIN_EXE_pairshell")];
        all.extend_from_slice(args);
        install_sh(&all)
    }

    /// A throwaway host account, named like the lab's so a dead test's
    /// leftover is swept by the next lab.
    fn add_host(&mut self) -> String {
        let host = format!("pst{}xinst", std::process::id());
        let _lock = UsersLock::take();
        let out = Command::new("useradd")
            .args(["-M", "-N", "-d", "/", "-s", "/bin/sh", "-p", "*", &host])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd {host}: {out:?}");
        self.host = Some(host.clone());
        host
    }

    /// `program ARGS…` as `user`, with the user's groups, in a clean
    /// environment.
    fn run_as(&self, user: &str, program: &str, args: &[&str]) -> Run {
        let pw = User::from_name(user).unwrap().unwrap();
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.arg(format!("--reuid={}", pw.uid))
            .arg(format!("--regid={}", pw.gid))
            .args(["--init-groups", "--", program])
            .args(args)
            .env_clear()
            .env("PATH", PATH_ENV)
            .env("HOME", "/")
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .env("USER", user)
            .env("LOGNAME", user)
            .current_dir("/");
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// Kills whatever still runs as `user` (processes this test started).
    fn end_processes_of(user: &str, grace: Duration) {
        let Some(pw) = User::from_name(user).ok().flatten() else {
            return;
        };
        let uids = [pw.uid.as_raw()];
        if poll(grace, || pids_of_uids(&uids).is_empty().then_some(())).is_none() {
            for pid in pids_of_uids(&uids) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            poll(Duration::from_secs(3), || {
                pids_of_uids(&uids).is_empty().then_some(())
            });
        }
    }

    fn remove_host(&mut self) {
        if let Some(host) = self.host.take() {
            let socket = format!("/run/pairshell/{host}/api.sock");
            if Path::new(&socket).exists() {
                let _ = self.run_as(&host, "/usr/bin/tmux", &["-S", &socket, "kill-server"]);
            }
            System::end_processes_of(&host, Duration::from_secs(3));
            let _lock = UsersLock::take();
            support::userdel(&host);
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for f in self.extra_files.drain(..) {
            let _ = fs::remove_file(f);
        }
        self.remove_host();
        if self.installed {
            System::end_processes_of(ACCOUNT, Duration::from_secs(3));
            let run = install_sh(&["--uninstall", "--purge"]);
            if !run.success() {
                eprintln!("cleaning up: install.sh --uninstall --purge failed:\n{run}");
            }
        }
        if self.sshd_before.is_none() {
            if let Some(pid) = system_sshd() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                poll(Duration::from_secs(5), || (!pid_alive(pid)).then_some(()));
            }
        }
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

fn mode_owner(path: &str) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

fn passwd_line(user: &str) -> Option<String> {
    fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .map(str::to_string)
}

fn shells_lists(path: &str) -> bool {
    fs::read_to_string("/etc/shells")
        .unwrap()
        .lines()
        .any(|l| l.trim() == path)
}

/// Generates an ed25519 key pair; returns the private key's path (the
/// public key is beside it, `.pub`).
fn make_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    support::keygen(&key, "alice@install-test");
    key
}

/// `ssh -tt pair@127.0.0.1 REQUEST` to the system sshd on port 22, trusting
/// only its ed25519 host key.
fn ssh_port_22(scratch: &Path, key: &Path, request: &str) -> Tty {
    let host_key = fs::read_to_string("/etc/ssh/ssh_host_ed25519_key.pub")
        .expect("the system sshd's ed25519 host key");
    let known_hosts = scratch.join("known_hosts");
    fs::write(&known_hosts, format!("127.0.0.1 {}", host_key.trim())).unwrap();
    let mut cmd = Command::new("ssh");
    cmd.args(["-tt", "-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "HostKeyAlgorithms=ssh-ed25519",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-i",
        ])
        .arg(key)
        .args(["-p", "22", &format!("{ACCOUNT}@127.0.0.1"), request])
        .env_clear()
        .env("PATH", PATH_ENV)
        .env("HOME", "/root")
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    Tty::spawn("ssh -tt pair@127.0.0.1 (port 22)", cmd)
}

#[test]
fn install_sh_lets_a_guest_in_through_the_system_sshd_and_uninstall_removes_it_all() {
    let _serial = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
    if !system_tests_enabled() {
        return;
    }
    let mut sys = System::new();

    // -- install, twice ------------------------------------------------------
    let first = sys.install(&[]);
    assert!(first.success(), "install.sh:\n{first}");
    assert!(first.stdout.contains("pairshell is installed"), "{first}");

    // The admin's edits: (there is no syslog daemon in CI) the audit socket
    // of this test's receiver, by hand, and a guest, with `guest add`.
    let syslog = Syslog::bind(&sys.scratch.join("log.sock"));
    let starter = fs::read_to_string(CONFIG).unwrap();
    assert!(
        starter.contains(&format!("pair_user = \"{ACCOUNT}\"")),
        "{starter}"
    );
    // The starter's comments arrive as written (the script writes them
    // through an unquoted here-document).
    for text in [
        "`pairshell check`",
        "`pairshell guest add",
        "# [guests.alice]",
    ] {
        assert!(starter.contains(text), "{text} is not in:\n{starter}");
    }
    let dev_log = "syslog_socket = \"/dev/log\"";
    assert!(starter.contains(dev_log), "{starter}");
    let receiver = support::toml_str(&syslog.path.display().to_string());
    fs::write(
        CONFIG,
        starter.replace(dev_log, &format!("syslog_socket = {receiver}")),
    )
    .unwrap();
    let key = make_key(&sys.scratch.join("keys"), "alice");
    let mut cmd = Command::new(BINARY);
    cmd.args(["guest", "add", "alice", "--key-file"])
        .arg(key.with_extension("pub"));
    let run = run_with_timeout(cmd, Duration::from_secs(20));
    assert!(run.success(), "pairshell guest add:\n{run}");
    let config = fs::read_to_string(CONFIG).unwrap();
    assert!(config.contains("[guests.alice]"), "{config}");

    let second = sys.install(&[]);
    assert!(second.success(), "second install.sh:\n{second}");
    assert!(
        second.stdout.contains("nothing changed") && !second.stdout.contains("  + "),
        "the second run changed something:\n{second}"
    );
    assert_eq!(
        fs::read_to_string(CONFIG).unwrap(),
        config,
        "the config was rewritten"
    );

    // -- what it set up --------------------------------------------------------
    assert_eq!(mode_owner(BINARY), (0o755, 0, 0));
    let pw = passwd_line(ACCOUNT).expect("the pair account");
    assert!(pw.ends_with(&format!(":{BINARY}")), "{pw}");
    let shadow = fs::read_to_string("/etc/shadow").unwrap();
    let hash = shadow
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{ACCOUNT}:")))
        .and_then(|rest| rest.split(':').next())
        .unwrap();
    assert!(
        hash == "*" || hash.starts_with('!'),
        "a usable password: {hash}"
    );
    assert!(shells_lists(BINARY));
    let group = Group::from_name(GROUP).unwrap().expect("the socket group");
    assert!(group.mem.iter().any(|m| m == ACCOUNT), "{:?}", group.mem);
    assert_eq!(mode_owner(CONFIG).0, 0o644);
    assert_eq!(mode_owner("/etc/pairshell/hosts.d"), (0o755, 0, 0));
    let pair = User::from_name(ACCOUNT).unwrap().unwrap();
    assert_eq!(
        mode_owner("/run/pairshell/.clients"),
        (0o2750, pair.uid.as_raw(), group.gid.as_raw())
    );
    let drop_in = fs::read_to_string(DROP_IN).unwrap();
    assert!(
        drop_in.contains(&format!("Match User {ACCOUNT}\n")),
        "{drop_in}"
    );
    assert!(system_sshd().is_some(), "no sshd runs after install.sh");
    // The systemd units: installed with this binary's path, each one the
    // shipped unit with only that path swapped; enabled only where systemd
    // runs, which the output says either way.
    for unit in UNITS {
        let path = format!("{UNIT_DIR}/{unit}");
        assert_eq!(mode_owner(&path), (0o644, 0, 0), "{path}");
        let installed = fs::read_to_string(&path).unwrap();
        let shipped = fs::read_to_string(format!(
            "{}/contrib/systemd/{unit}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            installed,
            shipped.replace("/usr/local/bin/pairshell", BINARY),
            "{path}"
        );
        if installed.contains("ExecStart=") {
            assert!(
                installed.contains(&format!("ExecStart={BINARY} ")),
                "{installed}"
            );
        }
    }
    let systemd_runs = Path::new("/run/systemd/system").is_dir();
    let said = if systemd_runs {
        "pairshell-index.path enabled"
    } else {
        "the units are installed, not enabled"
    };
    assert!(first.stdout.contains(said), "{said:?} is not in:\n{first}");
    let mut check = Command::new(BINARY);
    check.arg("check");
    let check = run_with_timeout(check, Duration::from_secs(20));
    assert!(check.success(), "pairshell check after install:\n{check}");

    // -- a host shares, a guest joins through port 22 -------------------------
    let host = sys.add_host();
    {
        let _lock = UsersLock::take();
        let mut cmd = Command::new(BINARY);
        cmd.args(["host", "add", &host]);
        let run = run_with_timeout(cmd, Duration::from_secs(30));
        assert!(run.success(), "pairshell host add:\n{run}");
    }
    let run = sys.run_as(
        &host,
        BINARY,
        &["share", "api", "--ro", "alice", "--detach"],
    );
    assert!(run.success(), "pairshell share as the host:\n{run}");
    let socket = format!("/run/pairshell/{host}/api.sock");
    // The host's pane shows a line the guest must then see.
    for keys in [&["-l", "echo pairshell-install-$((6*7))"][..], &["Enter"]] {
        let mut args = vec!["-S", socket.as_str(), "send-keys", "-t", "=api:"];
        args.extend_from_slice(keys);
        let run = sys.run_as(&host, "/usr/bin/tmux", &args);
        assert!(run.success(), "tmux send-keys as the host:\n{run}");
    }
    let marker = "pairshell-install-42";
    let shown = poll(Duration::from_secs(10), || {
        let run = sys.run_as(
            &host,
            "/usr/bin/tmux",
            &["-S", &socket, "capture-pane", "-p", "-t", "=api:"],
        );
        run.stdout.lines().any(|l| l.trim() == marker).then_some(())
    });
    assert!(
        shown.is_some(),
        "the marker never showed in the host's pane"
    );

    // sshd may be re-executing after its SIGHUP: a refused first try is retried.
    let mut tty = None;
    for _ in 0..5 {
        let mut t = ssh_port_22(&sys.scratch, &key, "api");
        if t.wait_until(Duration::from_secs(15), |s| s.contains(marker))
            .is_ok()
        {
            tty = Some(t);
            break;
        }
        let exited = t.wait_exit(Duration::from_millis(100)).is_some();
        let text = t.text();
        assert!(
            exited && text.contains("Connection refused"),
            "the guest never saw the host's pane through port 22:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let tty = tty.expect("sshd on port 22 kept refusing connections");
    let join = syslog
        .wait_for(
            |r| r.has(&[("event", "join"), ("guest", "alice"), ("mode", "read-only")]),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no join line; received:\n{}", syslog.raw().join("\n")));
    assert_eq!(join.get("host"), Some(host.as_str()));
    drop(tty);
    System::end_processes_of(ACCOUNT, Duration::from_secs(10));
    sys.remove_host();

    // -- uninstall -------------------------------------------------------------
    let run = install_sh(&["--uninstall"]);
    assert!(run.success(), "install.sh --uninstall:\n{run}");
    for gone in [BINARY, DROP_IN, TMPFILES, "/run/pairshell"] {
        assert!(!Path::new(gone).exists(), "{gone} is still there:\n{run}");
    }
    for unit in UNITS {
        let path = format!("{UNIT_DIR}/{unit}");
        assert!(!Path::new(&path).exists(), "{path} is still there:\n{run}");
    }
    assert!(!user_exists(ACCOUNT), "the account is still there:\n{run}");
    assert!(!group_exists(GROUP), "the group is still there:\n{run}");
    assert!(!shells_lists(BINARY), "/etc/shells still lists {BINARY}");
    assert!(
        Path::new(CONFIG).exists(),
        "--uninstall without --purge removed the config"
    );
    let t = sshd_t();
    assert!(t.success(), "sshd -t after uninstall:\n{t}");

    let run = install_sh(&["--uninstall", "--purge"]);
    assert!(run.success(), "install.sh --uninstall --purge:\n{run}");
    assert!(!Path::new(CONF_DIR).exists(), "--purge left {CONF_DIR}");
    let again = install_sh(&["--uninstall", "--purge"]);
    assert!(
        again.success() && again.stdout.contains("nothing changed"),
        "a second uninstall:\n{again}"
    );
}

#[test]
fn install_sh_puts_sshd_config_back_when_sshd_t_refuses_it() {
    let _serial = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
    if !system_tests_enabled() {
        return;
    }
    let mut sys = System::new();
    // Another file in sshd_config.d that sshd refuses: install.sh must not
    // leave its drop-in behind (nor reload sshd) when `sshd -t` fails.
    let broken = PathBuf::from(format!(
        "/etc/ssh/sshd_config.d/00-pst{}-broken.conf",
        std::process::id()
    ));
    sys.extra_files.push(broken.clone());
    fs::write(&broken, "ThisIsNotAnSshdKeyword yes\n").unwrap();
    let sshd_config_before = fs::read("/etc/ssh/sshd_config").unwrap();

    let run = sys.install(&[]);
    assert_eq!(
        run.code(),
        Some(1),
        "install.sh with a broken sshd config:\n{run}"
    );
    assert!(run.stderr.contains("sshd -t"), "{run}");
    assert!(
        !Path::new(DROP_IN).exists(),
        "the drop-in was left in place:\n{run}"
    );
    assert_eq!(
        fs::read("/etc/ssh/sshd_config").unwrap(),
        sshd_config_before
    );
    if sys.sshd_before.is_none() {
        assert!(
            system_sshd().is_none(),
            "install.sh started sshd anyway:\n{run}"
        );
    }

    fs::remove_file(&broken).unwrap();
    let run = install_sh(&["--uninstall", "--purge"]);
    assert!(run.success(), "install.sh --uninstall --purge:\n{run}");
    assert!(
        !user_exists(ACCOUNT) && !Path::new(BINARY).exists(),
        "{run}"
    );
}
