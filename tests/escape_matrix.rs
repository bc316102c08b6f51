//! The escape matrix of SECURITY.md: one test per known way around "a guest
//! gets exactly the session and mode a host granted", each named after the
//! attack, through the real sshd (with the shipped `contrib/` drop-in), real
//! tmux servers owned by separate host accounts, and the lab's syslog
//! receiver. Rows already covered in `guest_sshd.rs`, `guest_edges.rs` or
//! `host_sshd.rs` are listed in SECURITY.md rather than repeated here.
//!
//! Also here: the faults of issue 4 (the tmux server killed under guests,
//! syslog stopped mid-session, a host file rewritten during logins).
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

#[macro_use]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{poll, wait_gone, Lab, Run, Tty, OTHER_MARKER, WAIT};

/// A joined guest's grant is re-checked at least every 30 s.
const RECHECK: Duration = Duration::from_secs(30);

/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(1500);

/// A path under /tmp that nothing has created, for "this file never appears".
fn canary(what: &str) -> PathBuf {
    let p = PathBuf::from(format!(
        "/tmp/pairshell-escape-{}-{what}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = fs::remove_file(&p);
    p
}

/// No `join` line was written.
fn no_join(lab: &Lab) {
    let joins: Vec<String> = lab
        .syslog()
        .records()
        .into_iter()
        .filter(|r| r.get("event") == Some("join"))
        .map(|r| r.raw)
        .collect();
    assert!(joins.is_empty(), "unexpected join lines: {joins:?}");
}

/// `ssh pair@127.0.0.1 -- REQUEST` (the `--`, or ssh takes a request that
/// starts with `-` as its own option), run to completion.
fn ssh_request(lab: &Lab, guest: &support::Guest, request: &str) -> Run {
    let mut cmd = lab.ssh_with(guest, &[], None);
    cmd.arg("--").arg(request).stdin(Stdio::null());
    support::run_with_timeout(cmd, Duration::from_secs(30))
}

/// Types `line` and Enter as a guest.
fn type_line(tty: &mut Tty, line: &str) {
    thread::sleep(Duration::from_millis(150));
    tty.send(line.as_bytes());
    thread::sleep(Duration::from_millis(150));
    tty.send(b"\r");
}

/// Processes whose real uid is `uid`: (pid, executable, NoNewPrivs).
fn processes_of(uid: u32) -> Vec<(u32, PathBuf, bool)> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        };
        if field("Uid:").and_then(|u| u.parse::<u32>().ok()) != Some(uid) {
            continue;
        }
        let exe = fs::read_link(e.path().join("exe")).unwrap_or_default();
        found.push((pid, exe, field("NoNewPrivs:").as_deref() == Some("1")));
    }
    found
}

/// The environment of the guest's `pairshell login` process (the pair
/// account's process running the lab's binary that is not a tmux client).
fn login_environment(lab: &Lab) -> Vec<String> {
    let pid = poll(WAIT, || {
        processes_of(lab.pair_uid)
            .into_iter()
            .find(|(_, exe, _)| exe == &lab.bin)
            .map(|(pid, _, _)| pid)
    })
    .expect("the guest's pairshell is running");
    let raw = fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// A local port nothing listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills a child we started and collects what it wrote to stderr.
fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An ssh-agent on a socket in the lab, for agent forwarding.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(lab: &Lab) -> Agent {
        let socket = lab.scratch_file("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        assert!(
            poll(WAIT, || socket.exists().then_some(())).is_some(),
            "ssh-agent never made its socket"
        );
        Agent { child, socket }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Rows 2-5: what a joined guest can type
// ---------------------------------------------------------------------------

#[test]
fn read_only_guest_switching_sessions_with_c_b_paren_or_l_never_sees_another_session() {
    // Row 2. allow_other_sessions = true, so the guest flow accepts the
    // server and only the server's hooks stand between the guest and
    // `other` (without it the guest is ended on joining: host_sshd.rs).
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    lab.allow_other_sessions(&host, "api");
    lab.start_other_session(&api);

    for key in [&b")"[..], b"(", b"L"] {
        let what = format!("C-b {}", String::from_utf8_lossy(key));
        let mut tty = lab.attach(&bob, "api", &api);
        let client = lab.wait_pair_client(&api).expect("bob's client");
        // The first layer: the relay never forwards a read-only guest's
        // keys, so the switch never happens (checked after a sentinel).
        tty.tmux_key(key);
        lab.pane_never_shows(&api, "never-typed");
        for c in lab.pair_clients(&api) {
            assert_eq!(c.session, "api", "after {what}: {c:?}");
        }
        assert!(tty.is_alive(), "{what} ended bob's client:\n{}", tty.text());
        // The second layer, exercised for real: a client that does reach
        // another session (here moved by the host) is detached by the
        // server's hooks, with no C-b d from us.
        lab.host_moves_client(&api, &client, "other");
        wait_gone(&mut tty, WAIT, &what);
        let text = tty.text();
        assert!(
            !text.contains(OTHER_MARKER),
            "after {what} bob's terminal showed the other session:\n{text}"
        );
        assert!(lab.wait_no_pair_client(&api), "{what}");
    }
}

#[test]
fn read_only_guest_cannot_open_the_command_prompt_or_the_session_tree() {
    // Row 3: tmux answers a read-only client's non-read-only bindings with
    // "client is read-only" and runs nothing.
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mut tty = lab.attach(&bob, "api", &api);

    // The relay forwards none of these keys; tmux, which would answer them
    // with "client is read-only", never sees them.
    for key in [&b":"[..], b"s"] {
        tty.tmux_key(key);
    }
    // Nothing opened: what bob types next is a keystroke, and goes nowhere.
    type_line(&mut tty, "echo bob-typed-$((6*7))");
    lab.pane_never_shows(&api, "bob-typed-42");
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "{client:?}");
    assert_eq!(client.session, "api");
}

#[test]
fn read_only_guest_cannot_make_its_client_writable_with_switch_client_r() {
    // Row 4: `switch-client -r` toggles read-only. A read-only guest cannot
    // reach a tmux command line, ssh gives them no other command, and the
    // only pair-account processes of the session are sshd's, pairshell and
    // the confined client.
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mut tty = lab.attach(&bob, "api", &api);

    // From tmux's prompt: the relay never forwards the keys that open it.
    tty.tmux_key(b":");
    type_line(&mut tty, "switch-client -r");
    // From ssh: not a request.
    for request in ["switch-client -r", "-r", "api -r"] {
        let run = ssh_request(&lab, &bob, request);
        assert!(!run.success(), "{request:?}: {run}");
        let r = lab.wait_audit(&[("event", "deny"), ("request", request)]);
        assert_eq!(r.get("reason"), Some("bad-request"), "{}", r.raw);
    }

    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "{client:?}");
    type_line(&mut tty, "echo bob-typed-$((6*7))");
    lab.pane_never_shows(&api, "bob-typed-42");

    // Nothing else runs as the pair account (once the refused logins'
    // processes, which show no executable while they exit, are gone).
    let procs = poll(WAIT, || {
        let procs = processes_of(lab.pair_uid);
        procs
            .iter()
            .all(|(_, exe, _)| !exe.as_os_str().is_empty())
            .then_some(procs)
    })
    .expect("pair-account processes that never finished exiting");
    let tmux = Path::new("/usr/bin/tmux");
    for (pid, exe, no_new_privs) in &procs {
        assert!(
            exe == Path::new("/usr/sbin/sshd") || exe == &lab.bin || exe == tmux,
            "pid {pid} runs {} as the pair account: {procs:?}",
            exe.display()
        );
        if exe == tmux || exe == &lab.bin {
            assert!(
                no_new_privs,
                "pid {pid} ({}) lacks no_new_privs",
                exe.display()
            );
        }
    }
    let clients: Vec<_> = procs.iter().filter(|(_, e, _)| e == tmux).collect();
    assert_eq!(clients.len(), 1, "{procs:?}");
    assert_eq!(clients[0].0 as i32, client.pid, "{procs:?}");
}

#[test]
fn read_write_guest_detach_client_e_touch_never_creates_the_file() {
    // Row 5: `detach-client -E CMD` makes the client exec `sh -c CMD` as the
    // pair account; Landlock lets the client execute tmux only.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let file = canary("detach-e");

    let mut tty = lab.attach(&alice, "api", &api);
    let join = lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    assert!(
        join.get("confinement")
            .is_some_and(|c| c.starts_with("landlock-abi")),
        "{}",
        join.raw
    );
    tty.tmux_command(&format!("detach-client -E 'touch {}'", file.display()));
    assert!(lab.wait_no_pair_client(&api));
    wait_gone(&mut tty, WAIT, "alice after detach-client -E");
    thread::sleep(QUIET);
    assert!(!file.exists(), "the client ran touch as the pair account");
}

// ---------------------------------------------------------------------------
// Rows 6-7: what a guest can ask sshd for
// ---------------------------------------------------------------------------

#[test]
fn shell_commands_and_tmux_arguments_as_requests_are_refused_and_logged_escaped() {
    // Row 6.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let file = canary("request");
    let f = file.display().to_string();
    let requests = [
        "bash".to_string(),
        "sh -c id".to_string(),
        format!("api; touch {f}"),
        format!("api && touch {f}"),
        format!("$(touch {f})"),
        format!("`touch {f}`"),
        "-S /tmp/x".to_string(),
        "../x".to_string(),
        format!("api\ntouch {f}"),
        "api\x1b]0;pwned\x07".to_string(),
    ];
    for request in &requests {
        let run = ssh_request(&lab, &alice, request);
        assert!(!run.success(), "{request:?}: {run}");
        let r = lab.wait_audit(&[("event", "deny"), ("request", request)]);
        assert!(
            matches!(
                r.get("reason"),
                Some("bad-request" | "control-character" | "not-shared")
            ),
            "{request:?}: {}",
            r.raw
        );
        // Logged escaped: the raw line holds no control byte of the request.
        assert!(
            !r.raw.bytes().any(|b| b == b'\n' || b == 0x1b || b == 0x07),
            "{:?}",
            r.raw
        );
    }
    thread::sleep(QUIET);
    assert!(!file.exists(), "a request ran a command");
    assert!(lab.pair_clients(&api).is_empty());
    no_join(&lab);
}

#[test]
fn sftp_and_scp_in_both_protocols_are_refused_by_the_shipped_drop_in() {
    // Row 7, file transfer. sshd runs the forced command instead of the
    // sftp subsystem or `scp -t`; pairshell refuses both as requests.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    let port = lab.port.to_string();
    let config = lab.ssh_config();
    let common = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.arg("-F")
            .arg(&config)
            .arg("-i")
            .arg(&alice.key)
            .arg("-P")
            .arg(&port)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/root")
            .stdin(Stdio::null());
        cmd
    };
    let batch = lab.scratch_file("sftp-batch");
    fs::write(&batch, "ls /\nget /etc/hostname\n").unwrap();
    let local = lab.scratch_file("sftp-local");
    let mut sftp = common("sftp");
    sftp.arg("-b")
        .arg(&batch)
        .arg(format!("{}@127.0.0.1", lab.pair));
    let run = support::run_with_timeout(sftp, Duration::from_secs(30));
    assert!(!run.success(), "sftp: {run}");

    let upload = canary("scp-upload");
    for legacy in [false, true] {
        let mut scp = common("scp");
        scp.args(legacy.then_some("-O"))
            .arg(format!("{}@127.0.0.1:/etc/hostname", lab.pair))
            .arg(&local);
        let run = support::run_with_timeout(scp, Duration::from_secs(30));
        assert!(!run.success(), "scp (legacy {legacy}) download: {run}");
        let mut scp = common("scp");
        scp.args(legacy.then_some("-O")).arg(&batch).arg(format!(
            "{}@127.0.0.1:{}",
            lab.pair,
            upload.display()
        ));
        let run = support::run_with_timeout(scp, Duration::from_secs(30));
        assert!(!run.success(), "scp (legacy {legacy}) upload: {run}");
    }
    assert!(!local.exists(), "a file came down");
    assert!(!upload.exists(), "a file went up");
    no_join(&lab);
}

#[test]
fn port_forwarding_local_remote_and_dynamic_is_refused_by_the_shipped_drop_in() {
    // Row 7, tunnels: -L, -R and -D would reach loopback services as the
    // pair account.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    // Something on loopback a tunnel would reach: the lab's own sshd.
    let target = format!("127.0.0.1:{}", lab.port);

    // -L: the local end accepts, the remote end refuses the channel.
    let lport = free_port();
    let spec = format!("{lport}:{target}");
    let child = lab
        .ssh_with(&alice, &["-N", "-L", &spec], None)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = poll(WAIT, || TcpStream::connect(("127.0.0.1", lport)).ok())
        .expect("ssh -L never listened");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).contains("SSH-"),
        "-L reached the target through the tunnel"
    );
    let stderr = stop(child);
    assert!(stderr.contains("administratively prohibited"), "{stderr}");

    // -R: sshd refuses to listen.
    let spec = format!("0:{target}");
    let run = support::run_with_timeout(
        {
            let mut c = lab.ssh_with(
                &alice,
                &["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec],
                None,
            );
            c.stdin(Stdio::null());
            c
        },
        Duration::from_secs(30),
    );
    assert!(!run.success(), "-R: {run}");
    assert!(
        run.stderr.contains("remote port forwarding failed"),
        "{run}"
    );

    // -D: a SOCKS5 CONNECT through it is refused.
    let dport = free_port();
    let spec = dport.to_string();
    let child = lab
        .ssh_with(&alice, &["-N", "-D", &spec], None)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = poll(WAIT, || TcpStream::connect(("127.0.0.1", dport)).ok())
        .expect("ssh -D never listened");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(&[5, 1, 0]).unwrap();
    let mut hello = [0u8; 2];
    conn.read_exact(&mut hello).unwrap();
    assert_eq!(hello, [5, 0]);
    let [hi, lo] = lab.port.to_be_bytes();
    conn.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, hi, lo]).unwrap();
    let mut reply = [0u8; 10];
    let granted = conn.read_exact(&mut reply).is_ok() && reply[1] == 0;
    assert!(!granted, "-D connected through the tunnel: {reply:?}");
    let stderr = stop(child);
    assert!(stderr.contains("administratively prohibited"), "{stderr}");
    no_join(&lab);
}

#[test]
fn agent_and_x11_forwarding_are_refused_by_the_shipped_drop_in() {
    // Row 7: a forwarded agent would let anyone with the pair account's
    // access use the guest's keys; X11 would open the guest's display.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let agent = Agent::start(&lab);
    let forward = format!("ForwardAgent={}", agent.socket.display());

    let mut cmd = lab.ssh_with(
        &alice,
        &["-t", "-o", &forward, "-o", "ForwardX11=yes"],
        Some("api"),
    );
    cmd.env("DISPLAY", ":97");
    let mut tty = Tty::spawn("ssh -A -X as alice", cmd);
    tty.wait_for(support::prompt("api", &host).trim_end())
        .unwrap();
    let env = login_environment(&lab);
    for var in ["SSH_AUTH_SOCK=", "DISPLAY="] {
        assert!(
            !env.iter().any(|v| v.starts_with(var)),
            "sshd gave the session {var}: {env:?}"
        );
    }
    // No agent socket of the pair account anywhere sshd would put one.
    for e in fs::read_dir("/tmp").unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("ssh-") {
            assert_ne!(
                e.metadata().unwrap().uid(),
                lab.pair_uid,
                "sshd made an agent directory for the pair account: {}",
                e.path().display()
            );
        }
    }
    assert!(lab.wait_pair_client(&api).is_some());
}

// ---------------------------------------------------------------------------
// Rows 9-13: files, sockets, identity
// ---------------------------------------------------------------------------

#[test]
fn shared_socket_replaced_by_a_symlink_to_another_hosts_socket_is_refused() {
    // Row 9: maria's socket path is a link to omar's live server.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let omar = lab.add_host();
    let omars = lab.share(&omar, "api", &[], &[]);
    let dir = lab.sockets_dir().join(&maria);
    fs::create_dir_all(&dir).unwrap();
    let link = dir.join("api.sock");
    std::os::unix::fs::symlink(&omars.socket, &link).unwrap();
    let uid = nix::unistd::User::from_name(&maria).unwrap().unwrap().uid;
    std::os::unix::fs::lchown(&link, Some(uid.as_raw()), None).unwrap();
    let fake = lab.share_socket(&maria, "api", &link, &["alice"], &[], None);

    let mut tty = lab.ssh_tty(&alice, Some(&fake.label()));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    let r = lab.wait_audit(&[("event", "deny"), ("request", &fake.label())]);
    assert_eq!(r.get("reason"), Some("unsafe-socket"), "{}", r.raw);
    assert!(r.field("detail").contains("symbolic link"), "{}", r.raw);
    assert!(lab.pair_clients(&omars).is_empty());
    no_join(&lab);
}

#[test]
fn group_writable_host_file_and_main_config_not_owned_by_root_are_refused() {
    // Row 10 (the other-writable and wrong-owner host file, and the
    // other-writable config, are in guest_edges.rs).
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let omar = lab.add_host();
    let _m = lab.share(&maria, "api", &["alice"], &[]);
    let o = lab.share(&omar, "web", &["alice"], &[]);

    // A group-writable host file: skipped; omar's still serves.
    let file = lab.host_file(&maria);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o664)).unwrap();
    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-write\n", o.label()), "{run}");
    let r = lab.wait_audit(&[("event", "skip-host-file")]);
    assert!(
        r.field("reason").contains("writable by group or other"),
        "{}",
        r.raw
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();

    // A main config owned by a host, or group-writable: nobody gets in.
    let owner = nix::unistd::User::from_name(&maria).unwrap().unwrap().uid;
    for (uid, mode) in [(owner.as_raw(), 0o644), (0, 0o664)] {
        std::os::unix::fs::chown(&lab.config, Some(uid), None).unwrap();
        fs::set_permissions(&lab.config, fs::Permissions::from_mode(mode)).unwrap();
        let run = lab.ssh(&alice, Some("list"));
        assert!(!run.success(), "uid {uid} mode {mode:o}: {run}");
        assert_eq!(run.stdout, "", "{run}");
        let direct = lab.authorized_keys(&lab.pair, &alice.key_type, &alice.key_base64, None);
        assert_eq!(direct.stdout, "", "{direct}");
        let direct = lab.login_as_pair(&alice.public_line, Some("list"));
        assert!(!direct.success(), "{direct}");
        assert_eq!(direct.stdout, "", "{direct}");
    }
    no_join(&lab);
}

#[test]
fn ssh_user_auth_missing_foreign_symlinked_empty_mixed_or_password_only_is_refused() {
    // Row 11: whoever can set SSH_USER_AUTH, or write where it points,
    // must not be able to choose the guest.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice", "bob"], &[]);
    let pair = (lab.pair_uid, lab.pair_gid);
    let file = |name: &str, text: &str, owner: (u32, u32)| -> PathBuf {
        let p = lab.scratch_file(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1)).unwrap();
        p
    };
    let good = file("good", &format!("publickey {}\n", alice.public_line), pair);
    let link = lab.scratch_file("link");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(pair.0), Some(pair.1)).unwrap();
    let cases: Vec<(&str, Option<PathBuf>, &str)> = vec![
        ("missing", None, "no-auth-info"),
        (
            "owned by root",
            Some(file(
                "root",
                &format!("publickey {}\n", alice.public_line),
                (0, 0),
            )),
            "unsafe-auth-info",
        ),
        ("a symlink", Some(link.clone()), "unsafe-auth-info"),
        ("empty", Some(file("empty", "", pair)), "no-public-key"),
        (
            "two guests' keys",
            Some(file(
                "mixed",
                &format!(
                    "publickey {}\npublickey {}\n",
                    alice.public_line, bob.public_line
                ),
                pair,
            )),
            "conflicting-keys",
        ),
        (
            "password only",
            Some(file("password", "password\n", pair)),
            "no-public-key",
        ),
    ];
    for (what, auth, reason) in cases {
        let run = lab.login_with_auth(&lab.pair, auth.as_deref(), Some("list"));
        assert!(!run.success(), "{what}: {run}");
        assert_eq!(run.stdout, "", "{what}: {run}");
        let denied = poll(WAIT, || {
            lab.syslog()
                .records()
                .into_iter()
                .find(|r| r.get("event") == Some("deny") && r.get("reason") == Some(reason))
        });
        assert!(
            denied.is_some(),
            "{what}: no deny with reason {reason}: {:?}",
            lab.syslog().raw()
        );
    }
    // The real file still works: the checks are not simply refusing all.
    let run = lab.login_with_auth(&lab.pair, Some(&good), Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-write\n", api.label()));
    no_join(&lab);
}

#[test]
fn offered_but_unproven_key_gets_no_login_and_no_audit_line() {
    // Row 12: ssh offers alice's public key without holding the private
    // one. sshd asks `authorized-keys` about it (which must have no side
    // effects), then the signature never comes.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let public_only = lab.scratch_file("alice-public-only.pub");
    fs::write(&public_only, format!("{}\n", alice.public_line)).unwrap();

    let mut cmd = Command::new("ssh");
    cmd.arg("-F")
        .arg(lab.ssh_config())
        .arg("-i")
        .arg(&public_only)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-v",
            "-p",
            &lab.port.to_string(),
        ])
        .arg(format!("{}@127.0.0.1", lab.pair))
        .arg("list")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/root")
        .stdin(Stdio::null());
    let run = support::run_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(run.code(), Some(255), "{run}");
    // sshd accepted the key as a candidate (so authorized-keys answered)...
    assert!(run.stderr.contains("Server accepts key"), "{run}");
    assert!(run.stderr.contains("Permission denied"), "{run}");
    // ...and nothing was logged or run.
    thread::sleep(QUIET);
    let records = lab.syslog().raw();
    assert!(records.is_empty(), "{records:?}");
    assert!(lab.pair_clients(&api).is_empty());
}

#[test]
fn guest_whose_key_leaves_the_config_while_connected_is_ended_and_an_expired_grant_refused() {
    // Row 13 (an expired guest: guest_sshd.rs; an expiring grant while
    // connected: host_sshd.rs).
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let socket = lab.start_tmux(&host, "old.sock", "old");
    let old = lab.share_socket(
        &host,
        "old",
        &socket,
        &["bob"],
        &[],
        Some("2020-01-01T00:00:00Z"),
    );

    let mut tty = lab.attach(&alice, "api", &api);
    lab.remove_guest("alice");
    let exited = tty.wait_exit(RECHECK + Duration::from_secs(10));
    assert!(exited.is_some(), "alice still connected:\n{}", tty.text());
    let r = lab.wait_audit(&[("event", "leave"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);
    assert!(lab.wait_no_pair_client(&api));

    let mut tty = lab.ssh_tty(&bob, Some("old"));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    let r = lab.wait_audit(&[("event", "deny"), ("guest", "bob")]);
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    assert!(lab.pair_clients(&old).is_empty());
}

// ---------------------------------------------------------------------------
// Row 14: environment
// ---------------------------------------------------------------------------

#[test]
fn guest_environment_never_reaches_the_hosts_session() {
    // Row 14. The lab's sshd accepts these variables from the client (a
    // permissive admin); tmux copies SSH_AUTH_SOCK, DISPLAY, SSH_CONNECTION
    // and the like from an attaching client into the session, so pairshell
    // must start the client with none of them.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let agent = Agent::start(&lab);
    let forward = format!("ForwardAgent={}", agent.socket.display());
    let setenv = "SetEnv=LD_PRELOAD=/nonexistent/leak.so TMUX=/tmp/leak,1,1 \
                  DISPLAY=:98 PAIRSHELL_LEAK=leak42";

    let mut cmd = lab.ssh_with(&alice, &["-t", "-o", &forward, "-o", setenv], Some("api"));
    cmd.env("DISPLAY", ":98");
    let mut tty = Tty::spawn("ssh with a loaded environment as alice", cmd);
    tty.wait_for(support::prompt("api", &host).trim_end())
        .unwrap();
    assert!(lab.wait_pair_client(&api).is_some());
    // sshd did pass them to pairshell: the test is not vacuous.
    let env = login_environment(&lab);
    assert!(env.iter().any(|v| v == "PAIRSHELL_LEAK=leak42"), "{env:?}");

    let leaked = |text: &str| {
        [
            "leak",
            ":98",
            "SSH_CONNECTION=",
            "SSH_CLIENT=",
            "SSH_AUTH_SOCK=",
            "SSH_TTY=",
        ]
        .into_iter()
        .filter(|needle| text.contains(needle))
        .collect::<Vec<_>>()
    };
    for args in [
        &["show-environment", "-g"][..],
        &["show-environment", "-t", "=api"][..],
    ] {
        let out = lab.tmux_as(&host, &api.socket, args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(leaked(&text).is_empty(), "{args:?}:\n{text}");
    }
    // A pane the host opens now.
    let out = lab.tmux_as(
        &host,
        &api.socket,
        &[
            "new-window",
            "-d",
            "-n",
            "envcheck",
            "-t",
            "=api:",
            "env; sleep 60",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let pane = poll(WAIT, || {
        let out = lab.tmux_as(
            &host,
            &api.socket,
            &["capture-pane", "-p", "-J", "-t", "=api:envcheck"],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("PATH=").then_some(text)
    })
    .expect("the new window never printed its environment");
    assert!(leaked(&pane).is_empty(), "{pane}");
    assert!(!pane.contains("TMUX=/tmp"), "{pane}");
}

// ---------------------------------------------------------------------------
// Landlock switch
// ---------------------------------------------------------------------------

#[test]
fn allow_unconfined_read_write_does_not_switch_confinement_off_where_landlock_exists() {
    // The switch is for kernels without Landlock only (the refusal without
    // it is a unit test in policy.rs: no kernel here lacks Landlock).
    let mut lab = lab!();
    lab.add_config_lines("allow_unconfined_read_write = true");
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let check = lab.check();
    assert!(check.success(), "{check}");
    assert!(
        check.stdout.contains("every tmux client runs confined"),
        "{check}"
    );

    let file = canary("allow-unconfined");
    let mut tty = lab.attach(&alice, "api", &api);
    let join = lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    assert!(
        join.get("confinement")
            .is_some_and(|c| c.starts_with("landlock-abi")),
        "{}",
        join.raw
    );
    tty.tmux_command(&format!("detach-client -E 'touch {}'", file.display()));
    wait_gone(&mut tty, WAIT, "alice after detach-client -E");
    thread::sleep(QUIET);
    assert!(!file.exists(), "the client ran touch as the pair account");
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

#[test]
fn tmux_server_killed_under_attached_guests_ends_each_with_server_gone() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &["bob"]);
    let mut a = lab.attach(&alice, "api", &api);
    let mut b = lab.attach(&bob, "api", &api);
    assert!(poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some());

    let out = lab.tmux_as(&host, &api.socket, &["display-message", "-p", "#{pid}"]);
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();

    for (tty, guest) in [(&mut a, "alice"), (&mut b, "bob")] {
        wait_gone(tty, WAIT, guest);
        let text = tty.text();
        assert!(text.contains("the session ended"), "{guest}:\n{text}");
        let r = lab.wait_audit(&[("event", "leave"), ("guest", guest)]);
        assert_eq!(r.get("reason"), Some("server-gone"), "{}", r.raw);
    }
}

#[test]
fn syslog_stopped_mid_session_keeps_the_guest_working_and_a_later_line_reports_the_gap() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let mut tty = lab.attach(&alice, "api", &api);
    lab.wait_audit(&[("event", "join"), ("guest", "alice")]);

    lab.stop_syslog();
    type_line(&mut tty, "echo still-typing-$((6*7))");
    assert!(
        lab.wait_pane_line(&api, "still-typing-42"),
        "{}",
        lab.capture_pane(&api)
    );
    tty.tmux_key(b"d");
    wait_gone(&mut tty, WAIT, "alice after C-b d");
    let text = tty.text();
    assert!(text.contains("pairshell: audit: event=leave"), "{text}");
    assert!(lab
        .syslog()
        .records()
        .iter()
        .all(|r| r.get("event") != Some("leave")));

    // Syslog comes back; the next login's first line brings the gap.
    lab.restart_syslog();
    let run = lab.ssh(&alice, Some("nosuchsession"));
    assert!(!run.success(), "{run}");
    let gap = lab.wait_audit(&[("event", "audit-gap")]);
    assert_eq!(gap.get("lost"), Some("1"), "{}", gap.raw);
    let leave = lab.wait_audit(&[("event", "leave"), ("guest", "alice")]);
    assert_eq!(leave.get("reason"), Some("detached"), "{}", leave.raw);
    assert!(leave.get("lost_at").is_some(), "{}", leave.raw);
    lab.wait_audit(&[("event", "deny"), ("request", "nosuchsession")]);
}

#[test]
fn host_file_rewritten_while_guests_log_in_is_read_whole_every_time() {
    // `grant` rewrites the host file in place (the host cannot rename into
    // the root-owned hosts_dir) under a lock logins honour; every login in
    // the loop must see the old file or the new one.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let label = api.label();
    let done = std::sync::atomic::AtomicBool::new(false);

    let lab = &lab;
    let (lists, rewrites) = thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let mode = if n % 2 == 0 { "--ro" } else { "--rw" };
                let run = lab.pairshell_as(&host, &["grant", "api", "alice", mode]);
                assert!(run.success(), "grant {mode}: {run}");
                n += 1;
            }
            n
        });
        let mut lists: Vec<Run> = Vec::new();
        for _ in 0..25 {
            lists.push(lab.ssh(&alice, Some("list")));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (lists, writer.join().unwrap())
    });
    assert!(
        rewrites >= 5,
        "only {rewrites} rewrites happened during the logins"
    );
    for run in &lists {
        assert!(run.success(), "{run}");
        assert!(
            run.stdout == format!("{label}\tread-write\n")
                || run.stdout == format!("{label}\tread-only\n"),
            "{run}"
        );
    }
    let skipped: Vec<String> = lab
        .syslog()
        .records()
        .into_iter()
        .filter(|r| r.get("event") == Some("skip-host-file"))
        .map(|r| r.raw)
        .collect();
    assert!(skipped.is_empty(), "{skipped:?}");
    // And a real join afterwards sees the file the last rewrite left.
    let _tty = lab.attach(&alice, "api", &api);
}
