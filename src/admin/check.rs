//! `pairshell check`, in the spirit of `visudo -c` and `sshd -t`: everything a
//! login depends on, checked at once, one line per problem saying how to fix
//! it (`FILE:LINE:COLUMN: what; fix: how`, on stderr), exit status 1 when
//! there is any. Facts are gathered first (files, the passwd entry, each
//! host file and its sockets, `sshd -T`, `tmux -V`) and judged by plain
//! functions, which the unit tests drive with made-up facts. `check`
//! changes nothing: it reads, and runs `sshd -T` and `tmux -V` (the latter
//! only once the tmux binary passes the checks a program root runs must
//! pass).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use jiff::Timestamp;
use nix::unistd::User;
use ssh_key::{HashAlg, PublicKey};

use crate::config::{self, Config, Host};
use crate::core::error::{line_column, Error, Exit};
use crate::sys::process::output_within;
use crate::sys::trust::{self, Owner};

/// Where Debian's openssh-server installs sshd.
const SSHD: &str = "/usr/sbin/sshd";
/// sshd's own config when `--sshd-config` is not given.
const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
/// The oldest tmux with `server-access`.
const TMUX_MIN: (u32, u32) = (3, 3);
/// How long `sshd -T` or `tmux -V` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `check` found: problems (exit 1) and notes.
#[derive(Debug, Default)]
struct Report {
    problems: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn note(&mut self, n: impl Into<String>) {
        self.notes.push(n.into());
    }
}

/// `pairshell check [--sshd-config PATH]`.
///
/// What it looks at:
/// - the main config, loaded the way a login loads it; every key decoded,
///   keys held by two guests, guests whose `expires` has passed;
/// - every host file in `hosts_dir`: its owner and mode, grants that name
///   no guest, shares and per-guest grants that have expired, and each
///   session's socket when there is one (a socket, not a symlink, owned by
///   that host, in a directory the pair account cannot write);
/// - the pair account: that it exists and that its login shell is this
///   binary;
/// - sshd's effective settings for the pair account (`sshd -T -C user=…`):
///   its `AuthorizedKeysCommand` is this binary's `authorized-keys %u %t %k`
///   reading this config, `ExposeAuthInfo yes`, forwarding off, no passwords;
/// - the tmux binary (root's, 3.3 or later, for `server-access`) and Landlock.
pub(crate) fn run(config_path: Option<&Path>, sshd_config: Option<&Path>) -> Exit {
    let path = config::main_path(config_path);
    let mut r = Report::default();
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("pairshell: cannot find this program: {e}");
            return Exit::Failed;
        }
    };
    match config::load_main(&path) {
        Err(e) => r.problem(with_fix(&e, "root", 0)),
        Ok((abs, config)) => check_all(
            &abs,
            &config,
            &exe,
            sshd_config,
            config_path.is_some(),
            &mut r,
        ),
    }
    for n in &r.notes {
        println!("pairshell: {n}");
    }
    for p in &r.problems {
        eprintln!("pairshell: {p}");
    }
    if r.problems.is_empty() {
        Exit::Done
    } else {
        Exit::Failed
    }
}

/// `explicit`: the config was named with `--config`, so it may be a
/// candidate not installed yet (see [`candidate_for`]).
fn check_all(
    abs: &Path,
    config: &Config,
    exe: &Path,
    sshd_config: Option<&Path>,
    explicit: bool,
    r: &mut Report,
) {
    let now = Timestamp::now();
    // The loader has just read and trusted it; this second read is for
    // locating problems by line and column.
    let text = std::fs::read_to_string(abs).unwrap_or_default();
    let main = Locator::new(abs, &text);
    guest_problems(config, &main, now, r);
    let pair = pair_account(config, abs, exe, r);
    let hosts = host_problems(config, abs, pair.as_ref(), now, r);
    let installed = sshd_check(config, abs, exe, sshd_config, explicit, r);
    tmux_check(config, &main, r);
    landlock_check(config, abs, r);
    recordings_check(config, abs, pair.as_ref(), r);
    named_path_problems(config, &main, r);
    match &installed {
        // A candidate has no index of its own yet.
        Some(installed) => r.note(format!(
            "{}: not the config sshd reads ({}), so checked as a candidate to replace it; once \
             it is installed there, run `pairshell index`",
            abs.display(),
            installed.display()
        )),
        None => {
            index_check(abs, &text, r);
            hosts_index_check(abs, config, r);
        }
    }
    if r.problems.is_empty() {
        let keys = config.guests.values().map(|g| g.all_keys().count()).sum();
        r.note(format!(
            "{}: ok ({}, {}, {})",
            abs.display(),
            count(config.guests.len(), "guest"),
            count(keys, "key"),
            count(hosts, "host file")
        ));
    }
}

/// `1 guest`, `2 guests`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

// ---------------------------------------------------------------------------
// The main config
// ---------------------------------------------------------------------------

/// Keys that do not decode, keys held by two guests, expired guests.
fn guest_problems(config: &Config, main: &Locator, now: Timestamp, r: &mut Report) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (name, guest) in &config.guests {
        let name = name.as_str();
        if let Some(t) = guest.expires.filter(|t| *t <= now) {
            r.problem(format!(
                "{}: guest {name} expired on {t}; fix: pairshell guest remove {name}, or set a \
                 later `expires`",
                main.at(&[Seg::Key("guests"), Seg::Key(name), Seg::Key("expires")])
            ));
        }
        for (list, keys) in [("keys", &guest.keys), ("github_keys", &guest.github_keys)] {
            for (i, key) in keys.iter().enumerate() {
                let at = main.at(&[
                    Seg::Key("guests"),
                    Seg::Key(name),
                    Seg::Key(list),
                    Seg::Index(i),
                ]);
                let text = format!("{} {}", key.key_type, key.base64);
                let shown = match PublicKey::from_openssh(&text) {
                    Ok(k) => k.fingerprint(HashAlg::Sha256).to_string(),
                    Err(e) => {
                        r.problem(format!(
                            "{at}: guest {name}: key {} does not decode ({e}); fix: replace it \
                             with the line of the guest's .pub file",
                            abbreviate(&key.base64)
                        ));
                        abbreviate(&key.base64)
                    }
                };
                match seen.insert(key.base64.as_str(), name) {
                    Some(other) if other != name => r.problem(format!(
                        "{at}: guests {other} and {name} share key {shown}, but a key must say \
                         who is logging in; fix: remove it from one of them"
                    )),
                    _ => {}
                }
            }
        }
    }
}

/// The first characters of a base64 key, for messages.
fn abbreviate(base64: &str) -> String {
    let head: String = base64.chars().take(24).collect();
    if head.len() < base64.len() {
        format!("{head}…")
    } else {
        head
    }
}

/// The pair account exists and its login shell is this binary; returns it.
/// With `record` on: `recordings_dir` is the pair account's alone (0700,
/// in root's directories), and so is everything in it, so no host can read
/// another host's sessions (see `record`).
fn recordings_check(config: &Config, abs: &Path, pair: Option<&User>, r: &mut Report) {
    if config.record == config::RecordMode::Off {
        return;
    }
    let Some(pair) = pair else { return };
    if let Some(problem) = crate::record::dir_problem(&config.recordings_dir, pair.uid.as_raw()) {
        let dir = config.recordings_dir.display();
        r.problem(format!(
            "{}: {problem}; fix: install -d -o {} -m 0700 {dir} (its parents root's), and chmod -R go= {dir}",
            abs.display(),
            pair.name
        ));
    }
}

fn pair_account(config: &Config, abs: &Path, exe: &Path, r: &mut Report) -> Option<User> {
    let name = &config.pair_user;
    let Some(pair) = crate::sys::accounts::user(name) else {
        r.problem(format!(
            "{}: pair_user {name:?} does not exist on this system; fix: useradd -m -s {} {name}",
            abs.display(),
            exe.display()
        ));
        return None;
    };
    if !same_file(&pair.shell, exe) {
        r.problem(format!(
            "pair account {name}: its login shell is {}, not this pairshell, so a \
             misconfigured sshd could hand a guest that shell; fix: usermod -s {} {name}",
            pair.shell.display(),
            exe.display()
        ));
    }
    Some(pair)
}

// ---------------------------------------------------------------------------
// Host files
// ---------------------------------------------------------------------------

/// What `check` learns about one host file before judging it.
struct HostFacts {
    login: String,
    path: PathBuf,
    /// The file as a login loads it (owner, mode, schema), with its text
    /// for locating problems; or why it does not load.
    loaded: Result<(Host, String), Error>,
    /// The host's account's uid; `None` when there is no such user.
    uid: Option<u32>,
    /// Each session's socket, checked as a join checks it.
    sockets: BTreeMap<String, SocketFacts>,
}

/// A session's socket as a join would find it.
struct SocketFacts {
    /// [`trust::check_socket_for`]'s verdict; `None` without a pair account
    /// (nothing can join anyway).
    checked: Option<Result<(), Error>>,
    /// The path is a symlink or not a socket at all (what to tell the host).
    not_a_socket: bool,
}

/// Read every host file in `hosts_dir`, their owners and their sockets.
fn gather_hosts(config: &Config, pair: Option<&User>) -> Result<Vec<HostFacts>, Error> {
    let logins = config::host_logins(&config.hosts_dir)?;
    Ok(logins
        .iter()
        .map(|login| {
            let path = config::host_path(&config.hosts_dir, login);
            let uid = crate::sys::accounts::user(login).map(|u| u.uid.as_raw());
            let loaded = config::load_host(&config.hosts_dir, login)
                .map(|host| (host, std::fs::read_to_string(&path).unwrap_or_default()));
            let sockets = match &loaded {
                Ok((host, _)) => socket_facts(host, pair),
                Err(_) => BTreeMap::new(),
            };
            HostFacts {
                login: login.clone(),
                path,
                loaded,
                uid,
                sockets,
            }
        })
        .collect())
}

/// Each of `host`'s sessions' sockets, checked as a join checks them.
fn socket_facts(host: &Host, pair: Option<&User>) -> BTreeMap<String, SocketFacts> {
    host.file
        .sessions
        .iter()
        .map(|(session, share)| {
            let checked = pair
                .map(|pair| trust::check_socket_for(&share.socket, Owner::Exactly(host.uid), pair));
            let not_a_socket = std::fs::symlink_metadata(&share.socket)
                .is_ok_and(|m| m.file_type().is_symlink() || !m.file_type().is_socket());
            (
                session.to_string(),
                SocketFacts {
                    checked,
                    not_a_socket,
                },
            )
        })
        .collect()
}

/// Every host file: its owner and mode, then its sessions. Returns how many
/// host files there are.
fn host_problems(
    config: &Config,
    main_path: &Path,
    pair: Option<&User>,
    now: Timestamp,
    r: &mut Report,
) -> usize {
    match gather_hosts(config, pair) {
        Ok(facts) => {
            judge_hosts(config, main_path, &facts, now, r);
            facts.len()
        }
        Err(e) => {
            r.problem(with_fix(&e, "root", 0));
            0
        }
    }
}

/// The judgement of [`gather_hosts`]'s facts.
fn judge_hosts(
    config: &Config,
    main_path: &Path,
    facts: &[HostFacts],
    now: Timestamp,
    r: &mut Report,
) {
    for f in facts {
        let Some(uid) = f.uid else {
            r.problem(format!(
                "{}: there is no user {:?} on this system; fix: rm {}",
                f.path.display(),
                f.login,
                f.path.display()
            ));
            continue;
        };
        match &f.loaded {
            Err(e) => r.problem(with_fix(e, &f.login, uid)),
            Ok((host, text)) => {
                let loc = Locator::new(&f.path, text);
                share_problems(config, main_path, host, &loc, &f.sockets, now, r);
            }
        }
    }
}

/// One host's sessions: unknown guests, expired entries, unsafe sockets.
fn share_problems(
    config: &Config,
    main_path: &Path,
    host: &Host,
    loc: &Locator,
    sockets: &BTreeMap<String, SocketFacts>,
    now: Timestamp,
    r: &mut Report,
) {
    let login = &host.login;
    for (session, share) in &host.file.sessions {
        let s = session.as_str();
        let at = |rest: &[Seg]| {
            let mut segs = vec![Seg::Key("sessions"), Seg::Key(s)];
            segs.extend_from_slice(rest);
            loc.at(&segs)
        };
        let unknown = |g: &str| !config.guests.contains_key(g);
        for (list, names) in [
            ("read_write", &share.read_write),
            ("read_only", &share.read_only),
        ] {
            for (i, g) in names
                .iter()
                .enumerate()
                .filter(|(_, g)| unknown(g.as_str()))
            {
                r.problem(format!(
                    "{}: session {s} grants {g}, who is not a guest in {}; fix: pairshell revoke \
                     {s} {g} (as {login}), or declare {g} (pairshell guest add {g} --key …)",
                    at(&[Seg::Key(list), Seg::Index(i)]),
                    main_path.display()
                ));
            }
        }
        for g in share.guest_expires.keys().filter(|g| unknown(g.as_str())) {
            let granted = share.read_write.contains(g) || share.read_only.contains(g);
            if !granted {
                r.problem(format!(
                    "{}: session {s} has an expiry for {g}, who is not a guest in {}; fix: \
                     remove it from guest_expires",
                    at(&[Seg::Key("guest_expires"), Seg::Key(g.as_str())]),
                    main_path.display()
                ));
            }
        }
        if let Some(t) = share.expires.filter(|t| *t <= now) {
            r.problem(format!(
                "{}: session {s} expired on {t}; fix: pairshell unshare {s} (as {login}), or \
                 set a later `expires`",
                at(&[Seg::Key("expires")])
            ));
        }
        for (g, ends) in share.guest_expires.iter().filter(|(_, e)| e.0 <= now) {
            r.problem(format!(
                "{}: {g}'s grant on session {s} expired on {}; fix: pairshell revoke {s} {g} \
                 (as {login}), or grant it again with a later --until",
                at(&[Seg::Key("guest_expires"), Seg::Key(g.as_str())]),
                ends.0
            ));
        }
        // A socket that is not there is a session not running: fine.
        let Some(facts) = sockets.get(s) else {
            continue;
        };
        match &facts.checked {
            None | Some(Ok(())) => {}
            Some(Err(e)) if e.is_not_found() => {}
            Some(Err(e)) => r.problem(format!(
                "{}: session {s}: {e}; fix: {}",
                at(&[Seg::Key("socket")]),
                socket_fix(e, facts, &share.socket, login, s, &config.sockets_dir)
            )),
        }
    }
}

/// How to fix what [`trust::check_socket_for`] found, from the socket (or
/// directory) as it is now.
fn socket_fix(
    e: &Error,
    facts: &SocketFacts,
    socket: &Path,
    login: &str,
    session: &str,
    sockets_dir: &Path,
) -> String {
    let own = sockets_dir.join(login);
    let restart = format!("then, as {login}, pairshell share {session} starts its server");
    let path = match e {
        Error::Untrusted { path, .. } => path,
        _ => return format!("look at {}", socket.display()),
    };
    if path != socket {
        return format!(
            "make {} writable by {login} alone, or keep sockets in {} (pairshell host add \
             {login} sets it up)",
            path.display(),
            own.display()
        );
    }
    if facts.not_a_socket {
        format!("remove it (rm {}), {restart}", socket.display())
    } else {
        format!(
            "the server there is not {login}'s: point `socket` at {login}'s own server in {} \
             ({restart})",
            own.display()
        )
    }
}

/// `e`, and how to fix it when it is an ownership or mode problem of the
/// file or directory it names, which `owner` (uid `owner_uid`) or root
/// should own and nobody else may write.
fn with_fix(e: &Error, owner: &str, owner_uid: u32) -> String {
    match fix_for(e, owner, owner_uid) {
        Some(fix) => format!("{e}; fix: {fix}"),
        None => e.to_string(),
    }
}

fn fix_for(e: &Error, owner: &str, owner_uid: u32) -> Option<String> {
    let Error::Untrusted { path, .. } = e else {
        return None;
    };
    let meta = std::fs::symlink_metadata(path).ok()?;
    let p = path.display();
    if meta.file_type().is_symlink() {
        return Some(format!(
            "replace the symbolic link {p} with the file itself"
        ));
    }
    let mode = meta.permissions().mode();
    let mut steps = Vec::new();
    if meta.uid() != 0 && meta.uid() != owner_uid {
        steps.push(format!("chown {owner} {p}"));
    }
    let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_dir {
        steps.push(format!("chmod go-w {p}"));
    }
    if steps.is_empty() && !meta.is_file() && !meta.is_dir() {
        steps.push(format!("move {p} away and put a regular file there"));
    }
    (!steps.is_empty()).then(|| steps.join(" && "))
}

// ---------------------------------------------------------------------------
// sshd
// ---------------------------------------------------------------------------

/// Run `sshd -T` for the pair account and judge what it prints. Returns
/// the config sshd reads when the checked one is a candidate for it.
fn sshd_check(
    config: &Config,
    main_path: &Path,
    exe: &Path,
    sshd_config: Option<&Path>,
    explicit: bool,
    r: &mut Report,
) -> Option<std::path::PathBuf> {
    let label = sshd_config.unwrap_or(Path::new(SSHD_CONFIG));
    let mut cmd = Command::new(SSHD);
    cmd.arg("-T");
    if let Some(path) = sshd_config {
        cmd.arg("-f").arg(path);
    }
    cmd.arg("-C").arg(format!(
        "user={},host=localhost,addr=127.0.0.1",
        config.pair_user
    ));
    let out = match probe(cmd) {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            r.problem(format!(
                "{SSHD}: not found, so the pair account's sshd settings cannot be checked; fix: \
                 apt install openssh-server"
            ));
            return None;
        }
        Err(e) => {
            r.problem(format!("{SSHD} -T: {e}; fix: run it by hand to see why"));
            return None;
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let hint = if nix::unistd::geteuid().is_root() {
            "fix: correct it (sshd -t shows the same)"
        } else {
            "fix: run pairshell check as root (sshd -T reads the host keys)"
        };
        r.problem(format!(
            "{}: sshd -T failed: {}; {hint}",
            label.display(),
            err.join("; ")
        ));
        return None;
    }
    let settings = parse_sshd_t(&String::from_utf8_lossy(&out.stdout));
    let installed = candidate_for(&settings, main_path, exe, explicit, &|a, b| same_file(a, b));
    let found = judge_sshd(
        &settings,
        &SshdContext {
            label,
            pair: &config.pair_user,
            exe,
            config: installed.as_deref().unwrap_or(main_path),
            same_file: &|a, b| same_file(a, b),
        },
    );
    if found.is_empty() {
        r.note(format!(
            "sshd ({}): for {}, keys come from this pairshell, ExposeAuthInfo is on, forwarding \
             and passwords are off",
            label.display(),
            config.pair_user
        ));
    }
    for p in found {
        r.problem(p);
    }
    installed
}

/// The config sshd reads, when `checked` was named with `--config` and is
/// not it: then `checked` is a candidate not installed yet (Ansible's
/// `validate: pairshell check --config %s`), and sshd's settings are
/// judged against the config it will replace. Only this pairshell's
/// `authorized-keys` line counts, and only a config that exists; anything
/// else is judged as it is, and reported.
fn candidate_for(
    settings: &HashMap<String, String>,
    checked: &Path,
    exe: &Path,
    explicit: bool,
    same: &dyn Fn(&Path, &Path) -> bool,
) -> Option<std::path::PathBuf> {
    if !explicit {
        return None;
    }
    let akc = settings.get("authorizedkeyscommand")?;
    let (program, used) = parse_command(akc, "authorized-keys", &["%u", "%t", "%k"])?;
    let used = Path::new(used.unwrap_or(config::DEFAULT_PATH));
    (same(Path::new(program), exe) && !same(used, checked) && used.is_file())
        .then(|| used.to_path_buf())
}

/// `sshd -T` output: `keyword value…` per line, keywords in lower case.
/// The first line of a keyword wins, except for the keywords sshd prints
/// once per value (`acceptenv`, `setenv`), whose values are joined with a
/// space.
fn parse_sshd_t(text: &str) -> HashMap<String, String> {
    let mut settings: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        let (key, value) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        if key.is_empty() {
            continue;
        }
        let key = key.to_ascii_lowercase();
        let value = value.trim();
        match settings.get_mut(&key) {
            Some(all) if matches!(key.as_str(), "acceptenv" | "setenv") => {
                all.push(' ');
                all.push_str(value);
            }
            Some(_) => {}
            None => {
                settings.insert(key, value.to_string());
            }
        }
    }
    settings
}

/// Whether an `AcceptEnv` pattern can only ever admit locale variables
/// (`LANG`, `LANGUAGE`, `LC_…`): anything else could admit `LD_PRELOAD`.
fn locale_only(pattern: &str) -> bool {
    matches!(pattern, "LANG" | "LANGUAGE")
        || pattern
            .strip_prefix("LC_")
            .is_some_and(|rest| !rest.is_empty())
}

/// What [`judge_sshd`] needs besides sshd's settings.
struct SshdContext<'a> {
    /// The sshd config, for messages.
    label: &'a Path,
    pair: &'a str,
    /// This binary.
    exe: &'a Path,
    /// The main config this check read.
    config: &'a Path,
    /// Whether two paths name the same file (canonically).
    same_file: &'a dyn Fn(&Path, &Path) -> bool,
}

/// The pair account's sshd settings, judged: one line per problem.
fn judge_sshd(s: &HashMap<String, String>, c: &SshdContext) -> Vec<String> {
    let mut problems = Vec::new();
    let get = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
    let pair = c.pair;
    let head = format!("{} (sshd -T for user {pair})", c.label.display());
    let block =
        format!("in the `Match User {pair}` block (see contrib/sshd_config.d/pairshell.conf)");
    let exe = c.exe.display();
    let cfg = c.config.display();
    let akc_line = format!("AuthorizedKeysCommand {exe} --config {cfg} authorized-keys %u %t %k");
    let mut problem =
        |what: String, fix: String| problems.push(format!("{head}: {what}; fix: {fix}"));

    let akc = get("authorizedkeyscommand");
    match parse_command(akc, "authorized-keys", &["%u", "%t", "%k"]) {
        _ if akc.is_empty() || akc == "none" => problem(
            "sshd does not ask pairshell for the pair account's keys (no AuthorizedKeysCommand)"
                .into(),
            format!("`{akc_line}` {block}"),
        ),
        None => problem(
            format!("AuthorizedKeysCommand is `{akc}`, not `PAIRSHELL [--config PATH] authorized-keys %u %t %k`"),
            format!("`{akc_line}` {block}"),
        ),
        Some((program, _)) if !(c.same_file)(Path::new(program), c.exe) => problem(
            format!("AuthorizedKeysCommand runs {program}, not this pairshell ({exe})"),
            format!("`{akc_line}` {block}"),
        ),
        Some((_, used)) => {
            let used = used.unwrap_or(config::DEFAULT_PATH);
            if !(c.same_file)(Path::new(used), c.config) {
                problem(
                    format!("AuthorizedKeysCommand reads {used}, not {cfg} (the config this check read)"),
                    format!("`{akc_line}` {block}, or check that one: pairshell --config {used} check"),
                );
            }
        }
    }
    match get("authorizedkeyscommanduser") {
        "" | "none" => problem(
            "AuthorizedKeysCommandUser is not set, so sshd will not run the command".into(),
            format!("`AuthorizedKeysCommandUser nobody` {block}"),
        ),
        "root" => problem(
            "AuthorizedKeysCommandUser is root".into(),
            format!("`AuthorizedKeysCommandUser nobody` {block}"),
        ),
        _ => {}
    }
    let forced = get("forcecommand");
    if !forced.is_empty() && forced != "none" {
        match parse_command(forced, "login", &[]) {
            Some((program, used))
                if Path::new(program).is_absolute() && (c.same_file)(Path::new(program), c.exe) =>
            {
                let used = used.unwrap_or(config::DEFAULT_PATH);
                if !(c.same_file)(Path::new(used), c.config) {
                    problem(
                        format!(
                            "ForceCommand reads {used}, not {cfg} (the config this check read)"
                        ),
                        format!("`ForceCommand {exe} --config {cfg} login` {block}"),
                    );
                }
            }
            _ => problem(
                format!("ForceCommand is `{forced}`, not this pairshell's login"),
                format!("`ForceCommand {exe} --config {cfg} login` {block}, or no ForceCommand"),
            ),
        }
    }
    if get("exposeauthinfo") != "yes" {
        problem(
            format!(
                "ExposeAuthInfo is {}, so pairshell cannot see which key a guest used",
                or_unset(get("exposeauthinfo"))
            ),
            format!("`ExposeAuthInfo yes` {block}"),
        );
    }
    if get("pubkeyauthentication") == "no" {
        problem(
            "PubkeyAuthentication is no, so no guest can log in".into(),
            format!("`PubkeyAuthentication yes` {block}"),
        );
    }
    let passwords: Vec<String> = ["passwordauthentication", "kbdinteractiveauthentication"]
        .into_iter()
        .filter(|k| s.get(*k).is_some_and(|v| v != "no"))
        .map(|k| format!("{k} {}", get(k)))
        .collect();
    if !passwords.is_empty() {
        problem(
            format!(
                "password logins are on ({}): they carry no guest identity",
                passwords.join(", ")
            ),
            format!("`PasswordAuthentication no` and `KbdInteractiveAuthentication no` {block}"),
        );
    }
    // Guards against: a guest setting LD_PRELOAD (or LD_AUDIT, …) through
    // ssh: the loader runs that library as the pair account before
    // pairshell's first instruction, so only sshd can refuse it.
    let admitted: Vec<&str> = get("acceptenv")
        .split_whitespace()
        .filter(|p| !locale_only(p))
        .collect();
    if !admitted.is_empty() {
        problem(
            format!(
                "sshd accepts {} from guests' ssh clients (AcceptEnv): a guest could set \
                 LD_PRELOAD and run code as {pair} before pairshell starts",
                admitted.join(" ")
            ),
            format!("`AcceptEnv LANG LC_*` {block}"),
        );
    }
    let setenv = get("setenv");
    if !setenv.is_empty() && setenv != "none" {
        problem(
            format!("sshd sets {setenv} for {pair} (SetEnv): pairshell's environment must come from nobody but sshd's defaults"),
            format!("remove SetEnv for {pair}"),
        );
    }
    if s.get("permituserenvironment").is_some_and(|v| v != "no") {
        problem(
            format!(
                "PermitUserEnvironment is {}: ~/.ssh/environment or an environment= key option \
                 could set LD_PRELOAD for {pair}",
                get("permituserenvironment")
            ),
            "`PermitUserEnvironment no` in the main sshd_config (it is not allowed in a Match block)".into(),
        );
    }
    let mut forwarding: Vec<String> = Vec::new();
    if get("disableforwarding") != "yes" {
        for k in [
            "allowtcpforwarding",
            "allowstreamlocalforwarding",
            "allowagentforwarding",
            "x11forwarding",
        ] {
            if get(k) != "no" {
                forwarding.push(format!("{k} {}", or_unset(get(k))));
            }
        }
    }
    // DisableForwarding does not cover tun devices.
    if s.get("permittunnel").is_some_and(|v| v != "no") {
        forwarding.push(format!("permittunnel {}", get("permittunnel")));
    }
    if !forwarding.is_empty() {
        problem(
            format!("forwarding is on ({})", forwarding.join(", ")),
            format!("`DisableForwarding yes` and `PermitTunnel no` {block}"),
        );
    }
    problems
}

fn or_unset(v: &str) -> &str {
    if v.is_empty() {
        "unset"
    } else {
        v
    }
}

/// `PROGRAM [--config PATH] SUBCOMMAND ARGS…`, the shape of pairshell's
/// lines in sshd's config (the same words `cli::own_login_line` accepts for
/// `login`): the program and the config path, if any.
fn parse_command<'a>(
    line: &'a str,
    subcommand: &str,
    args: &[&str],
) -> Option<(&'a str, Option<&'a str>)> {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let (program, config, rest) = match words.as_slice() {
        [program, "--config", path, rest @ ..] => (*program, Some(*path), rest),
        [program, rest @ ..] => (*program, None, rest),
        [] => return None,
    };
    let (sub, rest) = rest.split_first()?;
    (*sub == subcommand && rest == args).then_some((program, config))
}

/// Whether `a` and `b` are the same file, symlinks resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// tmux and Landlock
// ---------------------------------------------------------------------------

/// The tmux binary is root's (check runs it as root, guests as the pair
/// account) and 3.3 or later.
fn tmux_check(config: &Config, main: &Locator, r: &mut Report) {
    let tmux = &config.tmux;
    let at = main.at(&[Seg::Key("tmux")]);
    if let Err(e) = trusted_program(tmux) {
        let fix = match fix_for(&e, "root", 0) {
            Some(fix) => fix,
            None => "install tmux (apt install tmux), or point `tmux` at it".to_string(),
        };
        r.problem(format!("{at}: tmux is not safe to run: {e}; fix: {fix}"));
        return;
    }
    let mut cmd = Command::new(tmux);
    cmd.arg("-V");
    let out = match probe(cmd) {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            r.problem(format!(
                "{at}: `{} -V` failed: {}; fix: point `tmux` at tmux {}.{} or later",
                tmux.display(),
                String::from_utf8_lossy(&out.stderr).trim(),
                TMUX_MIN.0,
                TMUX_MIN.1
            ));
            return;
        }
        Err(e) => {
            r.problem(format!(
                "{at}: cannot run {}: {e}; fix: install tmux (apt install tmux) or point `tmux` at it",
                tmux.display()
            ));
            return;
        }
    };
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match tmux_version(&said) {
        TmuxVersion::Release(v) if v >= TMUX_MIN => r.note(format!("{}: {said}", tmux.display())),
        TmuxVersion::Master => r.note(format!("{}: {said}", tmux.display())),
        found => r.problem(format!(
            "{at}: {} is {}; pairshell needs tmux {}.{} or later (server-access); fix: install \
             a newer tmux and point `tmux` at it",
            tmux.display(),
            match found {
                TmuxVersion::Unknown => format!("of an unknown version ({said:?})"),
                _ => said.clone(),
            },
            TMUX_MIN.0,
            TMUX_MIN.1
        )),
    }
}

/// A program root may run: its directories and the file itself (symlinks
/// resolved) root's and writable by nobody else.
fn trusted_program(path: &Path) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        trust::check_root_path(dir)?;
    }
    let real = path.canonicalize().map_err(|e| Error::io(path, e))?;
    if let Some(dir) = real.parent() {
        trust::check_root_path(dir)?;
    }
    let meta = std::fs::metadata(&real).map_err(|e| Error::io(&real, e))?;
    trust::check_file_meta(&real, &meta, Owner::Root)
}

#[derive(Debug, PartialEq, Eq)]
enum TmuxVersion {
    Release((u32, u32)),
    /// Built from git: newer than any release.
    Master,
    Unknown,
}

/// What `tmux -V` says: `tmux 3.3a`, `tmux 3.4`, `tmux next-3.4`, `tmux master`.
fn tmux_version(said: &str) -> TmuxVersion {
    let Some(v) = said.trim().strip_prefix("tmux ") else {
        return TmuxVersion::Unknown;
    };
    let v = v.trim();
    if v == "master" {
        return TmuxVersion::Master;
    }
    let v = v.strip_prefix("next-").unwrap_or(v);
    let Some((major, rest)) = v.split_once('.') else {
        return TmuxVersion::Unknown;
    };
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match (major.parse(), minor.parse()) {
        (Ok(major), Ok(minor)) => TmuxVersion::Release((major, minor)),
        _ => TmuxVersion::Unknown,
    }
}

/// The lookup index: missing is fine (logins read the whole config); one
/// that exists but cannot be used is a problem, since the admin meant it to
/// be used (it is most often a config edited by hand since).
fn index_check(abs: &Path, text: &str, r: &mut Report) {
    let Ok((_, _, meta)) = crate::sys::trust::open_root_file(abs) else {
        return;
    };
    let path = crate::config::index::path_for(abs);
    match crate::config::index::Index::open(abs, &meta) {
        // The stamp matches; the text must too (it can only differ after
        // an edit made while the clock was set back).
        Ok(index) if index.built_from(text) => r.note(format!(
            "{}: lookup index matches the config",
            path.display()
        )),
        Ok(_) => r.problem(format!(
            "{}: lookup index was built from another text than the config's now (was the clock \
             set back?); fix: run `pairshell index`",
            path.display()
        )),
        Err(crate::config::index::Unused::Missing(path)) => r.note(format!(
            "{}: no lookup index; every login reads the whole config (fine for a few \
             hundred keys; for more, run `pairshell index`)",
            path.display()
        )),
        Err(crate::config::index::Unused::Unusable(why)) => r.problem(why),
    }
}

/// The hosts index: missing is fine (logins read every host file); one
/// that cannot be used is a problem, as for the lookup index. One stale for
/// some files (a host's `share` since, or a new host) is a note, not a
/// problem: hosts edit their files all day and cannot rebuild it, and a
/// stale entry only costs those files' logins time.
fn hosts_index_check(abs: &Path, config: &Config, r: &mut Report) {
    use crate::config::index::hosts::HostsIndex;
    use crate::config::index::Unused;
    let path = crate::config::index::hosts::hosts_path_for(abs);
    match HostsIndex::open(abs, &config.hosts_dir) {
        Ok(index) => {
            let logins = crate::config::host_logins(&config.hosts_dir).unwrap_or_default();
            let stale = index.stale_files(&config.hosts_dir, &logins);
            if stale.is_empty() {
                r.note(format!(
                    "{}: hosts index matches every host file",
                    path.display()
                ));
            } else {
                r.note(format!(
                    "{}: hosts index is stale for {} of {} host files ({}): logins read those \
                     files themselves; fix: run `pairshell index`",
                    path.display(),
                    stale.len(),
                    logins.len(),
                    stale.join(", ")
                ));
            }
        }
        Err(Unused::Missing(path)) => r.note(format!(
            "{}: no hosts index; every login looks at every host file (fine for a few \
             hosts; for more, run `pairshell index`)",
            path.display()
        )),
        Err(Unused::Unusable(why)) => r.problem(why),
    }
}

/// Landlock: without it a host's server can make any tmux client of the
/// pair account run programs (`detach-client -E`, `lock-client`) and read
/// or write its files. Read-write joins are then refused unless allowed;
/// read-only joins stay allowed (the relay still keeps those guests from
/// typing), so a missing Landlock is always a problem.
fn landlock_check(config: &Config, abs: &Path, r: &mut Report) {
    match (
        crate::sys::sandbox::landlock_available(),
        config.allow_unconfined_read_write,
    ) {
        (Ok(abi), _) => r.note(format!(
            "Landlock ABI {abi}: available; every tmux client runs confined"
        )),
        (Err(e), allowed) => r.problem(format!(
            "Landlock is not available ({e}): a host's tmux server can make the tmux clients \
             of read-only guests run its lock command and read or write files as {pair}; \
             read-write joins are {rw}; fix: use a kernel with Landlock (5.13 or later, \
             lsm=landlock){hint}",
            pair = config.pair_user,
            rw = if allowed {
                "let in UNCONFINED (allow_unconfined_read_write = true)"
            } else {
                "refused"
            },
            hint = if allowed {
                format!(
                    ", and remove allow_unconfined_read_write from {}",
                    abs.display()
                )
            } else {
                String::new()
            },
        )),
    }
}

/// Run a probe (`sshd -T`, `tmux -V`) with a clean environment, its output
/// captured, for at most [`PROBE_TIMEOUT`].
fn probe(mut cmd: Command) -> io::Result<Output> {
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir("/");
    output_within(&mut cmd, PROBE_TIMEOUT)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        )
    })
}

// ---------------------------------------------------------------------------
// A file before it is installed (`pairshell edit`)
// ---------------------------------------------------------------------------

/// What the paths the main config names must be for logins to work: `tmux`
/// a program root may run, the CA file root's and readable, and the syslog
/// socket there when audit is required (else every login is refused).
fn named_path_problems(config: &Config, main: &Locator, r: &mut Report) {
    if let Err(e) = trusted_program(&config.tmux) {
        let fix = fix_for(&e, "root", 0)
            .unwrap_or_else(|| "install tmux (apt install tmux), or point `tmux` at it".into());
        // tmux_check says the same when it runs; say it once.
        let p = format!(
            "{}: tmux is not safe to run: {e}; fix: {fix}",
            main.at(&[Seg::Key("tmux")])
        );
        if !r.problems.contains(&p) {
            r.problem(p);
        }
    }
    if let Some(ca) = &config.trusted_user_ca_keys {
        if let Err(e) = config::load_ca_keys(ca) {
            let fix = fix_for(&e, "root", 0).unwrap_or_else(|| {
                "point trusted_user_ca_keys at the file sshd's TrustedUserCAKeys names".into()
            });
            r.problem(format!(
                "{}: trusted_user_ca_keys: {e}, so no certificate identifies a guest; fix: {fix}",
                main.at(&[Seg::Key("trusted_user_ca_keys")])
            ));
        }
    }
    let socket = &config.audit.syslog_socket;
    let is_socket = std::fs::metadata(socket).is_ok_and(|m| m.file_type().is_socket());
    if config.audit.required && !is_socket {
        r.problem(format!(
            "{}: there is no syslog socket at {}, and audit.required = true refuses every login \
             whose audit line cannot be written; fix: point syslog_socket at the system's (/dev/log)",
            main.at(&[Seg::Key("audit"), Seg::Key("syslog_socket")]),
            socket.display()
        ));
    }
}

/// The problems in a main config's `text` that `check` would report, for
/// `pairshell edit` before it installs it; `shown` names the file in them
/// (the copy being edited), `installed` the config it is to replace. `Err`
/// is a text that does not parse, which refuses every login.
///
/// Checked: the schema, keys that do not decode or that two guests share,
/// expired guests, the paths it names (`tmux`, `trusted_user_ca_keys`, the
/// syslog socket, `hosts_dir`), the pair account, and every host file
/// against the guests it declares. Not sshd, tmux's version or Landlock,
/// which no edit of this file changes (`pairshell check` looks at those).
pub(crate) fn main_text_problems(
    shown: &Path,
    text: &str,
    installed: &Path,
) -> Result<Vec<String>, String> {
    let config = config::parse_main(shown, text).map_err(|e| e.to_string())?;
    let mut r = Report::default();
    let now = Timestamp::now();
    let main = Locator::new(shown, text);
    guest_problems(&config, &main, now, &mut r);
    named_path_problems(&config, &main, &mut r);
    let pair = crate::sys::accounts::user(&config.pair_user);
    if pair.is_none() {
        r.problem(format!(
            "{}: pair_user {:?} does not exist on this system, so nobody can log in; fix: name \
             the pair account",
            main.at(&[Seg::Key("pair_user")]),
            config.pair_user
        ));
    }
    host_problems(&config, installed, pair.as_ref(), now, &mut r);
    Ok(r.problems)
}

/// The problems in `login`'s host file `text` (uid `uid`), for `pairshell
/// edit` run by that host; `shown` names the file in them.
///
/// Besides `check`'s rules (grants naming no guest, expired entries, a
/// socket that is not the host's), a host can never widen anything beyond
/// their own sessions: a socket not there yet must be in a directory the
/// host owns and nobody else can write (so it can only ever be the host's
/// own server, never another host's), and two sessions cannot share one.
pub(crate) fn host_text_problems(
    config: &Config,
    main_path: &Path,
    login: &str,
    uid: nix::unistd::Uid,
    shown: &Path,
    text: &str,
) -> Result<Vec<String>, String> {
    let file = config::parse_host(shown, text).map_err(|e| e.to_string())?;
    let host = Host {
        login: login.to_string(),
        uid,
        file,
    };
    let mut r = Report::default();
    let loc = Locator::new(shown, text);
    let pair = crate::sys::accounts::user(&config.pair_user);
    let sockets = socket_facts(&host, pair.as_ref());
    share_problems(
        config,
        main_path,
        &host,
        &loc,
        &sockets,
        Timestamp::now(),
        &mut r,
    );
    let own_dir = config.sockets_dir.join(login);
    let mut seen: HashMap<&Path, &str> = HashMap::new();
    for (session, share) in &host.file.sessions {
        let s = session.as_str();
        let at = loc.at(&[Seg::Key("sessions"), Seg::Key(s), Seg::Key("socket")]);
        let socket = share.socket.as_path();
        let fix = format!(
            "socket = \"{}\"",
            own_dir.join(format!("{s}.sock")).display()
        );
        if let Some(other) = seen.insert(socket, s) {
            r.problem(format!(
                "{at}: sessions {other} and {s} share socket {}, but each shared session has a \
                 server of its own; fix: {fix}",
                socket.display()
            ));
        }
        match std::fs::symlink_metadata(socket) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // There: `share_problems` has judged it (or there is no pair
            // account, and nothing can join anyway).
            _ if pair.is_some() => continue,
            _ => {
                if let Err(e) = trust::check_socket(socket, Owner::Exactly(uid)) {
                    r.problem(format!("{at}: session {s}: {e}; fix: {fix}"));
                }
                continue;
            }
        }
        let dir = socket.parent().unwrap_or(Path::new("/"));
        let why = match std::fs::symlink_metadata(dir) {
            Err(e) => Some(format!("{}: {e}", dir.display())),
            Ok(m) if !m.is_dir() => Some(format!("{} is not a directory", dir.display())),
            Ok(m) if m.uid() != uid.as_raw() => Some(format!(
                "{} is not {login}'s (owner uid {})",
                dir.display(),
                m.uid()
            )),
            Ok(m) if m.permissions().mode() & 0o022 != 0 => Some(format!(
                "{} is writable by others (mode {:o})",
                dir.display(),
                m.permissions().mode() & 0o7777
            )),
            Ok(_) => None,
        };
        if let Some(why) = why {
            r.problem(format!(
                "{at}: session {s}: socket {} is not in a directory of {login}'s own ({why}), so \
                 it could be someone else's server; fix: {fix}",
                socket.display()
            ));
        }
    }
    Ok(r.problems)
}

/// What identifies a problem across edits: its text without the line and
/// column, which move as lines are added above it. `pairshell edit` holds
/// back only what its edit brought in; a problem the file had already is
/// shown, not held against the edit.
pub(crate) fn problem_key(problem: &str) -> String {
    let Some((place, rest)) = problem.split_once(": ") else {
        return problem.to_string();
    };
    let file = place
        .rsplit_once(':')
        .and_then(|(head, col)| {
            let (file, line) = head.rsplit_once(':')?;
            let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            (digits(line) && digits(col)).then_some(file)
        })
        .unwrap_or(place);
    format!("{file}: {rest}")
}

// ---------------------------------------------------------------------------
// Locating a problem in a TOML file
// ---------------------------------------------------------------------------

/// One step on the way to a value: a table key or an array index.
#[derive(Clone, Copy, Debug)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A file's text, parsed with spans, to turn a key path into
/// `FILE:LINE:COLUMN` (or just `FILE` when it cannot be found).
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
    doc: Option<toml_edit::Document<&'a str>>,
}

impl<'a> Locator<'a> {
    fn new(file: &'a Path, text: &'a str) -> Locator<'a> {
        Locator {
            file,
            text,
            doc: toml_edit::Document::parse(text).ok(),
        }
    }

    fn at(&self, segs: &[Seg]) -> String {
        match self.offset(segs) {
            Some(offset) => {
                let (line, column) = line_column(self.text, offset);
                format!("{}:{line}:{column}", self.file.display())
            }
            None => self.file.display().to_string(),
        }
    }

    /// Where the value (else its key) at `segs` starts.
    fn offset(&self, segs: &[Seg]) -> Option<usize> {
        let mut item = self.doc.as_ref()?.as_item();
        let mut key_start = None;
        for (i, seg) in segs.iter().enumerate() {
            match *seg {
                Seg::Key(k) => {
                    let (key, next) = item.as_table_like()?.get_key_value(k)?;
                    key_start = key.span().map(|s| s.start);
                    item = next;
                }
                Seg::Index(n) => {
                    let value = item.as_array()?.get(n)?;
                    if i + 1 == segs.len() {
                        return value.span().map(|s| s.start);
                    }
                    return None;
                }
            }
        }
        item.span().map(|s| s.start).or(key_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Problems by file, for the unit tests.
    fn by_file(problems: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in problems {
            let file = p.split(':').next().unwrap_or("").to_string();
            m.entry(file).or_default().push(p.clone());
        }
        m
    }

    const EXE: &str = "/usr/local/bin/pairshell";
    const CFG: &str = "/etc/pairshell/pairshell.toml";

    fn good() -> HashMap<String, String> {
        parse_sshd_t(&format!(
            "port 22\n\
             pubkeyauthentication yes\n\
             passwordauthentication no\n\
             kbdinteractiveauthentication no\n\
             x11forwarding no\n\
             allowtcpforwarding yes\n\
             allowagentforwarding yes\n\
             disableforwarding yes\n\
             allowstreamlocalforwarding yes\n\
             exposeauthinfo yes\n\
             forcecommand {EXE} --config {CFG} login\n\
             authorizedkeyscommand {EXE} --config {CFG} authorized-keys %u %t %k\n\
             authorizedkeyscommanduser nobody\n\
             permituserenvironment no\n\
             acceptenv LANG\n\
             acceptenv LC_*\n\
             permittunnel no\n"
        ))
    }

    /// Guards against: a guest's `ssh -o SetEnv=LD_PRELOAD=…` reaching
    /// pairshell through a permissive AcceptEnv (or one that admits LD_*
    /// through a wildcard), a SetEnv for the pair account, and
    /// PermitUserEnvironment.
    #[test]
    fn accept_env_beyond_the_locale_lets_ld_preload_in_and_is_a_problem() {
        for patterns in ["LANG LC_* LD_PRELOAD", "*", "L*", "LC_* LD_*", "LANG TZ"] {
            let mut s = good();
            s.insert("acceptenv".into(), patterns.into());
            let found = judge(&s);
            assert_eq!(found.len(), 1, "{patterns}: {found:#?}");
            assert!(found[0].contains("AcceptEnv"), "{}", found[0]);
        }
        for patterns in ["LANG LC_*", "LANG LANGUAGE LC_ALL LC_CTYPE", ""] {
            let mut s = good();
            s.insert("acceptenv".into(), patterns.into());
            assert_eq!(judge(&s), Vec::<String>::new(), "{patterns}");
        }
        one_problem(&[("setenv", "LD_PRELOAD=/tmp/x.so")], "SetEnv");
        one_problem(&[("permituserenvironment", "yes")], "PermitUserEnvironment");
        one_problem(
            &[("permituserenvironment", "LD_*")],
            "PermitUserEnvironment",
        );
    }

    #[test]
    fn accept_env_lines_of_sshd_t_are_all_read() {
        let s = parse_sshd_t(
            "acceptenv LANG\nacceptenv LC_*\nacceptenv LD_PRELOAD\nport 22\nport 23\n",
        );
        assert_eq!(s["acceptenv"], "LANG LC_* LD_PRELOAD");
        assert_eq!(s["port"], "22");
    }

    fn judge(s: &HashMap<String, String>) -> Vec<String> {
        judge_sshd(
            s,
            &SshdContext {
                label: Path::new("/etc/ssh/sshd_config"),
                pair: "pair",
                exe: Path::new(EXE),
                config: Path::new(CFG),
                same_file: &|a, b| a == b,
            },
        )
    }

    fn with(changes: &[(&str, &str)]) -> Vec<String> {
        let mut s = good();
        for (k, v) in changes {
            s.insert(k.to_string(), v.to_string());
        }
        judge(&s)
    }

    fn one_problem(changes: &[(&str, &str)], needle: &str) {
        let found = with(changes);
        assert_eq!(found.len(), 1, "{changes:?}: {found:#?}");
        assert!(found[0].contains(needle), "{changes:?}: {}", found[0]);
        assert!(found[0].contains("; fix: "), "{}", found[0]);
        assert!(
            found[0].starts_with("/etc/ssh/sshd_config (sshd -T for user pair): "),
            "{}",
            found[0]
        );
    }

    #[test]
    fn the_shipped_settings_pass() {
        assert_eq!(judge(&good()), Vec::<String>::new());
        // Forwarding off one by one instead of DisableForwarding; no ForceCommand.
        let ok = with(&[
            ("disableforwarding", "no"),
            ("allowtcpforwarding", "no"),
            ("allowagentforwarding", "no"),
            ("x11forwarding", "no"),
            ("allowstreamlocalforwarding", "no"),
            ("forcecommand", "none"),
        ]);
        assert_eq!(ok, Vec::<String>::new());
    }

    #[test]
    fn each_wrong_setting_is_one_line() {
        one_problem(&[("exposeauthinfo", "no")], "ExposeAuthInfo is no");
        one_problem(
            &[("authorizedkeyscommand", "none")],
            "no AuthorizedKeysCommand",
        );
        one_problem(
            &[(
                "authorizedkeyscommand",
                "/usr/bin/other --config /etc/pairshell/pairshell.toml authorized-keys %u %t %k",
            )],
            "runs /usr/bin/other, not this pairshell",
        );
        one_problem(
            &[(
                "authorizedkeyscommand",
                &format!("{EXE} authorized-keys %u"),
            )],
            "not `PAIRSHELL [--config PATH] authorized-keys %u %t %k`",
        );
        one_problem(
            &[(
                "authorizedkeyscommand",
                &format!("{EXE} --config /tmp/x.toml authorized-keys %u %t %k"),
            )],
            "AuthorizedKeysCommand reads /tmp/x.toml",
        );
        one_problem(
            &[("authorizedkeyscommanduser", "none")],
            "AuthorizedKeysCommandUser is not set",
        );
        one_problem(
            &[("authorizedkeyscommanduser", "root")],
            "AuthorizedKeysCommandUser is root",
        );
        one_problem(&[("forcecommand", "/bin/sh")], "ForceCommand is `/bin/sh`");
        one_problem(
            &[("passwordauthentication", "yes")],
            "password logins are on (passwordauthentication yes)",
        );
        one_problem(&[("pubkeyauthentication", "no")], "no guest can log in");
        one_problem(
            &[("disableforwarding", "no")],
            "forwarding is on (allowtcpforwarding yes, allowstreamlocalforwarding yes, allowagentforwarding yes)",
        );
        one_problem(
            &[("permittunnel", "yes")],
            "forwarding is on (permittunnel yes)",
        );
    }

    #[test]
    fn akc_without_config_means_the_default_config() {
        let ok = with(&[(
            "authorizedkeyscommand",
            &format!("{EXE} authorized-keys %u %t %k"),
        )]);
        assert_eq!(ok, Vec::<String>::new(), "CFG is the default");
    }

    #[test]
    fn commands_are_parsed_by_shape() {
        assert_eq!(
            parse_command(
                "/b --config /c authorized-keys %u %t %k",
                "authorized-keys",
                &["%u", "%t", "%k"]
            ),
            Some(("/b", Some("/c")))
        );
        assert_eq!(parse_command("/b login", "login", &[]), Some(("/b", None)));
        assert_eq!(parse_command("/b login; id", "login", &[]), None);
        assert_eq!(parse_command("/b --config /c", "login", &[]), None);
        assert_eq!(parse_command("", "login", &[]), None);
    }

    #[test]
    fn tmux_versions() {
        assert_eq!(tmux_version("tmux 3.3a"), TmuxVersion::Release((3, 3)));
        assert_eq!(tmux_version("tmux 3.4\n"), TmuxVersion::Release((3, 4)));
        assert_eq!(tmux_version("tmux next-3.4"), TmuxVersion::Release((3, 4)));
        assert_eq!(tmux_version("tmux 3.2a"), TmuxVersion::Release((3, 2)));
        assert_eq!(tmux_version("tmux 10.0"), TmuxVersion::Release((10, 0)));
        assert_eq!(tmux_version("tmux master"), TmuxVersion::Master);
        assert_eq!(tmux_version("tmux openbsd-7.4"), TmuxVersion::Unknown);
        assert_eq!(tmux_version("screen 4"), TmuxVersion::Unknown);
        assert!(TmuxVersion::Release((3, 2)) != TmuxVersion::Release(TMUX_MIN));
        assert!((3, 2) < TMUX_MIN && (3, 10) > TMUX_MIN && (4, 0) > TMUX_MIN);
    }

    #[test]
    fn locator_finds_values_keys_and_array_elements() {
        let text = "pair_user = \"pair\"\n\n[guests.alice]\nkeys = [\"a\", \"b\"]\nexpires = 2020-01-01T00:00:00Z\n\n[sessions.api]\nguest_expires = { bob = 2020-01-01T00:00:00Z }\n";
        let loc = Locator::new(Path::new("/f"), text);
        assert_eq!(loc.at(&[Seg::Key("pair_user")]), "/f:1:13");
        assert_eq!(
            loc.at(&[
                Seg::Key("guests"),
                Seg::Key("alice"),
                Seg::Key("keys"),
                Seg::Index(1)
            ]),
            "/f:4:14"
        );
        assert_eq!(
            loc.at(&[Seg::Key("guests"), Seg::Key("alice"), Seg::Key("expires")]),
            "/f:5:11"
        );
        assert_eq!(
            loc.at(&[
                Seg::Key("sessions"),
                Seg::Key("api"),
                Seg::Key("guest_expires"),
                Seg::Key("bob")
            ]),
            "/f:8:25"
        );
        assert_eq!(loc.at(&[Seg::Key("nope")]), "/f");
        assert_eq!(
            Locator::new(Path::new("/g"), "not toml [").at(&[Seg::Key("x")]),
            "/g"
        );
    }

    #[test]
    fn expired_and_shared_keys_in_the_main_config() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY";
        let text = format!(
            "pair_user = \"pair\"\n[guests.alice]\nkeys = [\"{key} a\"]\nexpires = 2020-01-01T00:00:00Z\n[guests.bob]\nkeys = [\"{key} b\"]\n"
        );
        let path = Path::new("/etc/p.toml");
        let config = config::parse_main(path, &text).unwrap();
        let mut r = Report::default();
        guest_problems(
            &config,
            &Locator::new(path, &text),
            Timestamp::now(),
            &mut r,
        );
        let found = by_file(&r.problems);
        let lines = &found["/etc/p.toml"];
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("/etc/p.toml:4:11: guest alice expired on 2020-01-01T00:00:00Z"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("/etc/p.toml:6:9: guests alice and bob share key SHA256:"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn a_problem_is_known_across_edits_by_its_text_without_line_and_column() {
        assert_eq!(
            problem_key("/tmp/e/pairshell.toml:12:5: guest bob expired on X; fix: y"),
            "/tmp/e/pairshell.toml: guest bob expired on X; fix: y"
        );
        assert_eq!(
            problem_key("/tmp/e/pairshell.toml: no line: here"),
            "/tmp/e/pairshell.toml: no line: here"
        );
        assert_eq!(
            problem_key("Landlock is not available"),
            "Landlock is not available"
        );
        assert_ne!(
            problem_key("/h/maria.toml:4:21: grants carol"),
            problem_key("/h/bob.toml:4:21: grants carol")
        );
    }

    #[test]
    fn a_config_sshd_does_not_read_is_a_candidate_only_when_named() {
        let exe = Path::new("/usr/local/bin/pairshell");
        let same = |a: &Path, b: &Path| a == b;
        let dir = std::env::temp_dir();
        // sshd reading a directory, which is no config.
        let settings: HashMap<String, String> = [(
            "authorizedkeyscommand".to_string(),
            format!(
                "{} --config {} authorized-keys %u %t %k",
                exe.display(),
                dir.display()
            ),
        )]
        .into();
        let file = dir.join(format!("pairshell-candidate-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let settings_file: HashMap<String, String> = [(
            "authorizedkeyscommand".to_string(),
            format!(
                "{} --config {} authorized-keys %u %t %k",
                exe.display(),
                file.display()
            ),
        )]
        .into();
        let cand = Path::new("/root/.ansible/tmp/source");
        assert_eq!(
            candidate_for(&settings_file, cand, exe, true, &same),
            Some(file.clone())
        );
        // Not named with --config, the very file sshd reads, another
        // program, or a config that does not exist: judged as it is.
        assert_eq!(candidate_for(&settings_file, cand, exe, false, &same), None);
        assert_eq!(candidate_for(&settings_file, &file, exe, true, &same), None);
        assert_eq!(
            candidate_for(&settings_file, cand, Path::new("/bin/other"), true, &same),
            None
        );
        assert_eq!(candidate_for(&settings, cand, exe, true, &same), None);
        std::fs::remove_file(file).unwrap();
    }
}
