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
//! [`Lab::new`] copies the binary cargo built for the integration tests
//! (`CARGO_BIN_EXE_pairshell`); [`Lab::with_binary`] copies a given one, for
//! builds where cargo sets no such variable (the demo, an example).
//!
//! Everything needs root (useradd, sshd, tmux as another user). Without root,
//! sshd or tmux, both print a loud `SKIPPED:` line and return `None`, unless
//! `CI` is set, in which case they panic so the skip cannot go unnoticed.
//!
//! Drop tears the lab down: it kills only the processes it started (sshd, the
//! tmux servers, leftovers owned by the throwaway accounts it created), deletes
//! those accounts and the group, and removes the directory. When the test is failing, Drop
//! first prints sshd's log and every syslog line received.

#![allow(dead_code)] // each test binary uses a different subset

/// Builds a lab, or returns from the test when the machine cannot host one.
#[allow(unused_macros)] // the demo includes this module without using it
macro_rules! lab {
    () => {
        match Lab::new() {
            Some(lab) => lab,
            None => return,
        }
    };
}

/// Positive controls for the attack tests: sshd's log after a mark, a
/// settled trail, the lab's sshd with one layer of refusals taken away.
pub mod attack;
/// The guest's terminal read byte by byte, for the login bench's latencies.
pub mod bench_io;
/// `pairshell edit` with a scripted editor (`tests/edit.rs`).
pub mod edit;
/// Prompts on the host's client and forged answers (`tests/host_control.rs`).
pub mod host_control;
/// The many-guests scenario `tests/load.rs` and `benches/login.rs` share.
pub mod load;
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
    /// drop-in, each of which must match: `tests/support/attack.rs` takes
    /// one layer of refusals away with them.
    pub drop_in_edits: Vec<(String, String)>,
}

impl Lab {
    /// Builds a lab around the binary cargo built for this integration test.
    /// See [`Lab::with_binary`].
    pub fn new() -> Option<Lab> {
        let Some(binary) = option_env!("CARGO_BIN_EXE_pairshell") else {
            panic!(
                "CARGO_BIN_EXE_pairshell was not set when this was compiled: cargo sets it \
                 only for integration tests and benches; elsewhere (an example) build \
                 the binary and call Lab::with_binary"
            );
        };
        Lab::with_binary(Path::new(binary))
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

    fn create_user(&mut self, name: &str, shell: &str, home: &str) {
        assert!(name.len() <= 32, "user name too long: {name}");
        let _lock = UsersLock::take();
        let mut last = String::new();
        for attempt in 0..10 {
            let out = Command::new("useradd")
                .args(["-M", "-N", "-d", home, "-s", shell, "-p", "*", name])
                .output()
                .expect("run useradd");
            if out.status.success() {
                self.users.push(name.to_string());
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("lock") {
                break;
            }
            thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        panic!("useradd {name} failed: {last}");
    }

    /// Creates the per-lab socket group, empty (Drop deletes it).
    fn create_group(&mut self) {
        let name = self.socket_group.clone();
        assert!(name.len() <= 32, "group name too long: {name}");
        let _lock = UsersLock::take();
        let mut last = String::new();
        for attempt in 0..10 {
            let out = Command::new("groupadd")
                .arg(&name)
                .output()
                .expect("run groupadd");
            if out.status.success() {
                self.group_created = true;
                self.socket_gid = nix::unistd::Group::from_name(&name)
                    .unwrap()
                    .unwrap_or_else(|| panic!("group {name} missing right after groupadd"))
                    .gid
                    .as_raw();
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("lock") {
                break;
            }
            thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        panic!("groupadd {name} failed: {last}");
    }

    /// The members of the socket group, as `getent group` lists them.
    pub fn socket_group_members(&self) -> Vec<String> {
        let out = Command::new("getent")
            .args(["group", &self.socket_group])
            .output()
            .expect("run getent");
        let line = String::from_utf8_lossy(&out.stdout);
        line.trim()
            .rsplit(':')
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Creates a throwaway host account (shell /bin/sh) and nothing else: no
    /// socket directory, no host file. That is what `pairshell host add`
    /// starts from. Returns its login.
    pub fn add_host_account(&mut self) -> String {
        let login = format!("{}h{}", self.prefix, self.hosts.len() + 1);
        self.create_user(&login, "/bin/sh", "/nonexistent");
        self.hosts.push(login.clone());
        login
    }

    /// Creates a throwaway account `<prefix><suffix>` with login shell `shell`
    /// and home `home` (which the caller creates). Drop deletes it.
    pub fn add_account(&mut self, suffix: &str, shell: &str, home: &Path) -> String {
        let login = format!("{}{suffix}", self.prefix);
        self.create_user(&login, shell, &home.display().to_string());
        login
    }

    /// Creates a throwaway host account (shell /bin/sh) and its socket dir
    /// `<lab>/sockets/<host>/` (owned by the host, 0755). Returns its login.
    pub fn add_host(&mut self) -> String {
        let login = format!("{}h{}", self.prefix, self.hosts.len() + 1);
        self.create_user(&login, "/bin/sh", "/nonexistent");
        let (uid, gid) = ids(&login);
        let dir = self.dir.join("sockets").join(&login);
        mkdir(&dir, 0o755);
        chown(&dir, Some(uid), Some(gid)).unwrap();
        self.hosts.push(login.clone());
        login
    }

    // -- guests and the main config ---------------------------------------

    /// Generates a key pair for `name` without declaring a guest.
    pub fn make_key(&self, name: &str) -> Guest {
        let key = self.dir.join("keys").join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("{name}@pairshell-lab"))
            .arg("-f")
            .arg(&key)
            .output()
            .expect("run ssh-keygen");
        assert!(out.status.success(), "ssh-keygen: {out:?}");
        let public_line = fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string();
        let mut parts = public_line.split_whitespace();
        let key_type = parts.next().unwrap().to_string();
        let key_base64 = parts.next().unwrap().to_string();
        Guest {
            name: name.to_string(),
            fingerprint: fingerprint(&key.with_extension("pub")),
            key,
            public_line,
            key_type,
            key_base64,
            expires: None,
            principals: Vec::new(),
            key_listed: true,
        }
    }

    /// Declares guest `name`, known only by certificate `principals` (its
    /// key is not in the config), with a fresh key pair to sign.
    pub fn add_certificate_guest(&mut self, name: &str, principals: &[&str]) -> Guest {
        let mut guest = self.make_key(name);
        guest.principals = principals.iter().map(|p| p.to_string()).collect();
        guest.key_listed = false;
        self.guests.insert(name.to_string(), guest.clone());
        self.write_config();
        guest
    }

    /// Makes a user CA (`<lab>/sshd/user_ca`), installs its public key where
    /// the certificates drop-in's `TrustedUserCAKeys` points, and names the
    /// same file as `trusted_user_ca_keys` in the main config. Returns the
    /// CA's private key, for [`Lab::sign`].
    pub fn enable_certificates(&mut self) -> PathBuf {
        let ca = self.dir.join("sshd/user_ca");
        let out = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "pairshell-lab-user-ca",
                "-f",
            ])
            .arg(&ca)
            .output()
            .expect("run ssh-keygen");
        assert!(out.status.success(), "ssh-keygen (CA): {out:?}");
        assert_eq!(ca.with_extension("pub"), self.user_ca_pub());
        fs::set_permissions(self.user_ca_pub(), fs::Permissions::from_mode(0o644)).unwrap();
        let line = format!("trusted_user_ca_keys = {}", toml_path(&self.user_ca_pub()));
        self.add_config_lines(&line);
        ca
    }

    /// Signs `guest`'s key with the CA key `ca` as a user certificate with
    /// key id `id`, serial `serial` and `principals`, valid from yesterday
    /// for a day and a half. The certificate lands next to the private key
    /// (`KEY-cert.pub`), where `ssh -i KEY` picks it up.
    pub fn sign(&self, ca: &Path, guest: &Guest, id: &str, serial: u64, principals: &[&str]) {
        let out = Command::new("ssh-keygen")
            .arg("-q")
            .arg("-s")
            .arg(ca)
            .args([
                "-I",
                id,
                "-n",
                &principals.join(","),
                "-z",
                &serial.to_string(),
            ])
            .args(["-V", "-1d:+12h"])
            .arg(guest.key.with_extension("pub"))
            .output()
            .expect("run ssh-keygen");
        assert!(out.status.success(), "ssh-keygen -s: {out:?}");
    }

    /// Declares guest `name` (with a fresh key) in the main config.
    /// `expires` is a TOML offset datetime such as `2030-01-01T00:00:00Z`.
    pub fn add_guest(&mut self, name: &str, expires: Option<&str>) -> Guest {
        let mut guest = self.make_key(name);
        guest.expires = expires.map(str::to_string);
        self.guests.insert(name.to_string(), guest.clone());
        self.write_config();
        guest
    }

    /// Adds top-level `key = value` lines (and comments) to the main
    /// config, kept when the lab rewrites it.
    pub fn add_config_lines(&mut self, lines: &str) {
        self.config_extra.push_str(lines);
        if !lines.ends_with('\n') {
            self.config_extra.push('\n');
        }
        self.write_config();
    }

    /// The main config as it is on disk now.
    pub fn config_text(&self) -> String {
        fs::read_to_string(&self.config)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.config.display()))
    }

    /// Replaces the main config's text, as an admin editing it by hand
    /// would (root-owned, 0644). A later [`Lab::add_guest`] rewrites it.
    pub fn write_config_text(&self, text: &str) {
        write_file(&self.config, text, 0o644, None);
    }

    /// Takes guest `name` out of the main config (keys and all).
    pub fn remove_guest(&mut self, name: &str) {
        self.guests.remove(name);
        self.write_config();
    }

    fn write_config(&self) {
        let mut s = String::new();
        writeln!(s, "pair_user = {}", toml_str(&self.pair)).unwrap();
        writeln!(s, "tmux = {}", toml_str(TMUX)).unwrap();
        writeln!(s, "hosts_dir = {}", toml_path(&self.dir.join("hosts.d"))).unwrap();
        writeln!(s, "sockets_dir = {}", toml_path(&self.sockets_dir())).unwrap();
        writeln!(s, "socket_group = {}", toml_str(&self.socket_group)).unwrap();
        writeln!(s, "tmpfiles = {}", toml_path(&self.tmpfiles())).unwrap();
        s.push_str(&self.config_extra);
        writeln!(s).unwrap();
        writeln!(s, "[audit]").unwrap();
        writeln!(s, "syslog_socket = {}", toml_path(&self.syslog.path)).unwrap();
        writeln!(s, "required = true").unwrap();
        for g in self.guests.values() {
            writeln!(s).unwrap();
            writeln!(s, "[guests.{}]", g.name).unwrap();
            if g.key_listed {
                writeln!(s, "keys = [{}]", toml_str(&g.public_line)).unwrap();
            }
            if !g.principals.is_empty() {
                let list: Vec<String> = g.principals.iter().map(|p| toml_str(p)).collect();
                writeln!(s, "principals = [{}]", list.join(", ")).unwrap();
            }
            if let Some(e) = &g.expires {
                writeln!(s, "expires = {e}").unwrap();
            }
        }
        write_file(&self.config, &s, 0o644, None);
    }

    // -- hosts, tmux servers and host files ----------------------------------

    /// Starts `session` in a new tmux server owned by `host`, on
    /// `<lab>/sockets/<host>/<session>.sock`, and shares it in the host's
    /// file. One server per shared session, as DESIGN.md asks.
    pub fn share(&mut self, host: &str, session: &str, rw: &[&str], ro: &[&str]) -> Shared {
        let socket = self.start_tmux(host, &format!("{session}.sock"), session);
        self.share_socket(host, session, &socket, rw, ro, None)
    }

    /// Adds a `[sessions.NAME]` entry to `hosts.d/<host>.toml` without starting
    /// anything (the socket may hold other sessions, or none).
    pub fn share_socket(
        &mut self,
        host: &str,
        session: &str,
        socket: &Path,
        rw: &[&str],
        ro: &[&str],
        expires: Option<&str>,
    ) -> Shared {
        let shared = Shared {
            host: host.to_string(),
            name: session.to_string(),
            socket: socket.to_path_buf(),
            read_write: rw.iter().map(|s| s.to_string()).collect(),
            read_only: ro.iter().map(|s| s.to_string()).collect(),
            expires: expires.map(str::to_string),
        };
        self.shares.push(shared.clone());
        self.write_host_file(host);
        shared
    }

    fn write_host_file(&self, host: &str) {
        let mut s = String::new();
        for sh in self.shares.iter().filter(|s| s.host == host) {
            let list = |v: &[String]| v.iter().map(|x| toml_str(x)).collect::<Vec<_>>().join(", ");
            writeln!(s, "[sessions.{}]", toml_str(&sh.name)).unwrap();
            writeln!(s, "socket = {}", toml_path(&sh.socket)).unwrap();
            writeln!(s, "read_write = [{}]", list(&sh.read_write)).unwrap();
            writeln!(s, "read_only = [{}]", list(&sh.read_only)).unwrap();
            if let Some(e) = &sh.expires {
                writeln!(s, "expires = {e}").unwrap();
            }
            writeln!(s).unwrap();
        }
        let path = self.dir.join("hosts.d").join(format!("{host}.toml"));
        write_file(&path, &s, 0o644, Some(ids(host)));
    }

    /// Starts tmux session `session` as `host` on `<lab>/sockets/<host>/<socket_name>`,
    /// starting the server if needed, and returns the socket path. The pane
    /// runs /bin/sh with the prompt [`prompt`]`(session, host)`.
    pub fn start_tmux(&mut self, host: &str, socket_name: &str, session: &str) -> PathBuf {
        let socket = self.dir.join("sockets").join(host).join(socket_name);
        let fresh = !self.servers.iter().any(|s| s.socket == socket);
        let ps1 = format!("PS1={}", prompt(session, host));
        let out = self.tmux_as(
            host,
            &socket,
            &[
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "120",
                "-y",
                "30",
                "-c",
                "/",
                "-e",
                &ps1,
                "/bin/sh",
            ],
        );
        assert!(out.status.success(), "tmux new-session {session}: {out:?}");
        if fresh {
            fs::set_permissions(&socket, fs::Permissions::from_mode(0o666)).unwrap();
            let out = self.tmux_as(host, &socket, &["server-access", "-a", "-w", &self.pair]);
            assert!(out.status.success(), "tmux server-access: {out:?}");
            let out = self.tmux_as(host, &socket, &["display-message", "-p", "#{pid}"]);
            let pid = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
            self.servers.push(TmuxServer {
                host: host.to_string(),
                socket: socket.clone(),
                pid,
            });
        }
        let want = prompt(session, host);
        let shown = poll(WAIT, || {
            self.capture_pane_at(&socket, session)
                .contains(want.trim_end())
                .then_some(())
        });
        assert!(
            shown.is_some(),
            "the prompt of tmux session {session} never showed"
        );
        socket
    }

    /// The host whose tmux server listens on `socket`: the one the lab
    /// started or adopted it for, else the socket file's owner when that is
    /// one of the lab's accounts (a server `pairshell share` started).
    fn owner_of(&self, socket: &Path) -> String {
        if let Some(s) = self.servers.iter().find(|s| s.socket == socket) {
            return s.host.clone();
        }
        self.lab_user_owning(socket)
            .unwrap_or_else(|| panic!("no lab tmux server on {}", socket.display()))
    }

    /// The lab account that owns `path`, if any.
    fn lab_user_owning(&self, path: &Path) -> Option<String> {
        let uid = fs::symlink_metadata(path).ok()?.uid();
        let user = User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
        self.users.contains(&user.name).then_some(user.name)
    }

    /// Registers the tmux server on `socket` (started by someone else, e.g.
    /// `pairshell share` run as `host`) as a lab server: [`Lab::owner_of`]
    /// and the helpers built on it know it, and Drop kills it by its pid.
    pub fn adopt_server(&mut self, host: &str, socket: &Path) {
        if self.servers.iter().any(|s| s.socket == socket) {
            return;
        }
        let out = self.tmux_as(host, socket, &["display-message", "-p", "#{pid}"]);
        assert!(
            out.status.success(),
            "no tmux server of {host} on {}: {out:?}",
            socket.display()
        );
        let pid = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
        self.servers.push(TmuxServer {
            host: host.to_string(),
            socket: socket.to_path_buf(),
            pid,
        });
    }

    /// The session `pairshell share SESSION` runs for `host`, on
    /// `sockets_dir/HOST/SESSION.sock`, with its server adopted. Its
    /// `read_write`/`read_only` lists are left empty: the host file is the
    /// truth, and tests read it.
    pub fn adopt_share(&mut self, host: &str, session: &str) -> Shared {
        let socket = self.host_socket(host, session);
        self.adopt_server(host, &socket);
        Shared {
            host: host.to_string(),
            name: session.to_string(),
            socket,
            read_write: Vec::new(),
            read_only: Vec::new(),
            expires: None,
        }
    }

    /// A throwaway host account set up the supported way: `pairshell host
    /// add`, run by root.
    pub fn enable_host(&mut self) -> String {
        let host = self.add_host_account();
        let run = self.pairshell_root(&["host", "add", &host]);
        assert!(run.success(), "host add {host}: {run}");
        host
    }

    /// `pairshell share SESSION ARGS… --detach` as `host`, which must
    /// succeed; returns its output and the session (server adopted by the
    /// lab, prompt set so [`Lab::attach`] can see it).
    pub fn share_as(&mut self, host: &str, session: &str, args: &[&str]) -> (Run, Shared) {
        let run = self.share_run(host, session, args);
        assert!(run.success(), "share {session} {args:?}: {run}");
        let shared = self.adopt_share(host, session);
        self.set_prompt(&shared);
        (run, shared)
    }

    /// `pairshell share SESSION ARGS… --detach` as `host`, whatever it returns.
    pub fn share_run(&self, host: &str, session: &str, args: &[&str]) -> Run {
        let mut argv = vec!["share", session];
        argv.extend_from_slice(args);
        argv.push("--detach");
        self.pairshell_as(host, &argv)
    }

    /// Adds `allow_other_sessions = true` to `[sessions.SESSION]` of the
    /// host's file, by hand (no command writes it).
    pub fn allow_other_sessions(&self, host: &str, session: &str) {
        let path = self.host_file(host);
        let text = fs::read_to_string(&path).unwrap();
        let mut edited = String::new();
        let mut found = false;
        for line in text.lines() {
            edited.push_str(line);
            edited.push('\n');
            let header = line.split('#').next().unwrap_or("").trim();
            if !found && header.starts_with("[sessions.") && header.contains(session) {
                edited.push_str("allow_other_sessions = true\n");
                found = true;
            }
        }
        assert!(found, "no [sessions.{session}] in:\n{text}");
        fs::write(&path, edited).unwrap();
    }

    /// The host starts a second session, `other`, on the shared server, with
    /// a line of output ([`OTHER_MARKER`]) no guest may ever see.
    pub fn start_other_session(&self, api: &Shared) {
        let out = self.tmux_as(
            &api.host,
            &api.socket,
            &["new-session", "-d", "-s", "other", "-x", "80", "-y", "24"],
        );
        assert!(out.status.success(), "new-session other: {out:?}");
        // Type only once the shell is up, so its output is a line of its own.
        let ready = poll(WAIT, || {
            self.capture_pane_at(&api.socket, "other")
                .contains('$')
                .then_some(())
        });
        assert!(ready.is_some(), "the shell in `other` never prompted");
        for keys in [&["-l", "echo other-marker-$((6*7))"][..], &["Enter"][..]] {
            let mut args = vec!["send-keys", "-t", "=other:"];
            args.extend_from_slice(keys);
            let out = self.tmux_as(&api.host, &api.socket, &args);
            assert!(out.status.success(), "{out:?}");
        }
        let shown = poll(WAIT, || {
            self.capture_pane_at(&api.socket, "other")
                .lines()
                .any(|l| l.trim_end() == OTHER_MARKER)
                .then_some(())
        });
        assert!(
            shown.is_some(),
            "{}",
            self.capture_pane_at(&api.socket, "other")
        );
    }

    /// Makes the pane of `s` (a shell the lab did not start) show the lab's
    /// [`prompt`], typed by the host, so [`Lab::attach`] can tell when a
    /// guest sees it.
    pub fn set_prompt(&self, s: &Shared) {
        let p = prompt(&s.name, &s.host);
        self.host_types_line(s, &format!("PS1='{p}'"));
        assert!(
            self.wait_pane_line(s, p.trim_end()),
            "the prompt {p:?} never showed in {}:\n{}",
            s.label(),
            self.capture_pane(s)
        );
    }

    /// `sockets_dir` of the config: `<lab>/sockets`.
    pub fn sockets_dir(&self) -> PathBuf {
        self.dir.join("sockets")
    }

    /// `sockets_dir/HOST/SESSION.sock`, where `pairshell share` puts a
    /// session's server.
    pub fn host_socket(&self, host: &str, session: &str) -> PathBuf {
        self.sockets_dir()
            .join(host)
            .join(format!("{session}.sock"))
    }

    /// `tmpfiles` of the config: `<lab>/tmpfiles.conf`.
    pub fn tmpfiles(&self) -> PathBuf {
        self.dir.join("tmpfiles.conf")
    }

    /// `hosts_dir/HOST.toml`.
    pub fn host_file(&self, host: &str) -> PathBuf {
        self.dir.join("hosts.d").join(format!("{host}.toml"))
    }

    /// A command that runs `program` as `user`, with the user's uid, primary
    /// gid *and supplementary groups* (std's `uid`/`gid` leave the groups of
    /// the caller, root's, in place; `setpriv --init-groups` reads them from
    /// the group database, as a login would), in a clean environment and `/`.
    pub fn command_as(&self, user: &str, program: &Path) -> Command {
        let (uid, gid) = ids(user);
        let mut cmd = Command::new(SETPRIV);
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            .arg("--")
            .arg(program);
        clean_env(&mut cmd, user, "/");
        cmd
    }

    /// `pairshell --config <lab config> ARGS…` as `user` (with the user's
    /// groups), stdin null, run to completion (30 s at most).
    pub fn pairshell_as(&self, user: &str, args: &[&str]) -> Run {
        let mut cmd = self.command_as(user, &self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null());
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// `pairshell --config <lab config> ARGS…` as root, in the same clean
    /// environment as [`Lab::pairshell_as`].
    ///
    /// `host …` runs under the lab's users lock: it edits /etc/group, and the
    /// shadow tools refuse to run while another test process's useradd or
    /// userdel holds the lock files, which is the lab's own concurrency, not
    /// something the test is about.
    /// `pairshell guest ARGS…` as root.
    pub fn guest_cmd(&self, args: &[&str]) -> Run {
        let mut argv = vec!["guest"];
        argv.extend_from_slice(args);
        self.pairshell_root(&argv)
    }

    pub fn pairshell_root(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null());
        clean_env(&mut cmd, "root", "/");
        let _lock = (args.first() == Some(&"host")).then(UsersLock::take);
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// `pairshell check --sshd-config <lab>/sshd/sshd_config` as root: the
    /// lab's sshd is the one whose settings for the pair account count (by
    /// default check asks the system's sshd, which knows nothing of the lab).
    pub fn check(&self) -> Run {
        self.check_with_sshd_config(&self.sshd_config())
    }

    /// `pairshell check --sshd-config SSHD_CONFIG` as root.
    pub fn check_with_sshd_config(&self, sshd_config: &Path) -> Run {
        let sshd_config = sshd_config.display().to_string();
        self.pairshell_root(&["check", "--sshd-config", &sshd_config])
    }

    /// The lab sshd's config, `<lab>/sshd/sshd_config`. It `Include`s the
    /// shipped drop-in as [`Lab::sshd_drop_in`].
    pub fn sshd_config(&self) -> PathBuf {
        self.dir.join("sshd/sshd_config")
    }

    /// The shipped drop-in as the lab's sshd reads it, `<lab>/sshd/pairshell.conf`.
    pub fn sshd_drop_in(&self) -> PathBuf {
        self.dir.join("sshd/pairshell.conf")
    }

    /// Sets `user`'s login shell (`usermod -s`), under the lab's users lock.
    pub fn set_shell(&self, user: &str, shell: &str) {
        let _lock = UsersLock::take();
        let mut last = String::new();
        for attempt in 0..10 {
            let out = Command::new("usermod")
                .args(["-s", shell, user])
                .output()
                .expect("run usermod");
            if out.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("lock") {
                break;
            }
            thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        panic!("usermod -s {shell} {user} failed: {last}");
    }

    /// `pairshell --config <lab config> ARGS…` as `user` in a pty (for
    /// `share` without `--detach`, which attaches the host).
    pub fn pairshell_tty_as(&self, user: &str, args: &[&str]) -> Tty {
        let mut cmd = self.command_as(user, &self.bin);
        cmd.arg("--config").arg(&self.config).args(args);
        Tty::spawn(&format!("pairshell {} as {user}", args.join(" ")), cmd)
    }

    /// The host's own tmux client, `tmux -S SOCKET attach -t =SESSION` run as
    /// `host` (with its groups) in a pty, returned once the server lists it.
    /// Its [`Tty`] keeps everything tmux drew, status-line messages included.
    pub fn host_tty(&self, host: &str, socket: &Path, session: &str) -> Tty {
        let host_clients = || {
            self.list_clients_at(socket)
                .into_iter()
                .filter(|c| c.user == host)
                .map(|c| c.pid)
                .collect::<Vec<_>>()
        };
        let before = host_clients();
        let mut cmd = self.command_as(host, Path::new(TMUX));
        cmd.arg("-S")
            .arg(socket)
            .args(["attach", "-t", &format!("={session}")]);
        let mut tty = Tty::spawn(&format!("tmux attach as {host} to {session}"), cmd);
        let attached = poll(WAIT, || {
            host_clients()
                .into_iter()
                .any(|pid| !before.contains(&pid))
                .then_some(())
        });
        if attached.is_none() {
            tty.wait_exit(Duration::from_secs(1));
            panic!(
                "{host}'s tmux client never attached to {session} on {}:\n{}",
                socket.display(),
                tty.text()
            );
        }
        tty
    }

    /// Runs tmux as `host` against `socket`, with a clean environment.
    pub fn tmux_as(&self, host: &str, socket: &Path, args: &[&str]) -> Output {
        let (uid, gid) = ids(host);
        Command::new(TMUX)
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(socket)
            .args(args)
            .env_clear()
            .env("PATH", PATH_ENV)
            .env("HOME", "/")
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .current_dir("/")
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// The visible pane plus its history, as the host sees it.
    pub fn capture_pane(&self, s: &Shared) -> String {
        self.capture_pane_at(&s.socket, &s.name)
    }

    pub fn capture_pane_at(&self, socket: &Path, session: &str) -> String {
        let host = self.owner_of(socket);
        let target = format!("={session}:");
        let out = self.tmux_as(
            &host,
            socket,
            &["capture-pane", "-p", "-J", "-S", "-", "-t", &target],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The clients attached to the server on `socket`.
    pub fn list_clients_at(&self, socket: &Path) -> Vec<Client> {
        let host = self.owner_of(socket);
        let out = self.tmux_as(
            &host,
            socket,
            &[
                "list-clients",
                "-F",
                "#{client_user}\t#{client_readonly}\t#{client_session}\t#{client_pid}\t#{client_name}",
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 5).then(|| Client {
                    user: f[0].to_string(),
                    readonly: f[1] == "1",
                    session: f[2].to_string(),
                    pid: f[3].parse().unwrap_or(0),
                    name: f[4].to_string(),
                })
            })
            .collect()
    }

    pub fn list_clients(&self, s: &Shared) -> Vec<Client> {
        self.list_clients_at(&s.socket)
    }

    /// The pair account's clients on the server of `s`.
    pub fn pair_clients(&self, s: &Shared) -> Vec<Client> {
        self.list_clients(s)
            .into_iter()
            .filter(|c| c.user == self.pair)
            .collect()
    }

    /// Waits until the pair account has a client on `s`'s server and returns it.
    pub fn wait_pair_client(&self, s: &Shared) -> Option<Client> {
        poll(WAIT, || self.pair_clients(s).into_iter().next())
    }

    /// Waits until the pair account has no client left on `s`'s server.
    pub fn wait_no_pair_client(&self, s: &Shared) -> bool {
        poll(WAIT, || self.pair_clients(s).is_empty().then_some(())).is_some()
    }

    /// Types into the pane as its host (`send-keys`), then presses Enter.
    pub fn host_types_line(&self, s: &Shared, line: &str) {
        let target = format!("={}:", s.name);
        let out = self.tmux_as(
            &s.host,
            &s.socket,
            &["send-keys", "-t", &target, "-l", line],
        );
        assert!(out.status.success(), "send-keys: {out:?}");
        let out = self.tmux_as(&s.host, &s.socket, &["send-keys", "-t", &target, "Enter"]);
        assert!(out.status.success(), "send-keys: {out:?}");
    }

    /// Moves a pair-account client to `session` as the host would
    /// (`switch-client`): what the server's hooks must undo.
    pub fn host_moves_client(&self, s: &Shared, client: &Client, session: &str) {
        let target = format!("={session}");
        let out = self.tmux_as(
            &s.host,
            &s.socket,
            &["switch-client", "-c", &client.name, "-t", &target],
        );
        assert!(out.status.success(), "switch-client: {out:?}");
    }

    /// Asserts that `line` never reaches the pane of `s`: first the host
    /// types a sentinel and waits for its output, so everything typed
    /// before has been through the shell by then.
    pub fn pane_never_shows(&self, s: &Shared, line: &str) {
        let sentinel = format!("sentinel-{}", std::process::id());
        self.host_types_line(s, &format!("echo {sentinel}"));
        assert!(
            self.wait_pane_line(s, &sentinel),
            "the host's own sentinel never reached the pane:\n{}",
            self.capture_pane(s)
        );
        let pane = self.capture_pane(s);
        assert!(
            !pane.lines().any(|l| l.trim_end() == line),
            "{line:?} reached the host's pane:\n{pane}"
        );
    }

    /// Waits until some line of the pane equals `line` exactly (an output line,
    /// not the command line that typed it).
    pub fn wait_pane_line(&self, s: &Shared, line: &str) -> bool {
        poll(WAIT, || {
            self.capture_pane(s)
                .lines()
                .any(|l| l.trim_end() == line)
                .then_some(())
        })
        .is_some()
    }

    // -- sshd ------------------------------------------------------------------

    fn start_sshd(&mut self) {
        if !Path::new("/run/sshd").exists() {
            mkdir(Path::new("/run/sshd"), 0o755);
        }
        let sshd_dir = self.dir.join("sshd");
        let hostkey = sshd_dir.join("ssh_host_ed25519_key");
        let out = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "pairshell-lab-host",
                "-f",
            ])
            .arg(&hostkey)
            .output()
            .expect("run ssh-keygen");
        assert!(out.status.success(), "ssh-keygen (host key): {out:?}");
        let hostpub = fs::read_to_string(hostkey.with_extension("pub")).unwrap();
        let drop_in = sshd_dir.join("pairshell.conf");
        let mut drop_in_text = self.shipped_drop_in();
        for (from, to) in &self.sshd_extra.drop_in_edits {
            assert!(drop_in_text.contains(from), "the drop-in has no {from:?}");
            drop_in_text = drop_in_text.replace(from, to);
        }
        write_file(&drop_in, &drop_in_text, 0o644, None);
        let certificates_drop_in = sshd_dir.join("pairshell-certificates.conf");
        write_file(
            &certificates_drop_in,
            &self.shipped_certificates_drop_in(),
            0o644,
            None,
        );

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {hostkey}\n\
                 PidFile none\n\
                 UsePAM no\n\
                 AllowUsers {pair}{more_users}\n\
                 LogLevel VERBOSE\n\
                 {global}\
                 # A permissive admin. The shipped drop-in's own AcceptEnv\n\
                 # overrides this for the pair account, unless a test asks for\n\
                 # a broken setup (SshdExtra::permissive_env).\n\
                 AcceptEnv LANG LC_* LD_PRELOAD TMUX DISPLAY PAIRSHELL_LEAK\n\
                 # Everything about the pair account comes from the shipped drop-ins,\n\
                 # in the order sshd_config.d/*.conf sorts them.\n\
                 Include {certificates_drop_in}\n\
                 Include {drop_in}\n\
                 {tail}",
                hostkey = hostkey.display(),
                pair = self.pair,
                drop_in = drop_in.display(),
                certificates_drop_in = certificates_drop_in.display(),
                more_users = self
                    .sshd_extra
                    .allow_users
                    .iter()
                    .map(|u| format!(" {u}"))
                    .collect::<String>(),
                global = with_newline(&self.sshd_extra.global),
                tail = with_newline(&self.sshd_extra.tail),
            );
            let config_path = sshd_dir.join("sshd_config");
            write_file(&config_path, &config, 0o644, None);
            let log = File::create(&self.sshd_log).unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start sshd");
            let ready = poll(WAIT, || {
                let log = fs::read_to_string(&self.sshd_log).unwrap_or_default();
                if log.contains(&format!("Server listening on 127.0.0.1 port {port}")) {
                    return Some(true);
                }
                match child.try_wait() {
                    Ok(Some(_)) => Some(false),
                    _ => None,
                }
            });
            if ready == Some(true) {
                self.port = port;
                self.sshd = Some(child);
                write_file(
                    &sshd_dir.join("known_hosts"),
                    &format!("[127.0.0.1]:{port} {}", hostpub.trim()),
                    0o644,
                    None,
                );
                self.write_ssh_config();
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(&self.sshd_log).unwrap_or_default();
        }
        panic!("sshd did not start; its log:\n{last_log}");
    }

    /// Adds `extra` to the lab sshd's config and restarts sshd with it (on a
    /// new port, with a new host key; `ssh_config` and `known_hosts` follow).
    pub fn extend_sshd(&mut self, extra: SshdExtra) {
        self.sshd_extra
            .global
            .push_str(&with_newline(&extra.global));
        self.sshd_extra.allow_users.extend(extra.allow_users);
        self.sshd_extra.tail.push_str(&with_newline(&extra.tail));
        self.sshd_extra.permissive_env |= extra.permissive_env;
        self.sshd_extra.drop_in_edits.extend(extra.drop_in_edits);
        if let Some(mut sshd) = self.sshd.take() {
            let _ = kill(Pid::from_raw(sshd.id() as i32), Signal::SIGTERM);
            let _ = sshd.wait();
        }
        let hostkey = self.dir.join("sshd/ssh_host_ed25519_key");
        let _ = fs::remove_file(&hostkey);
        let _ = fs::remove_file(hostkey.with_extension("pub"));
        self.start_sshd();
    }

    /// Lets `connections` guests connect at once: sshd's `MaxStartups`
    /// (default 10:30:100, which drops unauthenticated connections at
    /// random from the 10th on) and `MaxSessions`.
    pub fn raise_sshd_limits(&mut self, connections: u32) {
        self.extend_sshd(SshdExtra {
            global: format!("MaxStartups {connections}\nMaxSessions {connections}\n"),
            ..SshdExtra::default()
        });
    }

    /// sshd's log so far.
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(&self.sshd_log).unwrap_or_default()
    }

    // -- the ssh client -------------------------------------------------------

    /// The drop-in pairshell ships, with the account name and the two paths
    /// swapped for the lab's. Panics when the file no longer has the shape
    /// this substitution expects, so the lab never silently tests something
    /// other than what is shipped.
    fn shipped_drop_in(&self) -> String {
        const SHIPPED: &str = include_str!("../../contrib/sshd_config.d/pairshell.conf");
        let drop_in = self.for_the_lab("pairshell.conf", SHIPPED);
        if !self.sshd_extra.permissive_env {
            return drop_in;
        }
        let kept: Vec<&str> = drop_in
            .lines()
            .filter(|l| !l.trim_start().starts_with("AcceptEnv "))
            .collect();
        assert!(
            kept.len() < drop_in.lines().count(),
            "no AcceptEnv in the drop-in"
        );
        kept.join("\n") + "\n"
    }

    fn shipped_certificates_drop_in(&self) -> String {
        const SHIPPED: &str =
            include_str!("../../contrib/sshd_config.d/pairshell-certificates.conf");
        self.for_the_lab("pairshell-certificates.conf", SHIPPED)
    }

    /// `<lab>/sshd/user_ca.pub`, what the certificates drop-in's
    /// `TrustedUserCAKeys` names in the lab.
    pub fn user_ca_pub(&self) -> PathBuf {
        self.dir.join("sshd/user_ca.pub")
    }

    /// A shipped drop-in with its account name and paths swapped for the lab's.
    fn for_the_lab(&self, name: &str, shipped: &str) -> String {
        const BINARY: &str = "/usr/local/bin/pairshell";
        const CONFIG: &str = "/etc/pairshell/pairshell.toml";
        const USER_CA: &str = "/etc/ssh/pairshell_user_ca.pub";
        let is_comment = |l: &str| l.trim_start().starts_with('#');
        let directives = || shipped.lines().filter(|l| !is_comment(l));
        assert_eq!(
            directives()
                .filter(|l| l.trim() == "Match User pair")
                .count(),
            1,
            "contrib/sshd_config.d/{name}: expected one `Match User pair` line"
        );
        for needle in [BINARY, CONFIG] {
            assert!(
                directives().any(|l| l.contains(needle)),
                "contrib/sshd_config.d/{name} no longer mentions {needle}"
            );
        }
        let mut out = String::new();
        for line in shipped.lines() {
            let line = if line.trim() == "Match User pair" {
                line.replace("Match User pair", &format!("Match User {}", self.pair))
            } else {
                line.replace(BINARY, &self.bin.display().to_string())
                    .replace(CONFIG, &self.config.display().to_string())
                    .replace(USER_CA, &self.user_ca_pub().display().to_string())
            };
            assert!(
                is_comment(&line)
                    || !(line.contains("/etc/pairshell")
                        || line.contains("/usr/local")
                        || line.contains("/etc/ssh")),
                "contrib/sshd_config.d/{name} names a path the lab does not swap: {line}"
            );
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// The ssh client's options (`<lab>/ssh_config`, for `ssh -F`): trust only
    /// the lab's host key, offer only the `-i` key, never prompt.
    fn write_ssh_config(&self) {
        let known_hosts = self.dir.join("sshd/known_hosts");
        let config = format!(
            "# ssh client options for the pairshell lab's sshd on 127.0.0.1:{port}\n\
             UserKnownHostsFile {known_hosts}\n\
             GlobalKnownHostsFile /dev/null\n\
             StrictHostKeyChecking yes\n\
             IdentitiesOnly yes\n\
             IdentityAgent none\n\
             BatchMode yes\n\
             PasswordAuthentication no\n\
             ConnectTimeout 10\n",
            port = self.port,
            known_hosts = known_hosts.display(),
        );
        write_file(&self.ssh_config(), &config, 0o644, None);
    }

    /// `<lab>/ssh_config`, the ssh client's options.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// ssh's arguments: `-F <lab>/ssh_config -i KEY [-t] -p PORT pair@127.0.0.1 [REQUEST]`.
    fn ssh_args(&self, key: &Path, extra: &[&str], request: Option<&str>) -> Vec<String> {
        let mut args = vec![
            "-F".to_string(),
            self.ssh_config().display().to_string(),
            "-i".to_string(),
            key.display().to_string(),
        ];
        args.extend(extra.iter().map(|e| e.to_string()));
        args.push("-p".to_string());
        args.push(self.port.to_string());
        args.push(format!("{}@127.0.0.1", self.pair));
        args.extend(request.map(str::to_string));
        args
    }

    fn ssh_command(&self, key: &Path, tty: bool, request: Option<&str>) -> Command {
        self.ssh_command_with(key, if tty { &["-t"] } else { &[] }, request)
    }

    fn ssh_command_with(&self, key: &Path, extra: &[&str], request: Option<&str>) -> Command {
        ssh_client(self.ssh_args(key, extra, request))
    }

    /// `ssh EXTRA… ACCOUNT@127.0.0.1 [REQUEST]` with `key`, not run yet: the
    /// lab's sshd and client options, another account than the pair
    /// account (one [`SshdExtra::allow_users`] names).
    pub fn ssh_to(
        &self,
        account: &str,
        key: &Path,
        extra: &[&str],
        request: Option<&str>,
    ) -> Command {
        let mut args = self.ssh_args(key, extra, request);
        let pair_at = format!("{}@127.0.0.1", self.pair);
        let at = args
            .iter()
            .position(|a| *a == pair_at)
            .expect("ssh_args names the pair account");
        args[at] = format!("{account}@127.0.0.1");
        ssh_client(args)
    }

    /// The command [`Lab::ssh`] (`tty` false) or [`Lab::ssh_tty`] (`tty` true)
    /// runs, as one line a person can paste into a root shell.
    pub fn ssh_command_line(&self, guest: &Guest, tty: bool, request: Option<&str>) -> String {
        std::iter::once("ssh".to_string())
            .chain(self.ssh_args(&guest.key, if tty { &["-t"] } else { &[] }, request))
            .map(|a| shell_quote(&a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `ssh EXTRA… pair@127.0.0.1 [REQUEST]` as `guest`, not run yet (for
    /// `-L`, `-A`, `-o SetEnv=…` and the like; `-t` is up to the caller).
    pub fn ssh_with(&self, guest: &Guest, extra: &[&str], request: Option<&str>) -> Command {
        self.ssh_command_with(&guest.key, extra, request)
    }

    /// `ssh pair@127.0.0.1 [REQUEST]` without a tty, run to completion.
    pub fn ssh(&self, guest: &Guest, request: Option<&str>) -> Run {
        let mut cmd = self.ssh_command(&guest.key, false, request);
        cmd.stdin(Stdio::null());
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// `ssh -t` as `guest` asking for `request`, returned once the guest's
    /// client shows `shared`'s prompt and is attached to its server.
    pub fn attach(&self, guest: &Guest, request: &str, shared: &Shared) -> Tty {
        let mut tty = self.ssh_tty(guest, Some(request));
        tty.wait_for(prompt(&shared.name, &shared.host).trim_end())
            .unwrap();
        self.wait_pair_client(shared)
            .unwrap_or_else(|| panic!("{} never attached to {}", guest.name, shared.label()));
        tty
    }

    /// `ssh -t pair@127.0.0.1 [REQUEST]` in a pty, for joins and the chooser.
    pub fn ssh_tty(&self, guest: &Guest, request: Option<&str>) -> Tty {
        let cmd = self.ssh_command(&guest.key, true, request);
        Tty::spawn(&format!("ssh -t as {}", guest.name), cmd)
    }

    // -- running the binary directly -----------------------------------------

    /// `pairshell --config <lab config> authorized-keys USER TYPE BASE64`,
    /// as root, or as `as_uid` when given (sshd runs it as nobody).
    pub fn authorized_keys(
        &self,
        user: &str,
        key_type: &str,
        base64: &str,
        as_uid: Option<u32>,
    ) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(["authorized-keys", user, key_type, base64])
            .env_clear()
            .env("PATH", PATH_ENV)
            .current_dir("/")
            .stdin(Stdio::null());
        if let Some(uid) = as_uid {
            cmd.uid(uid).gid(uid);
        }
        run_with_timeout(cmd, Duration::from_secs(20))
    }

    /// Runs `pairshell --config … login` as the pair account, the way sshd's
    /// forced command would, with `SSH_USER_AUTH` naming a file (owned by the
    /// pair account) that says the guest authenticated with `public_line`.
    pub fn login_as_pair(&self, public_line: &str, request: Option<&str>) -> Run {
        self.login_as(&self.pair, public_line, request)
    }

    /// `pairshell login` run directly as `user`, with an `SSH_USER_AUTH`
    /// file owned by `user` naming `public_line`.
    pub fn login_as(&self, user: &str, public_line: &str, request: Option<&str>) -> Run {
        let (uid, gid) = ids(user);
        let auth = self.scratch_file("ssh-user-auth");
        write_file(
            &auth,
            &format!("publickey {public_line}\n"),
            0o600,
            Some((uid, gid)),
        );
        self.login_with_auth(user, Some(&auth), request)
    }

    /// A fresh path under `<lab>/scratch` (nothing is created).
    pub fn scratch_file(&self, stem: &str) -> PathBuf {
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        self.dir.join("scratch").join(format!("{stem}-{n}"))
    }

    /// `pairshell login` run directly as `user`, with `SSH_USER_AUTH` set to
    /// `auth` (or unset), whatever that file is.
    pub fn login_with_auth(&self, user: &str, auth: Option<&Path>, request: Option<&str>) -> Run {
        let (uid, gid) = ids(user);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("login")
            .env_clear()
            .env("PATH", PATH_ENV)
            .env("HOME", self.dir.join("home"))
            .env("USER", user)
            .env("LOGNAME", user)
            .env("SSH_CONNECTION", "127.0.0.1 40404 127.0.0.1 22")
            .env("SSH_CLIENT", "127.0.0.1 40404 22")
            .current_dir("/")
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null());
        if let Some(auth) = auth {
            cmd.env("SSH_USER_AUTH", auth);
        }
        if let Some(r) = request {
            cmd.env("SSH_ORIGINAL_COMMAND", r);
        }
        run_with_timeout(cmd, Duration::from_secs(20))
    }

    // -- audit ------------------------------------------------------------------

    pub fn syslog(&self) -> &Syslog {
        &self.syslog
    }

    /// Stops the syslog receiver the way a dying daemon would: the socket
    /// closes and its name goes away, so sends fail.
    pub fn stop_syslog(&mut self) {
        self.syslog.stop();
        let _ = fs::remove_file(&self.syslog.path);
    }

    /// Starts the syslog receiver again on the same path, keeping what it
    /// received before.
    pub fn restart_syslog(&mut self) {
        self.syslog.listen();
    }

    /// Waits for an audit record with all of `fields` (key, value).
    pub fn wait_audit(&self, fields: &[(&str, &str)]) -> Record {
        self.syslog
            .wait_for(|r| r.has(fields), WAIT)
            .unwrap_or_else(|| {
                panic!(
                    "no audit record with {fields:?}; received:\n{}",
                    self.syslog.raw().join("\n")
                )
            })
    }

    /// A diagnostic dump: sshd's log and the syslog lines received.
    pub fn diagnostics(&self) -> String {
        format!(
            "===== lab {} =====\n----- sshd log -----\n{}\n----- syslog datagrams -----\n{}\n==========",
            self.dir.display(),
            self.sshd_log(),
            self.syslog.raw().join("\n")
        )
    }
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

// ---------------------------------------------------------------------------
// The guest's terminal
// ---------------------------------------------------------------------------

/// A process (ssh) in a pty. Everything it prints is kept; [`Tty::text`] is
/// that output with terminal escape sequences removed.
pub struct Tty {
    name: String,
    session: expectrl::Session,
    raw: Vec<u8>,
    exit: Option<i32>,
}

impl Tty {
    pub fn spawn(name: &str, cmd: Command) -> Tty {
        let session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
        Tty {
            name: name.to_string(),
            session,
            raw: Vec::new(),
            exit: None,
        }
    }

    /// Reads whatever the process printed since the last call.
    pub fn pump(&mut self) {
        let mut buf = [0u8; 8192];
        loop {
            match self.session.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: nothing more now; EIO: the other side is closed.
                Err(_) => break,
            }
        }
    }

    /// Everything printed so far, escape sequences removed.
    /// Everything the terminal received so far, escape sequences included.
    pub fn raw_bytes(&mut self) -> Vec<u8> {
        self.pump();
        self.raw.clone()
    }

    pub fn text(&mut self) -> String {
        self.pump();
        strip_ansi(&self.raw)
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for(&mut self, needle: &str) -> Result<(), String> {
        self.wait_until(WAIT, |t| t.contains(needle)).map_err(|t| {
            format!(
                "{}: {needle:?} never showed; output so far:\n{t}",
                self.name
            )
        })
    }

    /// Waits until `pred` holds of the output; on timeout returns the output.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text();
            if pred(&t) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(t);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends bytes as typed keys.
    pub fn send(&mut self, bytes: &[u8]) {
        self.session.send(bytes).expect("write to the pty");
    }

    /// A position in the output, for [`Tty::text_since`].
    pub fn mark(&mut self) -> usize {
        self.pump();
        self.raw.len()
    }

    /// The output since `mark`, escape sequences removed.
    pub fn text_since(&mut self, mark: usize) -> String {
        self.pump();
        strip_ansi(&self.raw[mark.min(self.raw.len())..])
    }

    /// Types tmux's prefix (C-b), then `key`. The pauses (before the prefix
    /// too, for keys typed just before) matter: tmux takes keys that arrive
    /// within `assume-paste-time` (1 ms) of each other for a paste and does
    /// not look them up in its key tables.
    pub fn tmux_key(&mut self, key: &[u8]) {
        thread::sleep(Duration::from_millis(150));
        self.send(b"\x02");
        thread::sleep(Duration::from_millis(150));
        self.send(key);
    }

    /// Runs `command` at tmux's command prompt (C-b :), as a guest would.
    ///
    /// The prompt opening shows as the cursor moved to the status line's
    /// first column and a `:` drawn there (`ESC[ROW;1H:`). A key can go
    /// missing under load, so each step is retried (Escape closes a prompt
    /// left open; the pause after it is longer than tmux's escape-time, so
    /// the next C-b is not read as Meta-C-b). Callers assert the command's
    /// effect, so a retry cannot make a test pass by accident.
    pub fn tmux_command(&mut self, command: &str) {
        let head: String = command.chars().take(20).collect();
        for _attempt in 0..3 {
            let mark = self.mark();
            self.tmux_key(b":");
            let opened = poll(Duration::from_secs(3), || {
                self.pump();
                let since = &self.raw[mark.min(self.raw.len())..];
                since.windows(4).any(|w| w == b";1H:").then_some(())
            });
            if opened.is_none() {
                continue;
            }
            let mark = self.mark();
            self.send(command.as_bytes());
            let typed = poll(Duration::from_secs(3), || {
                self.text_since(mark).contains(&head).then_some(())
            });
            if typed.is_some() {
                thread::sleep(Duration::from_millis(150));
                self.send(b"\r");
                return;
            }
            self.send(b"\x1b");
            thread::sleep(Duration::from_millis(1000));
        }
        let text = self.text();
        panic!(
            "{}: could not type {head:?} at tmux's command prompt:\n{text}",
            self.name
        );
    }

    /// Waits until the process exits; returns its exit code (128+signal when
    /// killed), or `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        if self.exit.is_some() {
            return self.exit;
        }
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            match self.session.get_process().status() {
                Ok(expectrl::WaitStatus::Exited(_, code)) => {
                    self.exit = Some(code);
                    break;
                }
                Ok(expectrl::WaitStatus::Signaled(_, sig, _)) => {
                    self.exit = Some(128 + sig as i32);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.pump();
        self.exit
    }

    /// Whether the process is still running. (Asking reaps it when it has
    /// exited, so the exit code is kept for [`Tty::wait_exit`].)
    pub fn is_alive(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if thread::panicking() {
            let text = self.text();
            eprintln!("----- terminal of {} -----\n{text}\n----------", self.name);
        }
        // expectrl's PtyProcess kills the child (SIGHUP … SIGKILL) on drop.
    }
}

/// Removes terminal escape sequences (CSI, OSC, two-byte ESC sequences,
/// charset designations) and control characters other than `\n`; `\r` becomes
/// `\n` so that redrawn lines stay apart.
pub fn strip_ansi(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\x1b' => match it.next() {
                Some('[') => {
                    // parameters and intermediates, then a final byte 0x40..=0x7e
                    for c in it.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') | Some('P') | Some('_') | Some('^') => {
                    // string until BEL or ST (ESC \)
                    while let Some(c) = it.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            it.next();
                            break;
                        }
                    }
                }
                Some('(') | Some(')') | Some('*') | Some('+') | Some('#') | Some('%') => {
                    it.next();
                }
                _ => {}
            },
            '\r' => out.push('\n'),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The syslog receiver
// ---------------------------------------------------------------------------

/// One audit line, parsed.
#[derive(Clone, Debug)]
pub struct Record {
    pub pri: u32,
    pub tag: String,
    pub pid: Option<u32>,
    pub fields: BTreeMap<String, String>,
    pub raw: String,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// True when every (key, value) pair is present with that exact value.
    pub fn has(&self, fields: &[(&str, &str)]) -> bool {
        fields.iter().all(|(k, v)| self.get(k) == Some(v))
    }

    /// The field, or a panic that shows the record.
    pub fn field(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("audit record has no {key}: {}", self.raw))
    }
}

/// Collects syslog datagrams sent to `<lab>/log.sock`.
pub struct Syslog {
    pub path: PathBuf,
    lines: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syslog {
    /// Binds a receiver at `path` (mode 0666, as `/dev/log` is).
    pub fn bind(path: &Path) -> Syslog {
        let mut syslog = Syslog {
            path: path.to_path_buf(),
            lines: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        syslog.listen();
        syslog
    }

    /// Binds the socket and starts collecting (again, after [`Syslog::stop`]).
    fn listen(&mut self) {
        let sock = UnixDatagram::bind(&self.path).expect("bind the syslog socket");
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o666)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        self.stop = Arc::new(AtomicBool::new(false));
        let lines = self.lines.clone();
        let stop = self.stop.clone();
        self.thread = Some(thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::SeqCst) {
                match sock.recv(&mut buf) {
                    Ok(n) => lines.lock().unwrap().push(buf[..n].to_vec()),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
        }));
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// The datagrams as received (lossy UTF-8, control characters shown
    /// escaped).
    pub fn raw(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| String::from_utf8_lossy(l).escape_debug().to_string())
            .collect()
    }

    /// The datagrams as received, as bytes.
    pub fn raw_bytes(&self) -> Vec<Vec<u8>> {
        self.lines.lock().unwrap().clone()
    }

    /// Every record so far. Panics on a datagram that is not an RFC 3164
    /// line with facility authpriv and tag pairshell.
    pub fn records(&self) -> Vec<Record> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| match parse_rfc3164(l) {
                Ok(r) => {
                    assert_eq!(r.pri / 8, 10, "facility is not authpriv: {}", r.raw);
                    assert_eq!(r.tag, "pairshell", "tag is not pairshell: {}", r.raw);
                    r
                }
                Err(e) => panic!(
                    "malformed syslog datagram ({e}): {}",
                    String::from_utf8_lossy(l).escape_debug()
                ),
            })
            .collect()
    }

    /// Waits until a record satisfies `pred`.
    pub fn wait_for(&self, pred: impl Fn(&Record) -> bool, timeout: Duration) -> Option<Record> {
        poll(timeout, || self.records().into_iter().find(|r| pred(r)))
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses `<PRI>Mmm dd hh:mm:ss [HOST ]TAG[PID]: key=value …`.
pub fn parse_rfc3164(datagram: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(datagram).map_err(|e| format!("not UTF-8: {e}"))?;
    let raw = text.to_string();
    let line = text.trim_end_matches(['\n', '\0']);
    if line.contains('\n') {
        return Err("a raw newline inside the line".into());
    }
    let rest = line.strip_prefix('<').ok_or("no <PRI>")?;
    let (pri, rest) = rest.split_once('>').ok_or("no <PRI>")?;
    let pri: u32 = pri.parse().map_err(|_| format!("bad PRI {pri:?}"))?;
    // Timestamp: "Mmm dd hh:mm:ss", dd space-padded.
    let month = rest.get(..3).ok_or("short timestamp")?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !MONTHS.contains(&month) {
        return Err(format!("bad month {month:?}"));
    }
    let rest = rest[3..].strip_prefix(' ').ok_or("no space after month")?;
    let rest = rest.trim_start_matches(' ');
    let (day, rest) = rest.split_once(' ').ok_or("no day")?;
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad day {day:?}"));
    }
    let (time, rest) = rest.split_once(' ').ok_or("no time")?;
    let tb = time.as_bytes();
    if tb.len() != 8 || tb[2] != b':' || tb[5] != b':' {
        return Err(format!("bad time {time:?}"));
    }
    // Optional HOSTNAME, then TAG[PID]:
    let (first, after_first) = rest.split_once(' ').ok_or("no tag")?;
    let (tag_part, msg) = if first.ends_with(':') {
        (first, after_first)
    } else {
        after_first.split_once(' ').ok_or("no tag after hostname")?
    };
    let tag_part = tag_part
        .strip_suffix(':')
        .ok_or("tag does not end with ':'")?;
    let (tag, pid) = match tag_part.split_once('[') {
        Some((t, p)) => {
            let p = p.strip_suffix(']').ok_or("bad [PID]")?;
            (
                t,
                Some(p.parse::<u32>().map_err(|_| format!("bad PID {p:?}"))?),
            )
        }
        None => (tag_part, None),
    };
    let fields = parse_fields(msg)?;
    Ok(Record {
        pri,
        tag: tag.to_string(),
        pid,
        fields,
        raw,
    })
}

/// Parses `key=value key="quoted \"value\""`; quoted values may use `\"`,
/// `\\` and `\xNN`.
pub fn parse_fields(msg: &str) -> Result<BTreeMap<String, String>, String> {
    let mut fields = BTreeMap::new();
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &msg[start..i];
        if key.is_empty()
            || !key
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        {
            return Err(format!("bad key {key:?} in {msg:?}"));
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(format!("key {key:?} without '=' in {msg:?}"));
        }
        i += 1;
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated quote in {msg:?}")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        match b.get(i + 1) {
                            Some(b'"') => v.push(b'"'),
                            Some(b'\\') => v.push(b'\\'),
                            Some(b'x') => {
                                let hex = msg.get(i + 2..i + 4).ok_or("short \\x escape")?;
                                v.push(
                                    u8::from_str_radix(hex, 16)
                                        .map_err(|_| format!("bad \\x{hex}"))?,
                                );
                                i += 2;
                            }
                            other => return Err(format!("bad escape {other:?} in {msg:?}")),
                        }
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            if i < b.len() && b[i] != b' ' {
                return Err(format!("garbage after a quoted value in {msg:?}"));
            }
            String::from_utf8_lossy(&v).into_owned()
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' {
                if b[i] == b'"' {
                    return Err(format!("quote inside a bare value in {msg:?}"));
                }
                i += 1;
            }
            msg[start..i].to_string()
        };
        if fields.insert(key.to_string(), value).is_some() {
            return Err(format!("duplicate key {key:?} in {msg:?}"));
        }
    }
    Ok(fields)
}

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

fn groupdel(group: &str) {
    delete_account("groupdel", group);
}

/// `userdel NAME` or `groupdel NAME`, retried while the shadow files are
/// locked or the account is busy.
fn delete_account(tool: &str, user: &str) {
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
fn sweep_stale_labs() {
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

fn mkdir(path: &Path, mode: u32) {
    if !path.exists() {
        fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn write_file(path: &Path, contents: &str, mode: u32, owner: Option<(u32, u32)>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    if let Some((uid, gid)) = owner {
        chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// The clean environment every command the lab runs as a user gets.
fn clean_env(cmd: &mut Command, user: &str, home: &str) {
    cmd.env_clear()
        .env("PATH", PATH_ENV)
        .env("HOME", home)
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8")
        .env("USER", user)
        .env("LOGNAME", user)
        .current_dir("/");
}

fn ids(user: &str) -> (u32, u32) {
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
fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

fn toml_path(p: &Path) -> String {
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

fn free_port() -> u16 {
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
fn ssh_client(args: Vec<String>) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(args)
        .env_clear()
        .env("PATH", PATH_ENV)
        .env("HOME", "/root")
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    cmd
}
