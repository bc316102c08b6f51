//! The test lab: a throwaway, real-world setup in which the integration tests
//! drive the real `pairshell` binary the way a guest would meet it.
//!
//! One [`Lab`] per test. It builds, under `/run/pairshell-tests/<pid>-<n>/`:
//!
//! - a root-owned copy of the built binary (`bin/pairshell`), which is the
//!   login shell of a throwaway *pair* account and sshd's
//!   `AuthorizedKeysCommand`;
//! - the main config (`pairshell.toml`) and one host file per throwaway *host*
//!   account (`hosts.d/<host>.toml`), owned the way pairshell demands;
//! - guest key pairs (`keys/<guest>`), generated with `ssh-keygen`;
//! - a real `sshd` on 127.0.0.1 (free port) whose config has only the lab's
//!   global lines (port, host key, `AllowUsers`, …) and then `Include`s the
//!   drop-in pairshell ships, `contrib/sshd_config.d/pairshell.conf`, with its
//!   account name and paths swapped for the lab's (`sshd/pairshell.conf`). So
//!   every test also proves that the shipped file works with a real sshd;
//! - real tmux servers, one per shared session, owned by the host account and
//!   opened to the pair account with `server-access` (started by the lab, or
//!   by `pairshell share` run as the host and then adopted with
//!   [`Lab::adopt_server`]; Drop kills both kinds);
//! - a per-lab Unix group (`<prefix>g`), the config's `socket_group`, created
//!   empty: `pairshell host add` must put hosts and the pair account in it.
//!   The config also names `<lab>/sockets` as `sockets_dir` and
//!   `<lab>/tmpfiles.conf` as `tmpfiles`;
//! - the binary run as a host or as root ([`Lab::pairshell_as`],
//!   [`Lab::pairshell_root`]) with the user's supplementary groups (through
//!   `setpriv --init-groups`), and a host's own tmux client in a pty
//!   ([`Lab::host_tty`]) to see the status-line messages a host gets;
//! - a syslog receiver: a Unix datagram socket the config points
//!   `audit.syslog_socket` at; every datagram is parsed as RFC 3164 and must
//!   carry facility `authpriv` and tag `pairshell`;
//! - an `ssh` client, either run to completion ([`Lab::ssh`]) or driven through
//!   a pty ([`Lab::ssh_tty`], built on expectrl). Its options live in the
//!   lab's `ssh_config`, so [`Lab::ssh_command_line`] can print the very same
//!   command for a person to paste (the demo does).
//!
//! A test may add to the sshd config ([`Lab::extend_sshd`]: global lines
//! such as [`Lab::raise_sshd_limits`]' `MaxStartups`, more `AllowUsers`, a
//! `Match` block of its own for another [`Lab::add_account`], reached with
//! [`Lab::ssh_to`]). [`load`] is the many-guests scenario the load test and
//! the login bench share.
//!
//! Why `/run` and not `/tmp`: sshd wants the `AuthorizedKeysCommand` binary and
//! every ancestor directory root-owned and not group/world-writable, and
//! pairshell wants the same of its config's ancestors.
//!
//! [`Lab::new`] copies the binary cargo built beside the running test or
//! bench (`target/PROFILE/pairshell`); [`Lab::with_binary`] copies a given
//! one (the demo builds its own).
//!
//! The methods live by subject: `accounts.rs`, `keys.rs`, `files.rs`,
//! `sshd.rs`, `ssh.rs`, `tmux.rs` (host servers, shares, panes), `commands.rs`
//! (pairshell run as someone), `tty.rs`, `syslog.rs`, `util.rs`; the
//! scenarios of particular tests in `attack.rs`, `edit.rs`, `load.rs`,
//! `recording.rs`, `relay.rs`, `terminal.rs` and `bench_io.rs`.
//!
//! Everything needs root (useradd, sshd, tmux as another user). Without root,
//! sshd or tmux, both print a loud `SKIPPED:` line and return `None`, unless
//! `CI` is set, in which case they panic so the skip cannot go unnoticed.
//!
//! Drop tears the lab down: it kills only the processes it started (sshd, the
//! tmux servers, leftovers owned by the throwaway accounts it created), deletes
//! those accounts and the group, and removes the directory. When the test is failing, Drop
//! first prints sshd's log and every syslog line received.

/// Builds a lab, or returns from the test when the machine cannot host one.
#[macro_export]
macro_rules! lab {
    () => {
        match $crate::Lab::new() {
            Some(lab) => lab,
            None => return,
        }
    };
}

/// Positive controls for the attack tests: sshd's log after a mark, a
/// settled trail, the lab's sshd with one layer of refusals taken away.
mod accounts;
mod commands;
mod files;
mod keys;
mod ssh;
mod sshd;
mod syslog;
mod tmux;
mod tty;
mod util;

pub use syslog::*;
pub use tty::*;
pub use util::*;
#[allow(unused_imports)]
use util::*;

pub mod attack;
/// The guest's terminal read byte by byte, for the login bench's latencies.
pub mod bench_io;
/// `pairshell edit` with a scripted editor (`tests/edit.rs`).
pub mod edit;
/// Prompts on the host's client and forged answers (`tests/host_control.rs`).
pub mod host_control;
/// The many-guests scenario `tests/load.rs` and `benches/login.rs` share.
pub mod load;
/// Network namespaces with a router running miniupnpd, a LAN and a WAN
/// (`tests/nat.rs`).
pub mod nat;
pub mod recording;
/// Helpers for the relay and confinement tests (`tests/relay.rs`).
pub mod relay;
/// A person's screen (an outer tmux) for the terminal tests (`tests/terminal.rs`).
pub mod terminal;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, User};

/// Generous default for every wait in the lab.
pub const WAIT: Duration = Duration::from_secs(10);

const ROOT: &str = "/run/pairshell-tests";
const TMUX: &str = "/usr/bin/tmux";
const SSHD: &str = "/usr/sbin/sshd";
const SETPRIV: &str = "/usr/bin/setpriv";
const PATH_ENV: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// What [`Lab::start_other_session`] prints in the session no guest may see.
pub const OTHER_MARKER: &str = "other-marker-42";

/// Waits until `tty`'s process has exited; panics with its output if not.
pub fn wait_gone(tty: &mut Tty, timeout: Duration, what: &str) -> i32 {
    tty.wait_exit(timeout).unwrap_or_else(|| {
        panic!(
            "{what}: ssh still running after {timeout:?}:\n{}",
            tty.text()
        )
    })
}

/// Polls `f` every 50 ms until it returns `Some`, or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// The lab
// ---------------------------------------------------------------------------

/// A guest declared in the main config, with its key pair on disk.
#[derive(Clone, Debug)]
pub struct Guest {
    pub name: String,
    /// Private key (root, 0600), for `ssh -i`.
    pub key: PathBuf,
    /// `ssh-ed25519 AAAA… comment`
    pub public_line: String,
    /// `ssh-ed25519`
    pub key_type: String,
    /// The base64 blob of the public key.
    pub key_base64: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// TOML offset datetime, e.g. `2030-01-01T00:00:00Z`.
    pub expires: Option<String>,
    /// Certificate principals that identify this guest in the config.
    pub principals: Vec<String>,
    /// Whether the config lists the key itself (not for a guest known only
    /// by certificate principals).
    pub key_listed: bool,
}

/// A session a host has shared (one entry in `hosts.d/<host>.toml`).
#[derive(Clone, Debug)]
pub struct Shared {
    pub host: String,
    pub name: String,
    pub socket: PathBuf,
    pub read_write: Vec<String>,
    pub read_only: Vec<String>,
    pub expires: Option<String>,
}

impl Shared {
    /// `HOST/SESSION`, as the guest names it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.host, self.name)
    }
}

/// A tmux server the lab started as a host.
#[derive(Clone, Debug)]
struct TmuxServer {
    host: String,
    socket: PathBuf,
    pid: Option<i32>,
}

/// One tmux client, from `list-clients`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub user: String,
    pub readonly: bool,
    pub session: String,
    pub pid: i32,
    /// tmux's name for the client: its terminal, e.g. `/dev/pts/3`.
    pub name: String,
}

/// Output of a command run to completion.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

pub struct Lab {
    /// The lab directory, `/run/pairshell-tests/<pid>-<n>`.
    pub dir: PathBuf,
    /// The root-owned copy of the binary under test.
    pub bin: PathBuf,
    /// The main config.
    pub config: PathBuf,
    /// The pair account's login name.
    pub pair: String,
    pub pair_uid: u32,
    pub pair_gid: u32,
    /// sshd's port on 127.0.0.1.
    pub port: u16,
    /// The per-lab Unix group the config names as `socket_group`
    /// (`<prefix>g`). The lab creates it empty: putting hosts and the pair
    /// account in it is `pairshell host add`'s job, and under test.
    pub socket_group: String,
    pub socket_gid: u32,
    prefix: String,
    guests: BTreeMap<String, Guest>,
    shares: Vec<Shared>,
    hosts: Vec<String>,
    users: Vec<String>,
    servers: Vec<TmuxServer>,
    group_created: bool,
    /// Top-level lines the test added to the main config.
    config_extra: String,
    sshd: Option<Child>,
    sshd_log: PathBuf,
    /// What tests added to the lab sshd's config ([`Lab::extend_sshd`]).
    sshd_extra: SshdExtra,
    syslog: Syslog,
}

/// Lines a test adds to the lab sshd's config, beyond the lab's own; see
/// [`Lab::extend_sshd`].
#[derive(Clone, Debug, Default)]
pub struct SshdExtra {
    /// Global directives, written before the drop-ins' `Match` blocks
    /// (`MaxStartups 200`).
    pub global: String,
    /// Accounts besides the pair account that may log in (`AllowUsers`).
    pub allow_users: Vec<String>,
    /// Written after the drop-ins, so a `Match` block of its own fits here.
    pub tail: String,
    /// Take the drop-in's `AcceptEnv LANG LC_*` out, so the lab's global,
    /// permissive `AcceptEnv` reaches the pair account: a broken setup,
    /// for the tests that show what pairshell does when sshd passes the
    /// guest's variables (and that `check` refuses it).
    pub permissive_env: bool,
    /// `(from, to)` replacements made in the lab's copy of the shipped
    /// drop-in, each of which must match: `lab/src/attack.rs` takes
    /// one layer of refusals away with them.
    pub drop_in_edits: Vec<(String, String)>,
}

/// The `pairshell` cargo built for the running test or bench: cargo builds
/// a package's binaries before its integration tests and benches, into the
/// directory above theirs.
fn built_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test runs from target/PROFILE/deps");
    let binary = profile_dir.join("pairshell");
    assert!(
        binary.is_file(),
        "{} is missing: run the tests and benches with cargo, which builds it first; \
         elsewhere (an example) build the binary and call Lab::with_binary",
        binary.display()
    );
    binary
}

impl Lab {
    /// Builds a lab around the binary cargo built beside this integration
    /// test or bench (`target/PROFILE/pairshell`, one level up from the
    /// test's own `deps/`). See [`Lab::with_binary`].
    pub fn new() -> Option<Lab> {
        Lab::with_binary(&built_binary())
    }

    /// Builds a lab with a root-owned copy of `binary`, a pair account, an
    /// empty config and a running sshd.
    ///
    /// Returns `None` (after a loud `SKIPPED:` line) when the machine cannot
    /// host a lab, unless `CI` is set, where that is a failure.
    pub fn with_binary(binary: &Path) -> Option<Lab> {
        if let Some(why) = missing_prerequisite() {
            if std::env::var_os("CI").is_some() {
                panic!("the sshd integration tests cannot run here ({why}), and CI is set: refusing to skip");
            }
            // Straight to fd 2, past libtest's output capture, so the skip
            // shows up even when the test "passes".
            let stars = "*".repeat(62);
            let _ = writeln!(
                io::stderr(),
                "\n{stars}\nSKIPPED: pairshell sshd integration test: {why}\n         \
                 (run as root on a machine with openssh-server and tmux)\n{stars}"
            );
            return None;
        }
        Some(Lab::build(binary))
    }

    fn build(binary: &Path) -> Lab {
        mkdir(Path::new(ROOT), 0o755);
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            sweep_stale_labs();
        }
        let pid = std::process::id();
        let dir = PathBuf::from(format!("{ROOT}/{pid}-{n}"));
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("remove stale lab dir");
        }
        mkdir(&dir, 0o755);
        for sub in [
            "bin", "home", "keys", "sshd", "hosts.d", "sockets", "scratch",
        ] {
            mkdir(&dir.join(sub), 0o755);
        }
        fs::set_permissions(dir.join("keys"), fs::Permissions::from_mode(0o700)).unwrap();

        let bin = dir.join("bin/pairshell");
        fs::copy(binary, &bin)
            .unwrap_or_else(|e| panic!("copy {} into the lab: {e}", binary.display()));
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();

        let prefix = format!("pst{pid}x{n}");
        let syslog = Syslog::bind(&dir.join("log.sock"));
        let mut lab = Lab {
            config: dir.join("pairshell.toml"),
            sshd_log: dir.join("sshd/sshd.log"),
            bin,
            dir,
            pair: format!("{prefix}p"),
            pair_uid: 0,
            pair_gid: 0,
            port: 0,
            socket_group: format!("{prefix}g"),
            socket_gid: 0,
            prefix,
            guests: BTreeMap::new(),
            shares: Vec::new(),
            hosts: Vec::new(),
            users: Vec::new(),
            servers: Vec::new(),
            group_created: false,
            config_extra: String::new(),
            sshd: None,
            sshd_extra: SshdExtra::default(),
            syslog,
        };
        let pair = lab.pair.clone();
        let bin = lab.bin.display().to_string();
        // A home that exists (sshd complains on every login when it does not)
        // and that the pair account cannot write.
        let home = lab.dir.join("home").display().to_string();
        lab.create_group();
        lab.create_user(&pair, &bin, &home);
        let pw = User::from_name(&pair).unwrap().expect("pair user exists");
        lab.pair_uid = pw.uid.as_raw();
        lab.pair_gid = pw.gid.as_raw();
        lab.write_config();
        lab.start_sshd();
        lab
    }

    // -- accounts -----------------------------------------------------------
}

impl Drop for Lab {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        if let Some(mut sshd) = self.sshd.take() {
            let _ = kill(Pid::from_raw(sshd.id() as i32), Signal::SIGTERM);
            let _ = sshd.wait();
        }
        // Servers `pairshell share` started and no test adopted: every socket
        // in a host's socket directory that a lab account owns.
        let mut servers = std::mem::take(&mut self.servers);
        for dir in fs::read_dir(self.sockets_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let path = f.path();
                let is_socket = f.file_type().is_ok_and(|t| {
                    use std::os::unix::fs::FileTypeExt;
                    t.is_socket()
                });
                if !is_socket || servers.iter().any(|s| s.socket == path) {
                    continue;
                }
                if let Some(host) = self.lab_user_owning(&path) {
                    servers.push(TmuxServer {
                        host,
                        socket: path,
                        pid: None,
                    });
                }
            }
        }
        for server in servers {
            let _ = self.tmux_as(&server.host, &server.socket, &["kill-server"]);
            if let Some(pid) = server.pid {
                poll(Duration::from_secs(3), || (!pid_alive(pid)).then_some(()));
                if pid_alive(pid) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        // Whatever still runs as a throwaway account (a pair-side tmux client
        // or pairshell from an sshd session) was started by this lab.
        let uids: Vec<u32> = self
            .users
            .iter()
            .filter_map(|u| User::from_name(u).ok().flatten().map(|p| p.uid.as_raw()))
            .collect();
        let gone = poll(Duration::from_secs(5), || {
            pids_of_uids(&uids).is_empty().then_some(())
        });
        if gone.is_none() {
            for pid in pids_of_uids(&uids) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            poll(Duration::from_secs(3), || {
                pids_of_uids(&uids).is_empty().then_some(())
            });
        }
        {
            let _lock = UsersLock::take();
            for user in self.users.drain(..) {
                userdel(&user);
            }
            if self.group_created {
                groupdel(&self.socket_group);
            }
        }
        self.syslog.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The prompt of the pane of `session` on `host`'s server.
pub fn prompt(session: &str, host: &str) -> String {
    format!("[{session}@{host}]$ ")
}
