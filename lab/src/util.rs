//! Small helpers: accounts, files, processes, quoting.

use super::*;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

pub fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not running as root".into());
    }
    for tool in [
        SSHD,
        TMUX,
        "/usr/bin/ssh",
        "/usr/bin/ssh-keygen",
        "/usr/sbin/useradd",
        "/usr/sbin/userdel",
        "/usr/sbin/groupadd",
        "/usr/sbin/groupdel",
        SETPRIV,
    ] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing"));
        }
    }
    None
}

/// An exclusive lock on `/run/pairshell-tests/.users.lock`, held while
/// useradd/userdel run, across threads and processes (flock; released on
/// drop).
pub struct UsersLock(#[allow(dead_code)] Flock<File>);

impl UsersLock {
    pub fn take() -> UsersLock {
        mkdir(Path::new(ROOT), 0o755);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(format!("{ROOT}/.users.lock"))
            .expect("open the users lock");
        let lock = Flock::lock(f, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("lock the users lock: {e}"));
        UsersLock(lock)
    }
}

pub fn userdel(user: &str) {
    delete_account("userdel", user);
}

pub(crate) fn groupdel(group: &str) {
    delete_account("groupdel", group);
}

/// `userdel NAME` or `groupdel NAME`, retried while the shadow files are
/// locked or the account is busy.
pub(crate) fn delete_account(tool: &str, user: &str) {
    for attempt in 0..10 {
        let out = Command::new(tool)
            .arg(user)
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("does not exist") {
            return;
        }
        if !err.contains("lock") && !err.contains("currently used") {
            eprintln!("{tool} {user}: {err}");
            return;
        }
        thread::sleep(Duration::from_millis(100 * (attempt + 1)));
    }
    eprintln!("{tool} {user}: gave up");
}

/// Removes labs (directories and accounts) left by test processes that died
/// without cleaning up.
pub(crate) fn sweep_stale_labs() {
    let dead = |pid: &str| !Path::new("/proc").join(pid).exists();
    if let Ok(entries) = fs::read_dir(ROOT) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((pid, _)) = name.split_once('-') {
                if pid.bytes().all(|b| b.is_ascii_digit()) && dead(pid) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
    // Accounts and groups are named `pst<pid>x<n>…` after the test process.
    let stale_names = |db: &str| -> Vec<String> {
        fs::read_to_string(db)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(':').next())
            .filter(|u| {
                u.strip_prefix("pst")
                    .and_then(|r| r.split_once('x'))
                    .is_some_and(|(pid, _)| {
                        !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && dead(pid)
                    })
            })
            .map(str::to_string)
            .collect()
    };
    let stale = stale_names("/etc/passwd");
    let stale_groups = stale_names("/etc/group");
    if stale.is_empty() && stale_groups.is_empty() {
        return;
    }
    // Their leftovers (a host's tmux server) would keep userdel from working.
    let uids: Vec<u32> = stale
        .iter()
        .filter_map(|u| User::from_name(u).ok().flatten().map(|p| p.uid.as_raw()))
        .collect();
    for pid in pids_of_uids(&uids) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    poll(Duration::from_secs(3), || {
        pids_of_uids(&uids).is_empty().then_some(())
    });
    let _lock = UsersLock::take();
    for u in stale {
        userdel(&u);
    }
    for g in stale_groups {
        groupdel(&g);
    }
}

pub(crate) fn mkdir(path: &Path, mode: u32) {
    if !path.exists() {
        fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub(crate) fn write_file(path: &Path, contents: &str, mode: u32, owner: Option<(u32, u32)>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    if let Some((uid, gid)) = owner {
        chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// The clean environment every command the lab runs as a user gets.
pub(crate) fn clean_env(cmd: &mut Command, user: &str, home: &str) {
    cmd.env_clear()
        .env("PATH", PATH_ENV)
        .env("HOME", home)
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8")
        .env("USER", user)
        .env("LOGNAME", user)
        .current_dir("/");
}

pub fn ids(user: &str) -> (u32, u32) {
    let pw = User::from_name(user)
        .unwrap()
        .unwrap_or_else(|| panic!("no user {user}"));
    (pw.uid.as_raw(), pw.gid.as_raw())
}

pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => write!(out, "\\u{:04X}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as one shell word: as is when it is made of characters no shell
/// treats specially, otherwise in single quotes.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `s`, ending in a newline unless it is empty.
pub(crate) fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

pub(crate) fn toml_path(p: &Path) -> String {
    toml_str(&p.display().to_string())
}

/// `SHA256:…` of a public key file, from `ssh-keygen -lf`.
pub fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .expect("run ssh-keygen -lf");
    assert!(out.status.success(), "ssh-keygen -lf: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint field")
        .to_string()
}

/// A TCP port on 127.0.0.1 that nothing listens on just now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().unwrap().port();
    drop(l);
    // Make sure nobody grabbed it in between (best effort).
    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
        return free_port();
    }
    port
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry, but its status says Z.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// PIDs of live processes whose real uid is one of `uids`.
pub fn pids_of_uids(uids: &[u32]) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if uid.is_some_and(|u| uids.contains(&u)) && pid_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Runs `cmd` with piped stdout/stderr; kills it and panics after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let status = poll(timeout, || child.try_wait().ok().flatten());
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
            out.join().unwrap(),
            err.join().unwrap()
        );
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `ssh ARGS…` with the lab's client environment, not run yet.
pub(crate) fn ssh_client(args: Vec<String>) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(args)
        .env_clear()
        .env("PATH", PATH_ENV)
        .env("HOME", "/root")
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    cmd
}

/// A new ed25519 key pair at `path` (and `path.pub`), no passphrase, with
/// `comment`.
pub fn keygen(path: &Path, comment: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen {}: {out:?}",
        path.display()
    );
}
