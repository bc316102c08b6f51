//! The escape matrix of SECURITY.md: one test per known way around "a guest
//! gets exactly the session and mode a host granted", each named after the
//! attack, through the real sshd (with the shipped `contrib/` drop-in), real
//! tmux servers owned by separate host accounts, and the lab's syslog
//! receiver. Rows already covered in `guest_sshd.rs`, `guest_edges.rs` or
//! `host_sshd.rs` are listed in SECURITY.md rather than repeated here.
//!
//! Each attack test's doc comment names the refusal it pins and its positive
//! controls: what shows the attack path was really taken (the key got in,
//! the request reached sshd or pairshell, the key press acted, the same step
//! unconfined succeeds). No fixed sleep decides a negative, and a test that
//! looks for an audit line looks only at those written after its own step
//! ([`Lab::audit_mark`], [`Lab::audit_settle`]).
//!
//! Also here: the faults of issue 4 (the tmux server killed under guests,
//! syslog stopped mid-session, a host file rewritten during logins).
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::attack::Layers;
use support::{poll, wait_gone, Lab, Run, Tty, OTHER_MARKER, WAIT};

/// A joined guest's grant is re-checked at least every 30 s.
const RECHECK: Duration = Duration::from_secs(30);

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

/// Pins row 2: a read-only guest's `C-b )`, `C-b (` and `C-b L` never take
/// its client to another session on the shared server (the relay forwards
/// none of a read-only guest's keys), and a pair client that does reach
/// another session is detached by the server's hooks before it is drawn
/// there. `allow_other_sessions = true`, so the guest flow accepts the
/// server and only those two layers stand between the guest and `other`
/// (without it the guest is ended on joining: host_sshd.rs).
///
/// Positive controls: a read-write guest's `C-b )` and `C-b (` on the same
/// server do reach tmux, which moves the client, and the hooks detach it
/// (gone with no `C-b d` from us); after each of bob's keys and the host's
/// sentinel, bob's own `C-b d` ends his client with `leave reason=detached`,
/// so his keys were reaching pairshell; and the host moving bob's client to
/// `other` is undone by the hooks with no `C-b d`. (`C-b L` has no control
/// of its own: a client can never have been on another session long enough
/// to have a last one.)
#[test]
fn read_only_guest_switching_sessions_with_c_b_paren_or_l_never_sees_another_session() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    lab.allow_other_sessions(&host, "api");
    lab.start_other_session(&api);

    // The control: the same keys from a read-write guest do switch, and the
    // hooks then detach the client.
    for key in [&b")"[..], b"("] {
        let what = format!("alice's C-b {}", String::from_utf8_lossy(key));
        let mark = lab.audit_mark();
        let mut tty = lab.attach(&alice, "api", &api);
        tty.tmux_key(key);
        wait_gone(&mut tty, WAIT, &what);
        assert!(lab.wait_no_pair_client(&api), "{what}");
        let text = tty.text();
        assert!(
            !text.contains(OTHER_MARKER),
            "{what} showed the other session:\n{text}"
        );
        lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "alice")], WAIT);
    }

    for key in [&b")"[..], b"(", b"L"] {
        let what = format!("bob's C-b {}", String::from_utf8_lossy(key));
        // The first layer: the relay never forwards a read-only guest's
        // keys, so the switch never happens.
        let mark = lab.audit_mark();
        let mut tty = lab.attach(&bob, "api", &api);
        tty.tmux_key(key);
        lab.host_sentinel_seen(&api, &mut tty, "after-switch");
        let clients = lab.pair_clients(&api);
        assert_eq!(clients.len(), 1, "after {what}: {clients:?}");
        assert_eq!(clients[0].session, "api", "after {what}: {clients:?}");
        assert!(tty.is_alive(), "{what} ended bob's client:\n{}", tty.text());
        tty.tmux_key(b"d");
        wait_gone(&mut tty, WAIT, &format!("bob's C-b d after {what}"));
        let leave = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "bob")], WAIT);
        assert_eq!(leave.get("reason"), Some("detached"), "{}", leave.raw);
        assert!(
            !tty.text().contains(OTHER_MARKER),
            "{what}:\n{}",
            tty.text()
        );

        // The second layer, exercised for real: a client that does reach
        // another session (here moved by the host) is detached by the
        // server's hooks, with no C-b d from us.
        let mut tty = lab.attach(&bob, "api", &api);
        let client = lab.wait_pair_client(&api).expect("bob's client");
        lab.host_moves_client(&api, &client, "other");
        wait_gone(
            &mut tty,
            WAIT,
            &format!("bob moved to other ({what} round)"),
        );
        let text = tty.text();
        assert!(
            !text.contains(OTHER_MARKER),
            "bob's terminal showed the other session:\n{text}"
        );
        assert!(lab.wait_no_pair_client(&api), "{what}");
    }
}

/// Pins row 3: a read-only guest's `C-b :` and `C-b s` open nothing (the
/// relay forwards none of a read-only guest's keys; tmux, which would answer
/// them with "client is read-only", is the layer behind it), so what the
/// guest types next goes nowhere.
///
/// Positive controls: a read-write guest's `C-b :` does open tmux's prompt
/// (a `display-message` typed there shows on their terminal); the host's
/// sentinel made the round trip to bob's terminal before the pane is read;
/// bob's `C-b d` afterwards ends his client with `leave reason=detached`, so
/// his keys were reaching pairshell.
#[test]
fn read_only_guest_cannot_open_the_command_prompt_or_the_session_tree() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);

    let mut a = lab.attach(&alice, "api", &api);
    a.tmux_command("display-message alice-prompt-#S");
    a.wait_for("alice-prompt-api").unwrap();
    a.tmux_key(b"d");
    wait_gone(&mut a, WAIT, "alice after C-b d");

    let mark = lab.audit_mark();
    let mut tty = lab.attach(&bob, "api", &api);
    for key in [&b":"[..], b"s"] {
        tty.tmux_key(key);
    }
    // Nothing opened: what bob types next is a keystroke, and goes nowhere.
    type_line(&mut tty, "echo bob-typed-$((6*7))");
    lab.host_sentinel_seen(&api, &mut tty, "after-prompt");
    let pane = lab.capture_pane(&api);
    assert!(
        !pane.contains("bob-typed"),
        "bob's keys reached the pane:\n{pane}"
    );
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "{client:?}");
    assert_eq!(client.session, "api");
    tty.tmux_key(b"d");
    wait_gone(&mut tty, WAIT, "bob after C-b d");
    let leave = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "bob")], WAIT);
    assert_eq!(leave.get("reason"), Some("detached"), "{}", leave.raw);
}

/// Pins row 4: a read-only guest cannot make its client writable with
/// `switch-client -r`: the relay never forwards the keys that would open
/// tmux's prompt, sshd gives the guest no other command (each such request
/// is `deny reason=bad-request`), and the only pair-account processes of
/// the session are sshd's, pairshell and the one confined client. (tmux's
/// own `server-access -w` resetting the flag, and the own-flag check that
/// records it, are
/// `relay::read_only_guest_types_nothing_after_the_hosts_own_server_access_w`.)
///
/// Positive controls: each request reached pairshell (its own deny line,
/// with the exact request, after a mark); the host's sentinel made the
/// round trip to bob's terminal before the pane is read; bob's `C-b d`
/// afterwards ends his client with `leave reason=detached`.
#[test]
fn read_only_guest_cannot_make_its_client_writable_with_switch_client_r() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mark = lab.audit_mark();
    let mut tty = lab.attach(&bob, "api", &api);

    // From tmux's prompt: the relay never forwards the keys that open it.
    tty.tmux_key(b":");
    type_line(&mut tty, "switch-client -r");
    // From ssh: not a request.
    for request in ["switch-client -r", "-r", "api -r"] {
        let step = lab.audit_mark();
        let run = ssh_request(&lab, &bob, request);
        assert!(!run.success(), "{request:?}: {run}");
        let r = lab.wait_audit_after(step, &[("event", "deny"), ("request", request)], WAIT);
        assert_eq!(r.get("reason"), Some("bad-request"), "{}", r.raw);
    }

    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "{client:?}");
    type_line(&mut tty, "echo bob-typed-$((6*7))");
    lab.host_sentinel_seen(&api, &mut tty, "after-switch-r");
    let pane = lab.capture_pane(&api);
    assert!(
        !pane.contains("bob-typed"),
        "bob's keys reached the pane:\n{pane}"
    );
    assert!(lab.pair_clients(&api).iter().all(|c| c.readonly));

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
    tty.tmux_key(b"d");
    wait_gone(&mut tty, WAIT, "bob after C-b d");
    let leave = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "bob")], WAIT);
    assert_eq!(leave.get("reason"), Some("detached"), "{}", leave.raw);
}

/// Pins row 5: a read-write guest's `detach-client -E CMD`, which makes the
/// tmux client exec `sh -c CMD` as the pair account, runs nothing: Landlock
/// lets the client execute tmux only.
///
/// Positive controls: the same `detach-client -E` aimed (by the host) at an
/// unconfined tmux client of the pair account on the same server does
/// create the file; alice's join line says `confinement=landlock-abi…`; and
/// the file is looked for only after alice's `leave` line, which pairshell
/// writes once her client process has ended (so the exec was tried by then).
#[test]
fn read_write_guest_detach_client_e_touch_never_creates_the_file() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    detach_client_e_runs_only_unconfined(&lab, &alice, &api, "landlock-abi");
}

/// The body of rows 5's tests: the control (an unconfined client of the
/// pair account does run `detach-client -E`'s command), then alice's own
/// `detach-client -E 'touch FILE'` through sshd, whose join line must say a
/// confinement starting with `confinement`, and which creates nothing.
fn detach_client_e_runs_only_unconfined(
    lab: &Lab,
    alice: &support::Guest,
    api: &support::Shared,
    confinement: &str,
) {
    let control = canary("detach-e-control");
    let mut unconfined = lab.unconfined_pair_tmux_tty(&api.socket, &["attach", "-t", "=api"]);
    let client = lab.wait_pair_client(api).expect("the unconfined client");
    let command = format!("touch {}", control.display());
    lab.host_tmux(api, &["detach-client", "-t", &client.name, "-E", &command]);
    assert!(
        poll(WAIT, || control.exists().then_some(())).is_some(),
        "the control: an unconfined client did not run detach-client -E's command:\n{}",
        unconfined.text()
    );
    let _ = unconfined.wait_exit(WAIT);
    assert!(lab.wait_no_pair_client(api));

    let file = canary("detach-e");
    let mark = lab.audit_mark();
    let mut tty = lab.attach(alice, "api", api);
    let join = lab.wait_audit_after(mark, &[("event", "join"), ("guest", "alice")], WAIT);
    assert!(
        join.get("confinement")
            .is_some_and(|c| c.starts_with(confinement)),
        "{}",
        join.raw
    );
    tty.tmux_command(&format!("detach-client -E 'touch {}'", file.display()));
    wait_gone(&mut tty, WAIT, "alice after detach-client -E");
    lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "alice")], WAIT);
    assert!(lab.wait_no_pair_client(api));
    assert!(!file.exists(), "the client ran touch as the pair account");
    let _ = fs::remove_file(&control);
}

// ---------------------------------------------------------------------------
// Rows 6-7: what a guest can ask sshd for
// ---------------------------------------------------------------------------

/// Pins row 6: a request is data, never code. Shell commands, shell
/// metacharacters and tmux arguments are each refused by the request
/// grammar with pairshell's own `deny` and its exact reason, logged
/// escaped, and nothing runs.
///
/// Positive controls: each request reached pairshell (its deny line, with
/// the exact request, after a mark); the requests that would create a file
/// do create one when handed to `sh -c` as the pair account.
#[test]
fn shell_commands_and_tmux_arguments_as_requests_are_refused_and_logged_escaped() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    let file = canary("request");
    let f = file.display().to_string();
    let requests = [
        ("bash".to_string(), "not-shared"),
        ("sh -c id".to_string(), "bad-request"),
        (format!("api; touch {f}"), "bad-request"),
        (format!("api && touch {f}"), "bad-request"),
        (format!("$(touch {f})"), "bad-request"),
        (format!("`touch {f}`"), "bad-request"),
        ("-S /tmp/x".to_string(), "bad-request"),
        ("../x".to_string(), "bad-request"),
        (format!("api\ntouch {f}"), "control-character"),
        ("api\x1b]0;pwned\x07".to_string(), "control-character"),
    ];
    for (request, reason) in &requests {
        if request.contains(&f) {
            // The control: a shell would have run it.
            let control = canary("request-control");
            let text = request
                .replace(&f, &control.display().to_string())
                .replace("api &&", "true &&");
            let mut sh = lab.command_as(&lab.pair, Path::new("/bin/sh"));
            sh.arg("-c").arg(&text).stdin(Stdio::null());
            let _ = support::run_with_timeout(sh, Duration::from_secs(10));
            assert!(control.exists(), "sh -c {text:?} created nothing");
            fs::remove_file(&control).unwrap();
        }
        let mark = lab.audit_mark();
        let run = ssh_request(&lab, &alice, request);
        assert!(!run.success(), "{request:?}: {run}");
        let r = lab.wait_audit_after(mark, &[("event", "deny"), ("request", request)], WAIT);
        assert_eq!(r.get("reason"), Some(*reason), "{request:?}: {}", r.raw);
        assert_eq!(r.get("guest"), Some("alice"), "{}", r.raw);
        // Logged escaped: the raw line holds no control byte of the request.
        assert!(
            !r.raw.bytes().any(|b| b == b'\n' || b == 0x1b || b == 0x07),
            "{:?}",
            r.raw
        );
        // pairshell has decided and ssh has exited: anything the request
        // had started would have run by now.
        assert!(!file.exists(), "{request:?} ran a command");
    }
    no_join(&lab);
}

/// The sshd log line that says sshd started the forced command for a
/// session: `Starting session: forced-command (config)` with the shipped
/// drop-in, `(key-option)` when only the key's `command=` forces it.
fn forced_command(layers: Layers) -> &'static str {
    match layers {
        Layers::RestrictOnly => "Starting session: forced-command (key-option)",
        _ => "Starting session: forced-command (config)",
    }
}

/// Pins row 7, file transfer: `sftp`, `scp` (SFTP) and `scp -O` (legacy),
/// each downloading and uploading, move no file. sshd runs the forced
/// command instead of the sftp subsystem or `scp -f`/`scp -t`, and
/// pairshell refuses what it is handed as a request (`deny
/// reason=bad-request`, with the exact request). Run three times: with the
/// shipped drop-in and `restrict` on the key line, with the drop-in alone
/// (no `restrict`), and with `restrict` alone (no `ForceCommand`, no
/// `DisableForwarding`), so each layer holds on its own. The lab's sshd has
/// a real `Subsystem sftp` line, as Debian's does.
///
/// Positive controls, per layer: sshd logged the guest's key as accepted
/// (`Accepted publickey … FINGERPRINT`) and the forced command started for
/// the session, and pairshell's deny line names the request sshd handed it:
/// the `Subsystem sftp` program for sftp and scp, `scp -f PATH` / `scp -t
/// PATH` for legacy scp.
#[test]
fn sftp_and_scp_in_both_protocols_are_refused_by_the_shipped_drop_in() {
    let mut lab = lab!();
    let guests = [
        lab.add_guest("alice", None),
        lab.add_guest("bob", None),
        lab.add_guest("carol", None),
    ];
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice", "bob", "carol"], &[]);
    let batch = lab.scratch_file("batch");
    fs::write(&batch, "get /etc/hostname\n").unwrap();
    let sftp_server = "/usr/lib/openssh/sftp-server";

    for (layers, guest) in Layers::ALL.into_iter().zip(&guests) {
        let what = lab.set_layers(layers);
        let port = lab.port.to_string();
        let config = lab.ssh_config();
        let common = |program: &str| {
            let mut c = Command::new(program);
            c.arg("-F")
                .arg(&config)
                .arg("-i")
                .arg(&guest.key)
                .arg("-P")
                .arg(&port)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", "/root")
                .stdin(Stdio::null());
            c
        };
        let local = canary("sftp-local");
        let upload = canary("scp-upload");
        // (what, command, the request sshd hands the forced command,
        // what sshd logs for the request)
        let mut cases: Vec<(String, Command, String, String)> = Vec::new();
        let mut sftp = common("sftp");
        sftp.arg("-b")
            .arg(&batch)
            .arg(format!("{}@127.0.0.1", lab.pair));
        cases.push((
            "sftp".into(),
            sftp,
            sftp_server.into(),
            forced_command(layers).into(),
        ));
        for legacy in [false, true] {
            let mut down = common("scp");
            down.args(legacy.then_some("-O"))
                .arg(format!("{}@127.0.0.1:/etc/hostname", lab.pair))
                .arg(&local);
            let mut up = common("scp");
            up.args(legacy.then_some("-O")).arg(&batch).arg(format!(
                "{}@127.0.0.1:{}",
                lab.pair,
                upload.display()
            ));
            let (down_request, up_request, logged) = if legacy {
                (
                    "scp -f /etc/hostname".to_string(),
                    format!("scp -t {}", upload.display()),
                    forced_command(layers).to_string(),
                )
            } else {
                (
                    sftp_server.into(),
                    sftp_server.into(),
                    forced_command(layers).into(),
                )
            };
            let name = if legacy { "scp -O" } else { "scp" };
            cases.push((
                format!("{name} download"),
                down,
                down_request,
                logged.clone(),
            ));
            cases.push((format!("{name} upload"), up, up_request, logged));
        }
        for (name, cmd, request, logged) in cases {
            let name = format!("{name} ({what})");
            let log = lab.sshd_log_mark();
            let mark = lab.audit_mark();
            let run = support::run_with_timeout(cmd, Duration::from_secs(30));
            assert!(!run.success(), "{name}: {run}");
            lab.wait_accepted_after(log, &guest.fingerprint);
            lab.wait_sshd_log_after(log, &[&logged]);
            let r = lab.wait_audit_after(mark, &[("event", "deny"), ("request", &request)], WAIT);
            assert_eq!(r.get("reason"), Some("bad-request"), "{name}: {}", r.raw);
            assert_eq!(r.get("guest"), Some(guest.name.as_str()), "{}", r.raw);
            assert!(!local.exists(), "{name}: a file came down");
            assert!(!upload.exists(), "{name}: a file went up");
        }
    }
    no_join(&lab);
}

/// Pins row 7, tunnels: `ssh -L`, `-R` and `-D` reach nothing through the
/// pair account. Run with the shipped drop-in and `restrict`, with the
/// drop-in alone, and with `restrict` alone, so each layer holds on its own.
///
/// Positive controls: with neither layer (no `restrict`, none of the
/// drop-in's refusals) `-L` does reach the target through the tunnel. Per
/// layer: sshd logged the guest's key as accepted; the tunnel's target (the
/// lab's own sshd on loopback) answers a direct connection with its banner;
/// and each request reached sshd and was
/// answered with a refusal ssh reports (`administratively prohibited` for a
/// channel, `remote port forwarding failed` for a listener).
#[test]
fn port_forwarding_local_remote_and_dynamic_is_refused_by_the_shipped_drop_in() {
    let mut lab = lab!();
    let guests = [
        lab.add_guest("alice", None),
        lab.add_guest("bob", None),
        lab.add_guest("carol", None),
    ];
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice", "bob", "carol"], &[]);

    // The control: with neither layer, -L does reach the target.
    lab.set_layers(Layers::Neither);
    let target = format!("127.0.0.1:{}", lab.port);
    let lport = free_port();
    let spec = format!("{lport}:{target}");
    let child = lab
        .ssh_with(&guests[0], &["-N", "-L", &spec], None)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = poll(WAIT, || TcpStream::connect(("127.0.0.1", lport)).ok())
        .expect("ssh -L never listened");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut banner = [0u8; 4];
    let through = conn.read_exact(&mut banner).is_ok() && &banner == b"SSH-";
    let stderr = stop(child);
    assert!(
        through,
        "the control: -L with neither layer reached nothing: {stderr}"
    );

    for (layers, guest) in Layers::ALL.into_iter().zip(&guests) {
        let what = lab.set_layers(layers);
        let log = lab.sshd_log_mark();
        // Something on loopback a tunnel would reach: the lab's own sshd.
        let target = format!("127.0.0.1:{}", lab.port);
        let mut direct = TcpStream::connect(&target).unwrap();
        direct
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut banner = [0u8; 4];
        direct.read_exact(&mut banner).unwrap();
        assert_eq!(&banner, b"SSH-", "the control: the target answers directly");
        drop(direct);

        // -L: the local end accepts, the remote end refuses the channel.
        let lport = free_port();
        let spec = format!("{lport}:{target}");
        let child = lab
            .ssh_with(guest, &["-N", "-L", &spec], None)
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
            "-L ({what}) reached the target through the tunnel"
        );
        let stderr = stop(child);
        assert!(
            stderr.contains("administratively prohibited"),
            "-L ({what}): {stderr}"
        );
        lab.wait_accepted_after(log, &guest.fingerprint);

        // -R: sshd refuses to listen.
        let spec = format!("0:{target}");
        let run = support::run_with_timeout(
            {
                let mut c = lab.ssh_with(
                    guest,
                    &["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec],
                    None,
                );
                c.stdin(Stdio::null());
                c
            },
            Duration::from_secs(30),
        );
        assert!(!run.success(), "-R ({what}): {run}");
        assert!(
            run.stderr.contains("remote port forwarding failed"),
            "-R ({what}): {run}"
        );

        // -D: a SOCKS5 CONNECT through it is refused.
        let dport = free_port();
        let spec = dport.to_string();
        let child = lab
            .ssh_with(guest, &["-N", "-D", &spec], None)
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
        assert!(
            !granted,
            "-D ({what}) connected through the tunnel: {reply:?}"
        );
        let stderr = stop(child);
        assert!(
            stderr.contains("administratively prohibited"),
            "-D ({what}): {stderr}"
        );
    }
    no_join(&lab);
}

/// Pins row 7, agent and X11 forwarding: a forwarded agent would let anyone
/// with the pair account's access use the guest's keys; X11 would open the
/// guest's display. sshd gives the session neither `SSH_AUTH_SOCK` nor
/// `DISPLAY`, and makes no agent socket for the pair account. Run with the
/// shipped drop-in and `restrict`, with the drop-in alone, and with
/// `restrict` alone (where the Match block allows agent and X11
/// forwarding), so each layer holds on its own.
///
/// Positive controls, per layer: ssh really asked (`-v` shows "Requesting
/// authentication agent forwarding" and "Requesting X11 forwarding"), the
/// server answered the X11 request with a refusal ("X11 forwarding request
/// failed"), sshd logged the key as accepted, and the guest joined (the
/// environment read is that login's).
#[test]
fn agent_and_x11_forwarding_are_refused_by_the_shipped_drop_in() {
    let mut lab = lab!();
    let guests = [
        lab.add_guest("alice", None),
        lab.add_guest("bob", None),
        lab.add_guest("carol", None),
    ];
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice", "bob", "carol"], &[]);
    let agent = Agent::start(&lab);
    // The lab's ssh_config says `IdentityAgent none`, with which ssh never
    // asks to forward an agent, whatever ForwardAgent says.
    let forward = format!("ForwardAgent={}", agent.socket.display());
    let identity_agent = format!("IdentityAgent={}", agent.socket.display());

    for (layers, guest) in Layers::ALL.into_iter().zip(&guests) {
        let what = lab.set_layers(layers);
        let log = lab.sshd_log_mark();
        let mut cmd = lab.ssh_with(
            guest,
            &[
                "-v",
                "-t",
                "-o",
                &forward,
                "-o",
                &identity_agent,
                "-o",
                "ForwardX11=yes",
            ],
            Some("api"),
        );
        cmd.env("DISPLAY", ":97");
        let mut tty = Tty::spawn(&format!("ssh -A -X as {} ({what})", guest.name), cmd);
        tty.wait_for(support::prompt("api", &host).trim_end())
            .unwrap();
        let text = tty.text();
        for asked in [
            "Requesting authentication agent forwarding",
            "Requesting X11 forwarding",
            "X11 forwarding request failed",
        ] {
            assert!(
                text.contains(asked),
                "{what}: no {asked:?} from ssh -v:\n{text}"
            );
        }
        lab.wait_accepted_after(log, &guest.fingerprint);
        let env = login_environment(&lab);
        for var in ["SSH_AUTH_SOCK=", "DISPLAY="] {
            assert!(
                !env.iter().any(|v| v.starts_with(var)),
                "{what}: sshd gave the session {var}: {env:?}"
            );
        }
        // No agent socket of the pair account anywhere sshd would put one.
        for e in fs::read_dir("/tmp").unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh-") {
                assert_ne!(
                    e.metadata().unwrap().uid(),
                    lab.pair_uid,
                    "{what}: sshd made an agent directory for the pair account: {}",
                    e.path().display()
                );
            }
        }
        assert!(lab.wait_pair_client(&api).is_some());
        tty.tmux_key(b"d");
        wait_gone(&mut tty, WAIT, &format!("{} after C-b d", guest.name));
        assert!(lab.wait_no_pair_client(&api));
    }
}

// ---------------------------------------------------------------------------
// Rows 9-13: files, sockets, identity
// ---------------------------------------------------------------------------

/// Pins row 9: the socket check (`trust::open_socket`: not a symlink, a
/// socket, owned by the host whose file shares it, opened `O_NOFOLLOW` and
/// checked again as opened): a socket path that is a symlink to another
/// host's socket is refused (`unsafe-socket`).
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

/// Pins row 10: the ownership and mode checks (`trust::check_file_meta`) on a
/// host file (group-writable: that host is skipped) and on the main config
/// (not root's: every login refused).
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

/// Pins row 11: whoever can set `SSH_USER_AUTH`, or write where it points,
/// cannot choose the guest. Each case is refused with pairshell's own deny
/// line and its exact reason, looked for only among the lines written after
/// that case began: missing (`no-auth-info`); a file the pair account can
/// read but does not own, another throwaway user's, mode 0644
/// (`unsafe-auth-info`: ownership is what refuses it); a symlink to a good
/// file (`unsafe-auth-info`); empty and password-only (`no-public-key`);
/// two guests' keys (`conflicting-keys`).
///
/// Positive controls: the foreign file is readable by the pair account
/// (`cat` as the pair account prints it) and holds alice's real key line;
/// the symlink's target is the good file; and the good file itself lets
/// alice in (`list` prints her session).
#[test]
fn ssh_user_auth_missing_foreign_symlinked_empty_mixed_or_password_only_is_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice", "bob"], &[]);
    let stranger = lab.add_host_account();
    let stranger_ids = {
        let u = nix::unistd::User::from_name(&stranger).unwrap().unwrap();
        (u.uid.as_raw(), u.gid.as_raw())
    };
    let pair = (lab.pair_uid, lab.pair_gid);
    let file = |name: &str, text: &str, owner: (u32, u32), mode: u32| -> PathBuf {
        let p = lab.scratch_file(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1)).unwrap();
        p
    };
    let alices_line = format!("publickey {}\n", alice.public_line);
    let good = file("good", &alices_line, pair, 0o600);
    let link = lab.scratch_file("link");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(pair.0), Some(pair.1)).unwrap();
    let foreign = file("foreign", &alices_line, stranger_ids, 0o644);
    // The control: the pair account can read the foreign file; only its
    // owner is wrong.
    let mut cat = lab.command_as(&lab.pair, Path::new("/bin/cat"));
    cat.arg(&foreign).stdin(Stdio::null());
    let read = support::run_with_timeout(cat, Duration::from_secs(10));
    assert!(
        read.success(),
        "the pair account cannot read {}: {read}",
        foreign.display()
    );
    assert_eq!(read.stdout, alices_line);
    assert_eq!(fs::read_link(&link).unwrap(), good);

    let mixed = format!(
        "publickey {}\npublickey {}\n",
        alice.public_line, bob.public_line
    );
    let cases: Vec<(&str, Option<PathBuf>, &str)> = vec![
        ("missing", None, "no-auth-info"),
        (
            "another user's, readable",
            Some(foreign.clone()),
            "unsafe-auth-info",
        ),
        ("a symlink", Some(link.clone()), "unsafe-auth-info"),
        (
            "empty",
            Some(file("empty", "", pair, 0o600)),
            "no-public-key",
        ),
        (
            "two guests' keys",
            Some(file("mixed", &mixed, pair, 0o600)),
            "conflicting-keys",
        ),
        (
            "password only",
            Some(file("password", "password\n", pair, 0o600)),
            "no-public-key",
        ),
    ];
    for (what, auth, reason) in cases {
        let mark = lab.audit_mark();
        let run = lab.login_with_auth(&lab.pair, auth.as_deref(), Some("list"));
        assert!(!run.success(), "{what}: {run}");
        assert_eq!(run.stdout, "", "{what}: {run}");
        let denied = lab
            .find_audit_after(mark, WAIT, |r| r.get("event") == Some("deny"))
            .unwrap_or_else(|| panic!("{what}: no deny line: {:?}", lab.audit_after(mark)));
        assert_eq!(denied.get("reason"), Some(reason), "{what}: {}", denied.raw);
        if auth.as_deref() == Some(foreign.as_path()) {
            let owner = format!("owned by uid {}", stranger_ids.0);
            assert!(
                denied.field("detail").contains(&owner),
                "{what}: {}",
                denied.raw
            );
        }
    }
    // The real file still works: the checks are not simply refusing all.
    let run = lab.login_with_auth(&lab.pair, Some(&good), Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-write\n", api.label()));
    no_join(&lab);
}

/// Pins row 12: a key that is only offered, never proven (ssh holds the
/// public half alone), gets no login and no audit line: sshd asks
/// `authorized-keys` about it, which has no side effects, and the signature
/// never comes.
///
/// Positive controls: ssh saw "Server accepts key" and sshd logged the key
/// as found by the `AuthorizedKeysCommand` (so `authorized-keys` ran and
/// answered), then closed the unauthenticated connection; the trail is read
/// only after a later login's line has arrived (so nothing the connection
/// wrote can still be on its way).
#[test]
fn offered_but_unproven_key_gets_no_login_and_no_audit_line() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    let public_only = lab.scratch_file("alice-public-only.pub");
    fs::write(&public_only, format!("{}\n", alice.public_line)).unwrap();

    let log = lab.sshd_log_mark();
    let mark = lab.audit_mark();
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
    lab.wait_sshd_log_after(
        log,
        &["Accepted key", &alice.fingerprint, "authorized-keys"],
    );
    lab.wait_sshd_log_after(
        log,
        &[&format!(
            "Connection closed by authenticating user {}",
            lab.pair
        )],
    );
    // ...and nothing was logged or run.
    let records: Vec<String> = lab.audit_settle(mark).into_iter().map(|r| r.raw).collect();
    assert!(records.is_empty(), "{records:?}");
}

/// Pins row 13: a guest whose key leaves the main config while connected is
/// ended by the periodic re-check (`leave reason=revoked`: no signal tells
/// their pairshell, so this takes up to 30 s; the "at once" cases are in
/// host_sshd.rs), and a grant that has expired is refused (`deny
/// reason=not-shared`). An expired guest: guest_sshd.rs.
///
/// Positive controls: alice was joined (her join line, her client) before
/// the edit; bob's key reached pairshell (his own deny line after a mark).
#[test]
fn guest_whose_key_leaves_the_config_while_connected_is_ended_and_an_expired_grant_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let socket = lab.start_tmux(&host, "old.sock", "old");
    let _old = lab.share_socket(
        &host,
        "old",
        &socket,
        &["bob"],
        &[],
        Some("2020-01-01T00:00:00Z"),
    );

    let mark = lab.audit_mark();
    let mut tty = lab.attach(&alice, "api", &api);
    lab.wait_audit_after(mark, &[("event", "join"), ("guest", "alice")], WAIT);
    assert!(lab.wait_pair_client(&api).is_some());
    lab.remove_guest("alice");
    let exited = tty.wait_exit(RECHECK + Duration::from_secs(10));
    assert!(exited.is_some(), "alice still connected:\n{}", tty.text());
    let r = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "alice")], WAIT);
    assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);
    assert!(lab.wait_no_pair_client(&api));

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&bob, Some("old"));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    let r = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "bob")], WAIT);
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    assert_eq!(r.get("request"), Some("old"), "{}", r.raw);
}

// ---------------------------------------------------------------------------
// Row 14: environment
// ---------------------------------------------------------------------------

/// Pins row 14: the guest's `SSH_AUTH_SOCK`, `DISPLAY`, `TMUX`,
/// `LD_PRELOAD`, `SSH_CONNECTION` and the rest never reach the host's
/// session. Two layers, each checked here: pairshell starts the tmux client
/// with a cleared environment (its `/proc/PID/environ` holds none of them),
/// and attaches with `-E`, so tmux's `update-environment` copies nothing
/// from the client (`show-environment` and a fresh pane's `env`).
///
/// Positive control: sshd did pass the variables to pairshell (its login
/// environment holds `PAIRSHELL_LEAK=leak42`).
#[test]
fn guest_environment_never_reaches_the_hosts_session() {
    // Row 14. The lab's sshd accepts these variables from the client (a
    // permissive admin); tmux copies SSH_AUTH_SOCK, DISPLAY, SSH_CONNECTION
    // and the like from an attaching client into the session, so pairshell
    // must start the client with none of them.
    let mut lab = lab!();
    // sshd must pass the variables for this to show pairshell's own
    // clearing: take the drop-in's AcceptEnv out (row 14b shows that the
    // shipped drop-in keeps them out on its own).
    lab.extend_sshd(support::SshdExtra {
        permissive_env: true,
        ..Default::default()
    });
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let agent = Agent::start(&lab);
    // The lab's ssh_config says `IdentityAgent none`, with which ssh never
    // asks to forward an agent, whatever ForwardAgent says.
    let forward = format!("ForwardAgent={}", agent.socket.display());
    let identity_agent = format!("IdentityAgent={}", agent.socket.display());
    let setenv = "SetEnv=LD_PRELOAD=/nonexistent/leak.so TMUX=/tmp/leak,1,1 \
                  DISPLAY=:98 PAIRSHELL_LEAK=leak42";

    let mut cmd = lab.ssh_with(
        &alice,
        &["-t", "-o", &forward, "-o", &identity_agent, "-o", setenv],
        Some("api"),
    );
    cmd.env("DISPLAY", ":98");
    let mut tty = Tty::spawn("ssh with a loaded environment as alice", cmd);
    tty.wait_for(support::prompt("api", &host).trim_end())
        .unwrap();
    let client = lab.wait_pair_client(&api).expect("alice's client");
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
    // The client's own environment, which tmux would copy into the session
    // but for `attach -E`: pairshell cleared it, so this layer holds even
    // without `-E`.
    let environ = fs::read(format!("/proc/{}/environ", client.pid))
        .expect("read the tmux client's environment");
    let environ: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let leaked_vars: Vec<&String> = environ
        .iter()
        .filter(|v| !leaked(v).is_empty() || v.starts_with("LD_PRELOAD="))
        .collect();
    assert!(
        leaked_vars.is_empty(),
        "the tmux client of alice's join started with {leaked_vars:?}: {environ:?}"
    );
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

/// Pins: `allow_unconfined_read_write` is for kernels without Landlock only;
/// where Landlock exists the client stays confined, so a read-write guest's
/// `detach-client -E` still runs nothing.
///
/// Positive controls: as in row 5 (an unconfined client of the pair account
/// does run the command; alice's `leave` line comes before the file is
/// looked for), and `check` reports the confinement.
#[test]
fn allow_unconfined_read_write_does_not_switch_confinement_off_where_landlock_exists() {
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
    detach_client_e_runs_only_unconfined(&lab, &alice, &api, "landlock-abi");
}

/// Pins row 5's last line of defence on a kernel without Landlock: a
/// read-write join is refused with pairshell's own `deny
/// reason=unconfined-read-write` (the client could not be kept from running
/// programs), unless the admin sets `allow_unconfined_read_write = true`;
/// read-only joins go ahead. The lab's `test_pretend_no_landlock = true`
/// makes joins be decided as if the kernel had no Landlock.
///
/// Positive controls: without the pretence the same read-write guest joins
/// (`confinement=landlock-abi…`), so the refusal is the missing Landlock's
/// and nothing else's; with `allow_unconfined_read_write = true` too, she
/// joins with `confinement=none`; bob's read-only join goes ahead.
#[test]
fn read_write_join_without_landlock_is_refused_unless_the_admin_allows_it() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    let joins = |lab: &Lab, guest: &support::Guest, confinement: &str| {
        let mark = lab.audit_mark();
        let mut tty = lab.attach(guest, "api", &api);
        let join = lab.wait_audit_after(mark, &[("event", "join"), ("guest", &guest.name)], WAIT);
        assert!(
            join.field("confinement").starts_with(confinement),
            "{}",
            join.raw
        );
        tty.tmux_key(b"d");
        wait_gone(&mut tty, WAIT, &format!("{} after C-b d", guest.name));
        assert!(lab.wait_no_pair_client(&api));
    };
    joins(&lab, &alice, "landlock-abi");

    lab.add_config_lines("test_pretend_no_landlock = true");
    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    let code = wait_gone(&mut tty, WAIT, "alice's read-write join without Landlock");
    assert_ne!(code, 0, "{}", tty.text());
    assert!(
        tty.text().contains("cannot be joined read-write"),
        "alice was not told why:\n{}",
        tty.text()
    );
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(
        deny.get("reason"),
        Some("unconfined-read-write"),
        "{}",
        deny.raw
    );
    assert_eq!(deny.get("mode"), Some("read-write"), "{}", deny.raw);
    let settled = lab.audit_settle(mark);
    assert!(
        settled.iter().all(|r| r.get("event") != Some("join")),
        "{settled:?}"
    );
    joins(&lab, &bob, "none");

    lab.add_config_lines("allow_unconfined_read_write = true");
    joins(&lab, &alice, "none");
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
