//! The admin's main config and the hosts' session files: schema and loading.
//!
//! Loading is where trust is decided: [`load_main`] believes only a root-owned
//! file in root-owned directories, [`load_host`] only a file owned by the host
//! it is named after. Both refuse unknown fields (a typo such as `read_wirte`
//! must not silently drop a restriction) and report errors by file, line and
//! column. Values are checked as they are deserialized, so every later stage
//! can rely on names and paths being well formed.
//!
//! Keys are kept as text and only checked for shape here: the login path
//! compares the one presented key against them without decoding thousands of
//! keys it does not need. `pairshell check` decodes them all.
//!
//! A guest's keys live in two lists: `keys`, the admin's own (written by
//! hand or by `guest add --key/--key-file`), and `github_keys`, the answer
//! of `github_keys_url` for the guest's `github` login, which `guest add
//! --github` and `guest sync` own and rewrite. Logins accept either; the
//! split is what lets a sync replace GitHub's keys without ever touching
//! one the admin typed.

pub(crate) mod host_file;
pub(crate) mod index;
pub(crate) mod main_file;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use nix::unistd::{Uid, User};
use serde::{Deserialize, Deserializer};

use crate::core::error::Error;
pub(crate) use crate::core::presence::{OnHostLeave, Presence};
use crate::core::request::{is_guest_name, is_login_name, is_session_name};
use crate::sys::trust::{self, Owner};

/// The admin's config file when `--config` is not given.
pub(crate) const DEFAULT_PATH: &str = "/etc/pairshell/pairshell.toml";

/// The config path to use: the one given, or the default.
pub(crate) fn main_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from(DEFAULT_PATH), Path::to_path_buf)
}

/// Largest main config read (50,000 keys fit comfortably).
const MAX_MAIN: u64 = 64 << 20;
/// Largest host file read.
pub(crate) const MAX_HOST: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The shared account guests log in as.
    pub(crate) pair_user: String,
    #[serde(default = "default_tmux", deserialize_with = "absolute_path")]
    pub(crate) tmux: PathBuf,
    #[serde(default = "default_hosts_dir", deserialize_with = "absolute_path")]
    pub(crate) hosts_dir: PathBuf,
    /// Where hosts' socket directories live: `sockets_dir/LOGIN/SESSION.sock`,
    /// and the guest flow's client records in `sockets_dir/.clients`.
    #[serde(default = "default_sockets_dir", deserialize_with = "absolute_path")]
    pub(crate) sockets_dir: PathBuf,
    /// The group that lets the pair account open hosts' sockets.
    #[serde(default = "default_socket_group")]
    pub(crate) socket_group: String,
    /// The systemd-tmpfiles file `host add` keeps, so hosts' socket
    /// directories come back after a reboot.
    #[serde(default = "default_tmpfiles", deserialize_with = "absolute_path")]
    pub(crate) tmpfiles: PathBuf,
    /// Let read-write guests join on a kernel without Landlock, where their
    /// tmux client cannot be kept from running other programs.
    #[serde(default)]
    pub(crate) allow_unconfined_read_write: bool,
    /// Most sessions one guest may have joined at once on this host (0: no
    /// limit).
    #[serde(default = "default_max_connections_per_guest")]
    pub(crate) max_connections_per_guest: u32,
    /// For tests only: decide joins as if the kernel had no Landlock (the
    /// tmux client is still confined where Landlock exists). No kernel the
    /// tests run on lacks Landlock, and the refusal must be shown.
    #[serde(default)]
    pub(crate) test_pretend_no_landlock: bool,
    /// Where `guest add --github USER` and `guest sync` fetch a GitHub
    /// user's public keys; `{user}` is replaced by the login. `https://`,
    /// or `http://` to a loopback address only.
    #[serde(default = "default_github_keys_url", deserialize_with = "keys_url")]
    pub(crate) github_keys_url: String,
    /// The longest a host's invite (`share --rw @LOGIN --for D`) may let
    /// a GitHub user in for, as a duration (`8h`, `2d`).
    #[serde(default = "default_invite_max")]
    pub(crate) invite_max: String,
    /// Seconds a fetch from `github_keys_url` may take, connecting included.
    #[serde(default = "default_github_timeout", deserialize_with = "timeout_s")]
    pub(crate) github_timeout_s: u64,
    /// The file sshd's `TrustedUserCAKeys` names. A certificate signed by
    /// one of these keys identifies the guest whose `principals` it names.
    #[serde(default, deserialize_with = "optional_absolute_path")]
    pub(crate) trusted_user_ca_keys: Option<PathBuf>,
    /// Which joins are recorded (`src/record.rs`).
    #[serde(default)]
    pub(crate) record: RecordMode,
    /// Where recordings go: `recordings_dir/HOST/SESSION/*.cast`. The pair
    /// account's, mode 0700, in root's directories.
    #[serde(default = "default_recordings_dir", deserialize_with = "absolute_path")]
    pub(crate) recordings_dir: PathBuf,
    /// Most megabytes (MiB, fractions allowed) one recording may hold (0:
    /// no cap); past it the recording stops, not the guest.
    /// Kept in bytes.
    #[serde(
        rename = "record_max_mb",
        default = "default_record_max_bytes",
        deserialize_with = "megabytes"
    )]
    pub(crate) record_max_bytes: u64,
    /// Let the guest go when their recording cannot be started or stops,
    /// as `audit.required` does for the trail.
    #[serde(default)]
    pub(crate) record_required: bool,
    #[serde(default)]
    pub(crate) audit: AuditConfig,
    #[serde(default)]
    pub(crate) guests: BTreeMap<GuestName, Guest>,
}

/// `record = "off" | "read-write" | "all"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RecordMode {
    #[default]
    Off,
    /// Joins of read-write guests (whose input can change the session).
    ReadWrite,
    /// Every join.
    All,
}

impl RecordMode {
    /// Whether a join in `mode` is recorded.
    pub(crate) fn records(self, mode: crate::core::mode::Mode) -> bool {
        match self {
            RecordMode::Off => false,
            RecordMode::ReadWrite => mode == crate::core::mode::Mode::ReadWrite,
            RecordMode::All => true,
        }
    }
}

fn default_recordings_dir() -> PathBuf {
    PathBuf::from("/var/lib/pairshell/recordings")
}

fn default_record_max_bytes() -> u64 {
    100 << 20
}

fn megabytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let mb = f64::deserialize(d)?;
    if mb.is_finite() && (0.0..=1e9).contains(&mb) {
        Ok((mb * 1048576.0) as u64)
    } else {
        Err(serde::de::Error::custom(format!(
            "record_max_mb = {mb}: give megabytes, 0 or more (0: no cap)"
        )))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditConfig {
    #[serde(default = "default_syslog_socket", deserialize_with = "absolute_path")]
    pub(crate) syslog_socket: PathBuf,
    /// Refuse a login whose audit line cannot be written.
    #[serde(default = "yes")]
    pub(crate) required: bool,
    /// Most refusals of one key written per minute (0: no limit); the next
    /// line written says how many were left out (`suppressed=N`).
    #[serde(default = "default_refusals_per_minute")]
    pub(crate) refusals_per_minute: u64,
}

fn default_max_connections_per_guest() -> u32 {
    4
}

fn default_refusals_per_minute() -> u64 {
    20
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            syslog_socket: default_syslog_socket(),
            required: true,
            refusals_per_minute: default_refusals_per_minute(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Guest {
    /// The admin's keys for this guest.
    #[serde(default)]
    pub(crate) keys: Vec<KeyText>,
    /// The guest's GitHub login, whose keys `guest sync` refreshes.
    #[serde(default)]
    pub(crate) github: Option<GithubLogin>,
    /// The keys GitHub last gave for `github` (rewritten by `guest sync`).
    #[serde(default)]
    pub(crate) github_keys: Vec<KeyText>,
    /// Certificate principals that identify this guest (a certificate from
    /// a CA in `trusted_user_ca_keys` naming one of them).
    #[serde(default)]
    pub(crate) principals: Vec<Principal>,
    #[serde(default, deserialize_with = "timestamp")]
    pub(crate) expires: Option<Timestamp>,
}

impl Guest {
    /// Every key that logs in as this guest: `keys`, then `github_keys`.
    pub(crate) fn all_keys(&self) -> impl Iterator<Item = &KeyText> {
        self.keys.iter().chain(&self.github_keys)
    }
}

/// A host's file: the sessions that host shares.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostFile {
    #[serde(default)]
    pub(crate) sessions: BTreeMap<SessionName, Share>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Share {
    #[serde(deserialize_with = "absolute_path")]
    pub(crate) socket: PathBuf,
    #[serde(default)]
    pub(crate) read_write: Vec<GuestName>,
    #[serde(default)]
    pub(crate) read_only: Vec<GuestName>,
    #[serde(default, deserialize_with = "timestamp")]
    pub(crate) expires: Option<Timestamp>,
    /// Per-guest ends of access within this share (`grant --for`).
    #[serde(default)]
    pub(crate) guest_expires: BTreeMap<GuestName, Expiry>,
    /// Serve guests even when the session's tmux server holds other
    /// sessions too (the server's hooks still keep guests on this one).
    #[serde(default)]
    pub(crate) allow_other_sessions: bool,
    /// Ask the host before each guest joins (`share --ask`; see `crate::ask`).
    #[serde(default)]
    pub(crate) ask: bool,
    /// `"required"`: guests only while a client of the host is attached.
    #[serde(default)]
    pub(crate) presence: Presence,
    /// With `presence = "required"`: what becomes of the guests when the
    /// host's last client detaches.
    #[serde(default)]
    pub(crate) on_host_leave: OnHostLeave,
}

/// An instant at which access ends, written as a TOML offset date-time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expiry(pub Timestamp);

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = timestamp(d)?.expect("timestamp() returns Some or an error");
        Ok(Expiry(t))
    }
}

/// A host's login and what their file says.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) login: String,
    pub(crate) uid: Uid,
    pub(crate) file: HostFile,
}

/// A public key as written in the config: `TYPE BASE64 [COMMENT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyText {
    pub(crate) key_type: String,
    pub(crate) base64: String,
}

macro_rules! name_type {
    ($name:ident, $check:path, $what:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) struct $name(String);

        impl $name {
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if $check(&s) {
                    Ok($name(s))
                } else {
                    Err(serde::de::Error::custom(format!(
                        concat!("invalid ", $what, " {:?}: use letters, digits, '_' and '-', starting with a letter, digit or '_'"),
                        s
                    )))
                }
            }
        }
    };
}

name_type!(GuestName, is_guest_name, "guest name");
name_type!(SessionName, is_session_name, "session name");

/// A certificate principal: printable ASCII without spaces, commas or
/// quotes (sshd's principals lists are comma-separated; the printed
/// `authorized-principals` line is space-separated), at most 256 bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Principal(String);

impl Principal {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `s` can be a principal pairshell maps (see [`Principal`]).
pub(crate) fn is_principal(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'\'' | b'\\' | b'#'))
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_principal(&s) {
            Ok(Principal(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "principal {s:?}: use printable characters other than space , \" ' \\ #"
            )))
        }
    }
}

/// A GitHub login: letters, digits and single hyphens, at most 39, neither
/// starting nor ending with a hyphen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GithubLogin(String);

impl GithubLogin {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GithubLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GithubLogin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::core::github::check_login(&s).map_err(serde::de::Error::custom)?;
        Ok(GithubLogin(s))
    }
}

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyText::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl KeyText {
    /// Check the shape of `TYPE BASE64 [COMMENT]` without decoding the key.
    pub(crate) fn parse(s: &str) -> Result<KeyText, String> {
        let mut words = s.split_ascii_whitespace();
        let (Some(key_type), Some(base64)) = (words.next(), words.next()) else {
            return Err(format!(
                "invalid key {s:?}: expected \"TYPE BASE64 [COMMENT]\", as in a .pub file"
            ));
        };
        // `matches!` rather than a search of a list per byte: a config of
        // 50,000 keys is megabytes of base64, read whole without an index.
        let type_ok = !key_type.is_empty()
            && key_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'@' | b'.' | b'_'));
        let b64_ok = base64
            .bytes()
            .all(|b| matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'='));
        if !type_ok || !b64_ok || base64.len() < 16 {
            return Err(format!(
                "invalid key {s:?}: expected \"TYPE BASE64 [COMMENT]\", as in a .pub file"
            ));
        }
        Ok(KeyText {
            key_type: key_type.to_string(),
            base64: base64.to_string(),
        })
    }
}

/// `tmux` when the config does not say (or cannot be read).
pub(crate) fn default_tmux() -> PathBuf {
    PathBuf::from("/usr/bin/tmux")
}

fn default_hosts_dir() -> PathBuf {
    PathBuf::from("/etc/pairshell/hosts.d")
}

fn default_sockets_dir() -> PathBuf {
    PathBuf::from("/run/pairshell")
}

fn default_invite_max() -> String {
    "8h".to_string()
}

fn default_socket_group() -> String {
    "pairshell".to_string()
}

fn default_tmpfiles() -> PathBuf {
    PathBuf::from("/etc/tmpfiles.d/pairshell-hosts.conf")
}

fn default_github_keys_url() -> String {
    crate::core::github::DEFAULT_KEYS_URL.to_string()
}

fn default_github_timeout() -> u64 {
    10
}

fn keys_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    crate::core::github::check_url_template(&url).map_err(serde::de::Error::custom)?;
    Ok(url)
}

fn timeout_s<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = u64::deserialize(d)?;
    if (1..=300).contains(&s) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "github_timeout_s = {s}: give 1 to 300 seconds"
        )))
    }
}

fn default_syslog_socket() -> PathBuf {
    PathBuf::from("/dev/log")
}

fn yes() -> bool {
    true
}

fn absolute_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let p = PathBuf::deserialize(d)?;
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(serde::de::Error::custom(format!(
            "path {:?} must be absolute",
            p.display()
        )))
    }
}

fn optional_absolute_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    absolute_path(d).map(Some)
}

/// The CA keys in `path` (sshd's `TrustedUserCAKeys` format: one public key
/// per line, `#` comments), believed only from a root-owned file that no
/// one else can write: whoever could add a key there could sign their way
/// in as any guest.
pub(crate) fn load_ca_keys(path: &Path) -> Result<Vec<ssh_key::PublicKey>, Error> {
    let text = trust::read_trusted(path, Owner::Root, MAX_HOST)?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = ssh_key::PublicKey::from_openssh(line).map_err(|e| {
            Error::untrusted(path, format!("line {}: not a public key: {e}", n + 1))
        })?;
        keys.push(key);
    }
    Ok(keys)
}

/// A TOML offset date-time (`2026-12-31T18:00:00Z`). A date-time without a
/// zone is refused: whose midnight would it be?
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let dt = toml::value::Datetime::deserialize(d)?;
    if dt.date.is_none() || dt.time.is_none() || dt.offset.is_none() {
        return Err(serde::de::Error::custom(format!(
            "expiry {dt} needs a date, a time and a zone, e.g. 2026-12-31T18:00:00Z"
        )));
    }
    dt.to_string()
        .parse::<Timestamp>()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("expiry {dt}: {e}")))
}

/// Load the main config. Refuses a file not owned by root, writable by group
/// or other, or in a directory others could write.
pub(crate) fn load_main(path: &Path) -> Result<(PathBuf, Config), Error> {
    let (abs, text) = trust::read_root_file(path, MAX_MAIN)?;
    let config = parse_main(&abs, &text)?;
    Ok((abs, config))
}

/// Parse a main config's text (no file checks); `file` is for messages.
pub(crate) fn parse_main(file: &Path, text: &str) -> Result<Config, Error> {
    let config: Config = toml::from_str(text).map_err(|e| Error::from_toml(file, text, &e))?;
    check_main(file, config)
}

/// The checks [`parse_main`] makes beyond the schema.
fn check_main(file: &Path, config: Config) -> Result<Config, Error> {
    if !is_login_name(&config.socket_group) {
        return Err(Error::Invalid {
            path: file.to_path_buf(),
            message: format!(
                "socket_group {:?} is not a valid group name",
                config.socket_group
            ),
        });
    }
    if !is_login_name(&config.pair_user) {
        return Err(Error::Invalid {
            path: file.to_path_buf(),
            message: format!("pair_user {:?} is not a valid login name", config.pair_user),
        });
    }
    Ok(config)
}

/// Parse a host file's text (no file checks).
pub(crate) fn parse_host(file: &Path, text: &str) -> Result<HostFile, Error> {
    toml::from_str(text).map_err(|e| Error::from_toml(file, text, &e))
}

/// The path of `login`'s file in `hosts_dir`.
pub(crate) fn host_path(hosts_dir: &Path, login: &str) -> PathBuf {
    hosts_dir.join(format!("{login}.toml"))
}

/// Load one host's file. It must be owned by that host (or root) and not
/// writable by group or other; the host must exist as a Unix user.
pub(crate) fn load_host(hosts_dir: &Path, login: &str) -> Result<Host, Error> {
    let path = host_path(hosts_dir, login);
    let user = User::from_name(login)
        .map_err(|e| Error::io(&path, e.into()))?
        .ok_or_else(|| Error::Invalid {
            path: path.clone(),
            message: format!("there is no user {login:?} on this system"),
        })?;
    let text = trust::read_trusted_locked(&path, Owner::UserOrRoot(user.uid), MAX_HOST)?;
    let file = parse_host(&path, &text)?;
    Ok(Host {
        login: login.to_string(),
        uid: user.uid,
        file,
    })
}

/// Whether `login`'s host file could grant `guest` anything, judged from its
/// bytes alone: a file that names the guest nowhere, and has no backslash
/// (the only way TOML can spell a name without its letters, `\u0061…`),
/// cannot list them, so a login need not check and parse it. With a hundred
/// hosts of a hundred sessions each, that is most of a login's work.
///
/// This only ever lets a file be skipped, which can only take grants away;
/// and any doubt (the file cannot be opened or read, is not a regular file,
/// is too large) answers `true`, so the full [`load_host`]
/// judges it and reports what is wrong. Its checks are skipped only for a
/// file that could not have affected this guest, as a failed check would
/// have refused nothing to them. Reads take the writer's lock like
/// [`load_host`], so a file mid-rewrite is not taken for one without them.
///
/// `buf` is scratch space, reused from one file to the next; `lock_wait`
/// is how long to wait for a writer's lock.
pub(crate) fn host_file_may_name(
    hosts_dir: &Path,
    login: &str,
    guest: &str,
    lock_wait: std::time::Duration,
    buf: &mut Vec<u8>,
) -> bool {
    use std::io::Read;

    let path = host_path(hosts_dir, login);
    let Ok(file) = crate::sys::fs::no_follow().read(true).open(&path) else {
        return true;
    };
    let len = match file.metadata() {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_HOST => meta.len(),
        _ => return true,
    };
    // Held until `file` closes, at the end of this function.
    trust::lock_shared_until_close(&file, lock_wait);
    // The whole file (at most MAX_HOST bytes) in as few reads as it takes:
    // one of its size, and one that finds the end.
    let limit = MAX_HOST as usize;
    buf.clear();
    buf.resize((len as usize + 1).min(limit), 0);
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if filled >= limit {
                break;
            }
            buf.resize((2 * filled).clamp(1, limit), 0);
        }
        match (&file).read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    buf.truncate(filled);
    memchr::memmem::find(buf, guest.as_bytes()).is_some() || memchr::memchr(b'\\', buf).is_some()
}

/// The hosts that have a file in `hosts_dir`, sorted by login. A file whose
/// name is not `<valid login>.toml` is not a host file and is ignored.
pub(crate) fn host_logins(hosts_dir: &Path) -> Result<Vec<String>, Error> {
    trust::check_root_path(hosts_dir)?;
    let entries = std::fs::read_dir(hosts_dir).map_err(|e| Error::io(hosts_dir, e))?;
    let mut logins = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(hosts_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(login) = name.strip_suffix(".toml") {
            if is_login_name(login) {
                logins.push(login.to_string());
            }
        }
    }
    logins.sort_unstable();
    Ok(logins)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY alice@laptop";

    fn parse(text: &str) -> Result<Config, Error> {
        parse_main(Path::new("/etc/pairshell/pairshell.toml"), text)
    }

    #[test]
    fn full_example_parses() {
        let c = parse(&format!(
            r#"
pair_user = "pair"
tmux = "/usr/bin/tmux"
hosts_dir = "/etc/pairshell/hosts.d"
[audit]
syslog_socket = "/dev/log"
required = false
[guests.alice]
keys = ["{KEY}"]
expires = 2026-12-31T18:00:00Z
"#
        ))
        .unwrap();
        assert_eq!(c.pair_user, "pair");
        assert!(!c.audit.required);
        let alice = &c.guests["alice"];
        assert_eq!(alice.keys[0].key_type, "ssh-ed25519");
        assert_eq!(
            alice.expires.unwrap(),
            "2026-12-31T18:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn defaults_apply() {
        let c = parse("pair_user = \"pair\"\n").unwrap();
        assert_eq!(c.tmux, Path::new("/usr/bin/tmux"));
        assert_eq!(c.hosts_dir, Path::new("/etc/pairshell/hosts.d"));
        assert_eq!(c.audit.syslog_socket, Path::new("/dev/log"));
        assert!(
            c.audit.required,
            "audit is required unless the admin says otherwise"
        );
        assert_eq!(c.record, RecordMode::Off);
        assert_eq!(c.recordings_dir, Path::new("/var/lib/pairshell/recordings"));
        assert_eq!(c.record_max_bytes, 100 << 20);
        assert!(!c.record_required);
    }

    #[test]
    fn record_keys_parse_and_a_bad_mode_is_refused() {
        let c = parse(
            "pair_user = \"pair\"\nrecord = \"read-write\"\nrecordings_dir = \"/srv/rec\"\nrecord_max_mb = 5\nrecord_required = true\n",
        )
        .unwrap();
        assert_eq!(c.record, RecordMode::ReadWrite);
        assert!(c.record.records(crate::core::mode::Mode::ReadWrite));
        assert!(!c.record.records(crate::core::mode::Mode::ReadOnly));
        assert!(RecordMode::All.records(crate::core::mode::Mode::ReadOnly));
        assert_eq!(c.recordings_dir, Path::new("/srv/rec"));
        assert_eq!((c.record_max_bytes, c.record_required), (5 << 20, true));
        let c = parse("pair_user = \"pair\"\nrecord_max_mb = 0.5\n").unwrap();
        assert_eq!(c.record_max_bytes, 1 << 19);
        assert!(parse("pair_user = \"pair\"\nrecord_max_mb = -1\n").is_err());
        assert!(parse("pair_user = \"pair\"\nrecord = \"yes\"\n").is_err());
        assert!(parse("pair_user = \"pair\"\nrecordings_dir = \"rec\"\n").is_err());
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let err = parse("pair_user = \"pair\"\n[guests.alice]\nkeys = [\"x\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/etc/pairshell/pairshell.toml:3:"), "{msg}");
    }

    #[test]
    fn typo_in_a_field_is_an_error_not_a_silent_default() {
        let err = parse_host(
            Path::new("/h/maria.toml"),
            "[sessions.api]\nsocket = \"/run/s\"\nread_wirte = [\"alice\"]\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/h/maria.toml:3:1:"), "{msg}");
        assert!(msg.contains("read_wirte"), "{msg}");
    }

    #[test]
    fn malformed_key_is_located() {
        let err =
            parse("pair_user = \"pair\"\n[guests.bob]\nkeys = [\"not a key\"]\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(":3:"), "{msg}");
        assert!(msg.contains("invalid key"), "{msg}");
    }

    #[test]
    fn expiry_without_zone_is_refused() {
        let err = parse("pair_user = \"pair\"\n[guests.bob]\nexpires = 2026-12-31T18:00:00\n")
            .unwrap_err();
        assert!(err.to_string().contains("zone"), "{err}");
    }

    #[test]
    fn relative_socket_is_refused() {
        let err = parse_host(
            Path::new("/h/m.toml"),
            "[sessions.api]\nsocket = \"api.sock\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
    }

    #[test]
    fn session_and_guest_names_are_checked() {
        for bad in [
            "[sessions.\"a b\"]\nsocket = \"/s\"\n",
            "[sessions.\"-S\"]\nsocket = \"/s\"\n",
        ] {
            assert!(parse_host(Path::new("/h/m.toml"), bad).is_err(), "{bad}");
        }
        let bad_guest = "[sessions.api]\nsocket = \"/s\"\nread_only = [\"$(id)\"]\n";
        assert!(parse_host(Path::new("/h/m.toml"), bad_guest).is_err());
        assert!(parse("pair_user = \"pair\"\n[guests.\"a;b\"]\n").is_err());
    }

    #[test]
    fn bad_pair_user_is_refused() {
        assert!(parse("pair_user = \"../root\"\n").is_err());
    }

    #[test]
    fn a_host_file_is_skipped_only_when_it_cannot_name_the_guest() {
        let dir = std::env::temp_dir().join(format!("pairshell-may-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let may = |login: &str, text: Option<&str>| {
            if let Some(text) = text {
                std::fs::write(host_path(&dir, login), text).unwrap();
            }
            host_file_may_name(
                &dir,
                login,
                "alice",
                std::time::Duration::ZERO,
                &mut Vec::new(),
            )
        };
        let share = "[sessions.api]\nsocket = \"/s\"\n";
        assert!(!may("h1", Some(&format!("{share}read_only = [\"bob\"]\n"))));
        assert!(may(
            "h2",
            Some(&format!("{share}read_only = [\"alice\"]\n"))
        ));
        assert!(may("h3", Some(&format!("{share}read_only = ['alice']\n"))));
        assert!(may(
            "h4",
            Some(&format!(
                "{share}guest_expires.alice = 2030-01-01T00:00:00Z\n"
            ))
        ));
        // Guards against: a grant spelled with TOML escapes, which names
        // the guest without their letters, being skipped unread.
        let escaped = format!("{share}read_write = [\"\\u0061lice\"]\n");
        assert!(may("h5", Some(&escaped)));
        let parsed = parse_host(Path::new("/h5.toml"), &escaped).unwrap();
        assert_eq!(parsed.sessions["api"].read_write[0].as_str(), "alice");
        // Doubt is left to the full load, which reports what is wrong.
        assert!(may("missing", None));
        std::os::unix::fs::symlink(host_path(&dir, "h1"), host_path(&dir, "link")).unwrap();
        assert!(may("link", None));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
