//! Hosting behind NAT: `share --public` (a port mapping on the LAN's
//! gateway) and `share --via USER@RELAY` (an `ssh -R` to the host's own
//! relay).
//!
//! Either one is held by a small background process, the *holder*: the
//! hidden `pairshell nat-hold` command, started by `share` as the host and
//! detached from the host's terminal (its own session), so it outlives the
//! host detaching from tmux and closing the terminal. It renews the lease
//! (or brings the tunnel back), and it deletes the mapping (or ends the
//! tunnel) on `unshare`, at the share's expiry, and when the share ends any
//! other way: the session gone from the host's file, the file or the tmux
//! session gone. Each mapping and unmapping is an audit line
//! (`event=port-map`, `event=port-unmap`, with `external=`).
//!
//! The holder runs as the host and never as root or the pair account: it
//! does what the host could do by hand (ask their own router, run their
//! own ssh). Its state is a file the host owns, `sockets_dir/LOGIN/SESSION.nat`
//! (mode 0600, in the host's own 2750 directory), which `unshare`, `who`
//! and `share` read back.

mod gateway;
mod via;

use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid, User};
use serde::{Deserialize, Serialize};

use crate::audit::{Audit, Event};
use crate::config;
use crate::core::error::{failure, Exit, Failure};
pub(crate) use crate::core::reach::Reach;
use crate::tmux::Server;

/// How long a gateway has to answer before the host is told there is none:
/// within the 3 s the host is promised, with room for pairshell's own start.
pub const GATEWAY_BUDGET: Duration = Duration::from_millis(2200);

/// How long the first ssh connection to a relay may take.
const RELAY_WAIT: Duration = Duration::from_secs(20);

/// What a running holder wrote about itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub pid: u32,
    /// The holder's start time (`/proc/PID/stat`), so a reused pid is
    /// never taken for it.
    pub start: u64,
    pub session: String,
    pub reach: String,
    /// `PCP`, `NAT-PMP`, `UPnP-IGD`, `PCP-pinhole` or `ssh-relay`.
    pub method: String,
    /// The gateway or relay asked.
    pub gateway: String,
    /// What guests connect to, `ADDRESS:PORT`.
    pub external: String,
    /// The guests' line.
    pub line: String,
    /// The lease the gateway granted, in seconds (0 for a relay).
    pub lease_s: u32,
    /// When the lease was last renewed (or the tunnel last came back).
    pub renewed: String,
    pub renewals: u64,
    pub last_error: Option<String>,
}

/// The host's state directory, `sockets_dir/LOGIN`.
pub fn state_dir(sockets_dir: &Path, login: &str) -> PathBuf {
    sockets_dir.join(login)
}

fn state_path(dir: &Path, session: &str) -> PathBuf {
    dir.join(format!("{session}.nat"))
}

/// Read a state file, believing it only when it is a regular file (not a
/// symlink) owned by `uid`: guards against another account's file being
/// taken for the host's, and against a symlink pointing it elsewhere.
fn read_state(path: &Path, uid: Uid) -> Option<State> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != uid.as_raw() {
        return None;
    }
    serde_json::from_reader(file).ok()
}

/// Write the state atomically (a temporary file renamed over it), 0600:
/// the pair account, which can read the directory, has no business with it.
fn write_state(path: &Path, state: &State) -> std::io::Result<()> {
    let tmp = path.with_extension("nat.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

/// Whether `state`'s holder is still that process: same pid, same start
/// time, and a `nat-hold` command line for this session. Guards against
/// signalling an unrelated process of the host's that reused the pid.
fn alive(state: &State) -> bool {
    if crate::roster::process_start(state.pid) != Some(state.start) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", state.pid)) else {
        return false;
    };
    let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    words.contains(&b"nat-hold".as_slice()) && words.contains(&state.session.as_bytes())
}

/// The running holder of `session`, if there is one.
pub fn running(dir: &Path, session: &str, uid: Uid) -> Option<State> {
    read_state(&state_path(dir, session), uid).filter(alive)
}

/// Every running holder of the host's (for `who`).
pub fn all_running(dir: &Path, uid: Uid) -> Vec<State> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut states: Vec<State> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "nat"))
        .filter_map(|e| read_state(&e.path(), uid))
        .filter(alive)
        .collect();
    states.sort_by(|a, b| a.session.cmp(&b.session));
    states
}

/// One line for `who`.
pub fn describe(s: &State) -> String {
    let lease = if s.lease_s > 0 {
        format!(", lease {} s renewed {}", s.lease_s, s.renewed)
    } else {
        format!(", up since {}", s.renewed)
    };
    let trouble = s
        .last_error
        .as_ref()
        .map(|e| format!("; last problem: {e}"))
        .unwrap_or_default();
    format!(
        "{}: reachable at {} ({} from {}{lease}, holder pid {}){trouble}",
        s.session, s.external, s.method, s.gateway, s.pid
    )
}

/// What the host should know beyond the line, for `share`.
pub fn note(s: &State) -> Option<String> {
    (s.method == "ssh-relay").then(|| {
        let (host, port) = s.external.rsplit_once(':').unwrap_or((&s.external, "?"));
        let pair = s
            .line
            .split_whitespace()
            .find_map(|w| w.split_once('@').map(|(u, _)| u))
            .unwrap_or("pair");
        format!(
            "pairshell: note: guests reach port {port} of {host} when its sshd has GatewayPorts yes \
             (or clientspecified); otherwise guests with an account there can use \
             `ssh -t -J ACCOUNT@{host} -p {port} {pair}@localhost {}`",
            s.session
        )
    })
}

/// Stop `session`'s holder, if one runs, and wait (a few seconds) until it
/// has deleted its mapping. Returns what it held.
pub fn stop(dir: &Path, session: &str, uid: Uid) -> Option<State> {
    let state = running(dir, session, uid)?;
    let pid = Pid::from_raw(i32::try_from(state.pid).ok()?);
    let _ = kill(pid, Signal::SIGTERM);
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until && alive(&state) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(state)
}

/// For `share`: start a holder for `session` as `reach` asks (replacing
/// one that does something else), or find the one already running.
/// Returns what guests use, or `None` when the share is on this network
/// only. `config_path` is the config the holder is to load.
pub fn start(
    config_path: &Path,
    dir: &Path,
    uid: Uid,
    session: &str,
    reach: &Reach,
) -> Result<Option<State>, Failure> {
    if reach.wanted() && reach.ssh_port == 0 {
        return Err("--ssh-port cannot be 0".into());
    }
    let current = running(dir, session, uid);
    match (&current, reach.wanted()) {
        (Some(s), false) => return Ok(Some(s.clone())),
        (Some(s), true) if s.reach == reach.describe() => return Ok(Some(s.clone())),
        (Some(_), true) => {
            stop(dir, session, uid);
        }
        (None, false) => return Ok(None),
        (None, true) => {}
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--config")
        .arg(config_path)
        .arg("nat-hold")
        .arg(session)
        .args(reach.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the port-mapping helper: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let wait = if reach.public {
        GATEWAY_BUDGET + Duration::from_secs(3)
    } else {
        RELAY_WAIT + Duration::from_secs(3)
    };
    let line = rx.recv_timeout(wait).unwrap_or_default();
    if let Some(json) = line.strip_prefix("ok ") {
        // Not waited for: it outlives this process.
        drop(child);
        return serde_json::from_str(json.trim())
            .map(Some)
            .map_err(|e| failure!("the port-mapping helper said something odd: {e}"));
    }
    // SIGTERM, not SIGKILL: a holder still mapping when the wait ran out
    // deletes what it mapped before it goes.
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let _ = child.wait();
    Err(match line.strip_prefix("err ") {
        Some(why) => Failure::from(why.trim().to_string()),
        None => Failure::from("the port-mapping helper ended without a word".to_string()),
    })
}

/// The message when no gateway answered.
fn no_gateway(session: &str) -> String {
    format!(
        "no gateway on this network answered a port-mapping request (PCP, NAT-PMP or UPnP) within 3 s; \
         {session} is shared on this network only. From outside, guests can come through a relay \
         of yours instead: `pairshell share {session} --via USER@RELAY`"
    )
}

/// The guests' line for an address outside this box.
fn guest_line(pair_user: &str, host: &str, port: u16, session: &str) -> String {
    if port == 22 {
        format!("ssh -t {pair_user}@{host} {session}")
    } else {
        format!("ssh -t -p {port} {pair_user}@{host} {session}")
    }
}

/// What the holder holds.
enum Held {
    Mapping(gateway::Mapping),
    Tunnel(via::Tunnel),
}

/// Why the holder let go.
fn end_reason(
    hosts_dir: &Path,
    login: &str,
    session: &str,
    tmux: &Path,
    stopped: bool,
) -> Option<&'static str> {
    let host = match config::load_host(hosts_dir, login) {
        Ok(h) => h,
        Err(_) => return Some("host-file-gone"),
    };
    let Some(share) = host
        .file
        .sessions
        .iter()
        .find(|(n, _)| n.as_str() == session)
    else {
        return Some("unshared");
    };
    if share.1.expires.is_some_and(|t| t <= Timestamp::now()) {
        return Some("expired");
    }
    if stopped {
        return Some("stopped");
    }
    let server = Server {
        tmux,
        socket: &share.1.socket,
    };
    if !server.has_session(session) {
        return Some("session-ended");
    }
    None
}

/// `pairshell nat-hold SESSION (--public | --via USER@RELAY)`: the holder.
/// Its first line on stdout is `ok STATE-JSON` or `err MESSAGE`, for the
/// `share` that started it; nothing after that.
pub fn hold(config_path: Option<&Path>, session: &str, reach: &Reach) -> Exit {
    match hold_inner(config_path, session, reach) {
        Ok(()) => Exit::Done,
        Err(e) => {
            println!("err {}", e.to_string().replace('\n', " "));
            Exit::Failed
        }
    }
}

fn hold_inner(config_path: Option<&Path>, session: &str, reach: &Reach) -> Result<(), Failure> {
    let uid = nix::unistd::getuid();
    // Never as root: a mapping or a tunnel is the host's own doing, with
    // the host's rights, and a root holder would run ssh as root.
    if uid.is_root() {
        return Err("nat-hold runs as the host who shares the session, not as root".into());
    }
    let path = crate::config::main_path(config_path);
    let (_, config) = config::load_main(&path).map_err(|e| e.to_string())?;
    // Never as the pair account: guests' account must not be able to open
    // the box to the outside (it has no host file, but say so plainly).
    let pair_uid = User::from_name(&config.pair_user)
        .ok()
        .flatten()
        .map(|u| u.uid);
    if pair_uid == Some(uid) {
        return Err("nat-hold does not run as the pair account".into());
    }
    let login = User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .ok_or_else(|| format!("uid {uid} has no name on this system"))?;
    // Only for a session the host's own file shares: nothing else is
    // opened to the outside.
    if let Some(why) = end_reason(&config.hosts_dir, &login, session, &config.tmux, false) {
        return Err(failure!("{session} is not shared by {login} ({why})"));
    }
    // Its own session: no SIGHUP when the host's terminal goes.
    let _ = nix::unistd::setsid();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    let dir = state_dir(&config.sockets_dir, &login);
    let mut audit = Audit::new(&config.audit.syslog_socket, config.audit.required);

    let mut held = if reach.public {
        match gateway::map(reach.ssh_port, reach.lease, GATEWAY_BUDGET) {
            Ok(m) => Held::Mapping(m),
            Err(gateway::NoMapping::Silent) => return Err(Failure::from(no_gateway(session))),
            Err(gateway::NoMapping::Refused(why)) => {
                return Err(failure!(
                    "the gateway did not map a port: {why}; {session} is shared on this network only (try --via USER@RELAY)"
                ))
            }
        }
    } else {
        let relay = reach
            .via
            .clone()
            .ok_or("nat-hold needs --public or --via")?;
        Held::Tunnel(via::Tunnel::open(relay, reach.ssh_port, RELAY_WAIT)?)
    };
    let (method, external, line, lease_s, relay) = match &held {
        Held::Mapping(m) => (
            m.protocol.to_string(),
            m.external.to_string(),
            guest_line(
                &config.pair_user,
                &m.external.ip().to_string(),
                m.external.port(),
                session,
            ),
            m.lease,
            None,
        ),
        Held::Tunnel(t) => (
            "ssh-relay".to_string(),
            format!("{}:{}", t.relay.host, t.remote_port),
            guest_line(&config.pair_user, &t.relay.host, t.remote_port, session),
            0,
            Some(t.relay.to_string()),
        ),
    };
    let pid = std::process::id();
    let mut state = State {
        pid,
        start: crate::roster::process_start(pid).unwrap_or(0),
        session: session.to_string(),
        reach: reach.describe(),
        method: method.clone(),
        gateway: match &held {
            Held::Mapping(m) => m.gateway.to_string(),
            Held::Tunnel(t) => t.relay.to_string(),
        },
        external: external.clone(),
        line,
        lease_s,
        renewed: Timestamp::now().to_string(),
        renewals: 0,
        last_error: None,
    };
    let path = state_path(&dir, session);
    let event = |name: &str, external: &str| {
        Event::new(name)
            .field("by", &login)
            .field("host", &login)
            .field("session", session)
            .field("external", external)
            .field("method", &method)
            .opt("relay", relay.as_deref())
    };
    if let Err(e) = write_state(&path, &state) {
        release(held);
        return Err(failure!("cannot write {}: {e}", path.display()));
    }
    let _ = audit.write(event("port-map", &external).field("lease_s", lease_s.to_string()));
    {
        let json = serde_json::to_string(&state).map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ok {json}");
        let _ = out.flush();
    }

    // Renew at half the lease; check the share every second.
    let mut next_renewal = Instant::now() + renewal_interval(lease_s);
    let mut lease_ends = Instant::now() + Duration::from_secs(lease_s.into());
    let mut last_check = Instant::now();
    let reason = loop {
        std::thread::sleep(Duration::from_millis(250));
        let stopped = stop.load(Ordering::Relaxed);
        if stopped || last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if let Some(why) = end_reason(&config.hosts_dir, &login, session, &config.tmux, stopped)
            {
                break why;
            }
        }
        let mut changed = false;
        match &mut held {
            Held::Mapping(m) if Instant::now() >= next_renewal => {
                match m.renew() {
                    Ok(note) => {
                        state.renewals += 1;
                        state.lease_s = m.lease;
                        state.renewed = Timestamp::now().to_string();
                        if note.is_some() {
                            state.external = m.external.to_string();
                            state.line = guest_line(
                                &config.pair_user,
                                &m.external.ip().to_string(),
                                m.external.port(),
                                session,
                            );
                        }
                        state.last_error = note;
                        lease_ends = Instant::now() + Duration::from_secs(m.lease.into());
                        next_renewal = Instant::now() + renewal_interval(m.lease);
                    }
                    Err(e) => {
                        state.last_error = Some(e);
                        // Try again soon, while the lease still holds.
                        next_renewal = Instant::now() + Duration::from_secs(2);
                        if Instant::now() >= lease_ends {
                            let _ = write_state(&path, &state);
                            break "lease-lost";
                        }
                    }
                }
                changed = true;
            }
            Held::Mapping(_) => {}
            Held::Tunnel(t) => {
                let before = t.reconnects;
                t.tend();
                if t.reconnects != before || t.last_error != state.last_error {
                    state.renewals = t.reconnects.into();
                    if t.reconnects != before {
                        state.renewed = Timestamp::now().to_string();
                    }
                    state.last_error = t.last_error.clone();
                    changed = true;
                }
            }
        }
        if changed {
            let _ = write_state(&path, &state);
        }
    };
    release(held);
    let _ = std::fs::remove_file(&path);
    let _ = audit.write(event("port-unmap", &state.external).field("reason", reason));
    Ok(())
}

/// Renew at half the lease, and never more often than every second.
fn renewal_interval(lease_s: u32) -> Duration {
    Duration::from_millis(u64::from(lease_s) * 500).max(Duration::from_secs(1))
}

fn release(held: Held) {
    match held {
        Held::Mapping(m) => {
            // Once more after a short pause if the gateway missed the
            // first: an undeleted mapping stays open until its lease ends.
            if m.delete().is_err() {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        Held::Tunnel(t) => t.close(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_line_names_the_port_only_when_not_22() {
        assert_eq!(
            guest_line("pair", "198.51.100.7", 40022, "api"),
            "ssh -t -p 40022 pair@198.51.100.7 api"
        );
        assert_eq!(
            guest_line("pair", "relay.example.com", 22, "api"),
            "ssh -t pair@relay.example.com api"
        );
    }

    #[test]
    fn renewal_comes_at_half_the_lease() {
        assert_eq!(renewal_interval(3600), Duration::from_secs(1800));
        assert_eq!(renewal_interval(4), Duration::from_secs(2));
        assert_eq!(renewal_interval(0), Duration::from_secs(1));
    }

    #[test]
    fn holder_arguments_round_trip_through_clap() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            reach: Reach,
        }
        let reach = Reach {
            public: false,
            via: Some(crate::core::reach::parse_relay("m@relay:2222").unwrap()),
            ssh_port: 2200,
            lease: 60,
        };
        let back = T::try_parse_from(std::iter::once("t".to_string()).chain(reach.args()))
            .unwrap()
            .reach;
        assert_eq!(back.describe(), reach.describe());
        assert_eq!(back.lease, 60);
        assert!(T::try_parse_from(["t", "--public", "--via", "m@r"]).is_err());
    }

    #[test]
    fn a_state_file_of_another_owner_or_a_symlink_is_not_believed() {
        let dir = std::env::temp_dir().join(format!("pairshell-nat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let me = nix::unistd::getuid();
        let state = State {
            pid: 1,
            start: 0,
            session: "api".into(),
            reach: "public to port 22".into(),
            method: "PCP".into(),
            gateway: "10.77.0.1".into(),
            external: "198.51.100.7:40022".into(),
            line: "ssh -t -p 40022 pair@198.51.100.7 api".into(),
            lease_s: 120,
            renewed: "2026-12-01T00:00:00Z".into(),
            renewals: 0,
            last_error: None,
        };
        let path = state_path(&dir, "api");
        write_state(&path, &state).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o777,
            0o600,
            "the state file is the host's alone"
        );
        assert!(read_state(&path, me).is_some());
        let other = Uid::from_raw(me.as_raw().wrapping_add(1));
        assert!(read_state(&path, other).is_none());
        let link = state_path(&dir, "web");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_state(&link, me).is_none());
        // pid 1 is not a nat-hold of ours.
        assert!(!alive(&state));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
