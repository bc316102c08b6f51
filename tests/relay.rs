//! Issue 12 end to end: pairshell holds the guest's terminal (a relay between
//! sshd's pty and a pty of its own that the tmux client runs on), confines
//! every tmux client it starts (Landlock: no writes, reads of system trees
//! only), gives every one of them the socket it checked (`-S
//! /proc/self/fd/N`), and gives up on a server that does not answer.
//!
//! First the attacks SECURITY.md's matrix gains with this issue, one test
//! each, named after the attack. Each has a positive control that proves the
//! attack path really ran: a host hook also touches a marker as the host, a
//! sentinel the host typed is in the pane before the guest's bytes are
//! counted, or the same step run by an unconfined client of the pair account
//! succeeds. Then the relay's own behaviour: the resize, `C-b d` in both
//! modes, the hang-up, and what the join line says was enforced.
//!
//! No fixed sleep decides a negative: each waits for a positive sentinel
//! first. Only audit records written after the step count
//! ([`Lab::audit_mark`]).
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{pids_of_uids, poll, prompt, wait_gone, Lab, Record, Run, Shared, Tty, WAIT};

/// A read-only client whose flag tmux reset is noticed by the periodic
/// re-check (30 s), plus time for the check itself on a loaded machine.
const RECHECK: Duration = Duration::from_secs(40);

/// Longest a guest may wait on a server that does not answer: pairshell's
/// deadline is about 5 s per tmux command.
const NOT_ANSWERING: Duration = Duration::from_secs(15);

/// The byte a guest types where its keys must not go: no prompt, host name
/// or message in the lab has an upper-case Q.
const GUEST_KEY: u8 = b'Q';

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The kernel's Landlock ABI version, `None` without Landlock.
fn landlock_abi() -> Option<i64> {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: with a NULL attribute, size 0 and only the VERSION flag,
    // landlock_create_ruleset creates nothing and returns the ABI version
    // (or -1 with errno set); no memory is read or written.
    let v = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v)
}

/// The `join` or `deny` line for `guest` written after `mark`.
fn joined_or_denied(lab: &Lab, mark: usize, guest: &str) -> Record {
    lab.find_audit_after(mark, WAIT, |r| {
        r.get("guest") == Some(guest) && matches!(r.get("event"), Some("join" | "deny"))
    })
    .unwrap_or_else(|| {
        let since: Vec<String> = lab.audit_after(mark).into_iter().map(|r| r.raw).collect();
        panic!(
            "neither a join nor a deny for {guest}; records since the mark:\n{}",
            since.join("\n")
        )
    })
}

/// How many times the guest's key shows in the pane of `s` (history too).
fn guest_keys_in_pane(lab: &Lab, s: &Shared) -> usize {
    lab.capture_pane(s)
        .bytes()
        .filter(|b| *b == GUEST_KEY)
        .count()
}

/// Types [`GUEST_KEY`] `n` times, 10 ms apart (tmux takes keys less than
/// 1 ms apart for a paste, which is fine, but a person types like this).
fn type_guest_keys(tty: &mut Tty, n: usize) {
    for _ in 0..n {
        tty.send(&[GUEST_KEY]);
        tty.pump();
        thread::sleep(Duration::from_millis(10));
    }
}

/// The host presses Enter (so any guest key that reached the prompt is a
/// line of its own) and then types `echo WORD-$((6*7))`; returns the output
/// line to wait for, `WORD-42`, which only the shell's output contains.
fn host_sentinel(lab: &Lab, s: &Shared, word: &str) -> String {
    let target = format!("={}:", s.name);
    lab.host_tmux(s, &["send-keys", "-t", &target, "Enter"]);
    lab.host_types_line(s, &format!("echo {word}-$((6*7))"));
    format!("{word}-42")
}

/// Waits until the host's sentinel is in the pane *and* on the guest's
/// terminal. The second half matters: it took the server → relay → sshd →
/// ssh round trip, so every key the guest typed before it has long left the
/// guest's ssh.
fn wait_sentinel(lab: &Lab, s: &Shared, tty: &mut Tty, line: &str) {
    assert!(
        lab.wait_pane_line(s, line),
        "the host's sentinel {line:?} never showed in the pane:\n{}",
        lab.capture_pane(s)
    );
    tty.wait_for(line).unwrap();
}

/// Types `line` and Enter as a guest, spaced so tmux takes them as keys.
fn type_line(tty: &mut Tty, line: &str) {
    thread::sleep(Duration::from_millis(150));
    tty.send(line.as_bytes());
    thread::sleep(Duration::from_millis(150));
    tty.send(b"\r");
}

/// `/bin/cat PATH` as `user`, directly.
fn cat_as(lab: &Lab, user: &str, path: &Path) -> Run {
    let mut cmd = lab.command_as(user, Path::new("/bin/cat"));
    cmd.arg(path).stdin(std::process::Stdio::null());
    support::run_with_timeout(cmd, Duration::from_secs(10))
}

/// Single-quotes `s` for `/bin/sh` and for tmux's command parser alike.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A host's tmux server stopped with SIGSTOP; SIGCONT when dropped, so the
/// lab's teardown (which asks the server to exit) works even after a failure.
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        let p = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(p, Signal::SIGSTOP).expect("SIGSTOP the tmux server");
        let state = |pid: i32| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim().to_string()))
                .and_then(|rest| rest.chars().next())
        };
        assert!(
            poll(WAIT, || (state(pid) == Some('T')).then_some(())).is_some(),
            "the tmux server {pid} never showed as stopped"
        );
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

// ---------------------------------------------------------------------------
// The socket the client talks to is the socket that was checked
// ---------------------------------------------------------------------------

/// Pins: a host cannot move a guest onto another host's server by swapping
/// their own socket path after pairshell checked it. pairshell opens the
/// socket once, checks the opened object, and gives every tmux client it
/// starts that object (`-S /proc/self/fd/N`), never the path again.
///
/// Host B shares `api` with alice, read-write; host A's server also holds a
/// session `api` (shared with nobody), so a client sent to A by path would
/// find it. On B's server, a hook at index 0 on every command pairshell runs
/// replaces B's socket path with a symlink to A's socket.
///
/// Positive control: the hook fired (its marker, touched by B's server,
/// exists; the lab ran none of the hooked commands on B), and B's socket path
/// really is a symlink to A's socket afterwards.
#[test]
fn host_swaps_their_socket_after_pairshell_checked_it() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host_a = lab.add_host();
    let host_b = lab.add_host();
    let a = lab.share(&host_a, "api", &[], &[]);
    let b = lab.share(&host_b, "api", &["alice"], &[]);

    // A second name for B's socket (a hard link to its inode), so the lab
    // can still reach B's server once B's path names A's.
    let b_dir = b.socket.parent().unwrap().to_path_buf();
    let held = Shared {
        socket: b_dir.join("held.sock"),
        ..b.clone()
    };
    fs::hard_link(&b.socket, &held.socket).unwrap();

    let marks = lab.scratch_dir("swap-marks", None, 0o1777);
    let fired = marks.join("hook-fired");
    // A temporary name per run (`$$`), and never a failure or a line of
    // output: hooks run concurrently, and a `run-shell` that fails or prints
    // in an attached client's context puts B's pane into view mode, which
    // would then take the guest's keys.
    let x = b_dir.join(".x");
    let swap = format!(
        "{{ ln -sfn {a} {x}.$$ && mv -T {x}.$$ {b}; touch {fired}; }} >/dev/null 2>&1; true",
        a = a.socket.display(),
        x = x.display(),
        b = b.socket.display(),
        fired = fired.display()
    );
    // Every command and notification a guest's join makes B's server run.
    // From here on the lab runs none of these on B until the outcome is in.
    for hook in [
        "after-list-clients",
        "after-list-sessions",
        "after-list-panes",
        "after-list-windows",
        "after-display-message",
        "after-show-options",
        "after-refresh-client",
        "client-attached",
        "client-active",
        "client-resized",
        "client-session-changed",
    ] {
        lab.host_tmux(
            &held,
            &[
                "set-hook",
                "-g",
                &format!("{hook}[0]"),
                &format!("run-shell {}", sh_quote(&swap)),
            ],
        );
    }
    assert!(
        fs::symlink_metadata(&b.socket)
            .unwrap()
            .file_type()
            .is_socket(),
        "B's socket was swapped before the guest came"
    );
    assert!(!fired.exists(), "the hook fired before the guest came");

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some(&b.label()));
    let outcome = joined_or_denied(&lab, mark, "alice");
    assert_eq!(
        outcome.get("host"),
        Some(host_b.as_str()),
        "{}",
        outcome.raw
    );

    // Positive control: the swap ran, on pairshell's own tmux command.
    assert!(
        poll(WAIT, || fired.exists().then_some(())).is_some(),
        "B's hook never fired: the attack did not run ({})",
        outcome.raw
    );
    let link = fs::read_link(&b.socket).unwrap_or_else(|e| {
        panic!(
            "B's socket path is not a symlink after the hook: {e} ({})",
            outcome.raw
        )
    });
    assert_eq!(link, a.socket, "B's socket path points elsewhere");

    // The guest's terminal shows B's session, or the guest was let go
    // (refused, or ended by a re-check that saw the path change).
    let b_prompt = prompt("api", &host_b).trim_end().to_string();
    let a_prompt = prompt("api", &host_a).trim_end().to_string();
    let settled = tty
        .wait_until(WAIT, |t| t.contains(&b_prompt) || t.contains(&a_prompt))
        .is_ok()
        || tty.wait_exit(Duration::ZERO).is_some();
    let text = tty.text();
    assert!(
        settled,
        "alice's terminal shows no session and ssh is still running:\n{text}"
    );
    assert!(
        !text.contains(&a_prompt),
        "alice, granted only {}, sees A's session:\n{text}",
        b.label()
    );
    assert!(
        lab.pair_clients(&a).is_empty(),
        "the pair account has a client on A's server: {:?} ({})",
        lab.pair_clients(&a),
        outcome.raw
    );

    if outcome.get("event") == Some("join") && tty.is_alive() {
        // She is on B's server, still running on its unlinked socket inode:
        // what she types lands in B's pane, not A's.
        type_line(&mut tty, "echo alice-was-here-$((6*7))");
        let on_b = lab.wait_pane_line(&held, "alice-was-here-42");
        if !on_b {
            // Only acceptable if pairshell ended her in the meantime.
            assert!(
                tty.wait_exit(WAIT).is_some(),
                "alice's line never reached B's pane and she is still connected:\n\
                 B (pane mode {:?}):\n{}\nA:\n{}",
                lab.host_tmux(
                    &held,
                    &["display-message", "-p", "-t", "=api:", "#{pane_mode}"]
                ),
                lab.capture_pane(&held),
                lab.capture_pane(&a)
            );
        }
        assert!(
            !lab.capture_pane(&a).contains("alice-was-here"),
            "alice's keys reached A's pane:\n{}",
            lab.capture_pane(&a)
        );
    } else {
        wait_gone(&mut tty, WAIT, "alice after a refused join");
    }
    assert!(
        lab.pair_clients(&a).is_empty(),
        "{:?}",
        lab.pair_clients(&a)
    );
    eprintln!("outcome: {}", outcome.raw);
    // B's server is reachable only through the hard link now.
    let _ = lab.tmux_as(&host_b, &held.socket, &["kill-server"]);
}

/// Pins row 17 for the command clients: the chooser's probes, the join's
/// session check, the probes after the attach and the re-checks all name
/// the checked socket by descriptor (`PairTmux::base`: `-S
/// /proc/self/fd/N`), never by its path. The test above catches the
/// attached client going back to the path; this one catches the command
/// clients doing so, which would send a guest's re-checks to whatever
/// server the host's path names by then.
///
/// Host B shares `api` with alice, read-only; host A's server (the decoy)
/// admits the pair account and also holds `api`. B's hook on
/// `list-clients`, which every one of pairshell's command clients runs,
/// writes the argv of every tmux process of the pair account alive at that
/// moment (the command client waits for its hooks) to a log; once the test
/// arms it, the hook also replaces B's socket path with a symlink to A's.
/// Any hook on A touches a marker.
///
/// Positive controls: B's log holds the chooser's probe; the swap ran on
/// the join's first command client, and B's path names A's socket; command
/// clients still reached B after the swap, both right after the attach and
/// on the re-check a SIGHUP asks for; and an unconfined pair-account client
/// sent to A by path does set off A's marker.
#[test]
fn host_swapping_their_socket_cannot_send_pairshells_command_clients_to_another_hosts_server() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host_a = lab.add_host();
    let host_b = lab.add_host();
    let a = lab.share(&host_a, "api", &[], &[]);
    let b = lab.share(&host_b, "api", &[], &["alice"]);
    let pair = lab.pair.clone();

    // A second name for B's socket, so the lab can still reach B's server
    // once B's path names A's.
    let b_dir = b.socket.parent().unwrap().to_path_buf();
    let held = Shared {
        socket: b_dir.join("held.sock"),
        ..b.clone()
    };
    fs::hard_link(&b.socket, &held.socket).unwrap();

    let marks = lab.scratch_dir("command-client-marks", None, 0o1777);
    let log = marks.join("argv-on-b");
    let armed = marks.join("armed");
    let swapped = marks.join("swapped");
    let a_reached = marks.join("a-reached");
    let x = b_dir.join(".x");
    // Never a failure or a line of output (see the test above); `run` then
    // one line per pair-account tmux process, then `swapped` once armed.
    let on_b = format!(
        "{{ echo run; ps -ww -u {pair} -o args=; \
           if [ -e {armed} ]; then ln -sfn {a} {x}.$$ && mv -T {x}.$$ {b} && \
           echo swapped && touch {swapped}; fi; }} >>{log} 2>/dev/null; true",
        armed = armed.display(),
        a = a.socket.display(),
        x = x.display(),
        b = b.socket.display(),
        swapped = swapped.display(),
        log = log.display(),
    );
    lab.host_tmux(
        &held,
        &[
            "set-hook",
            "-g",
            "after-list-clients[0]",
            &format!("run-shell {}", sh_quote(&on_b)),
        ],
    );
    // Every command a client of the pair account would run on A. From here
    // on the lab runs none of these on A until A's marker has been read.
    let on_a = format!("touch {} >/dev/null 2>&1; true", a_reached.display());
    for hook in [
        "after-list-clients",
        "after-list-sessions",
        "after-list-panes",
        "after-display-message",
        "after-show-options",
        "client-attached",
    ] {
        lab.host_tmux(
            &a,
            &[
                "set-hook",
                "-g",
                &format!("{hook}[0]"),
                &format!("run-shell {}", sh_quote(&on_a)),
            ],
        );
    }
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    // The pair account's tmux clients seen by B's hook: every one of them
    // must have named the socket by descriptor.
    let assert_all_by_descriptor = |when: &str| {
        let text = read_log();
        let clients: Vec<&str> = text.lines().filter(|l| l.contains(" -S ")).collect();
        assert!(
            clients.iter().any(|l| l.contains("list-clients")),
            "{when}: B's hook saw no command client of the pair account:\n{text}"
        );
        for line in &clients {
            assert!(
                line.contains(" -S /proc/self/fd/"),
                "{when}: a tmux client of pairshell named the socket by its path: \
                 {line}\n{text}"
            );
        }
    };

    // The chooser probes B (not armed yet: the pick would open the path
    // again, and that is row 9's check).
    let mut chooser = lab.ssh_tty(&alice, None);
    chooser.wait_for(&b.label()).unwrap();
    assert!(
        poll(WAIT, || read_log().contains("list-clients").then_some(())).is_some(),
        "B's hook never saw the chooser's probe:\n{}",
        chooser.text()
    );
    assert_all_by_descriptor("the chooser's probe");
    // Let the prompt finish drawing before the key (as guest_edges does).
    thread::sleep(Duration::from_millis(300));
    chooser.send(b"q");
    assert_eq!(chooser.wait_exit(WAIT), Some(0), "{}", chooser.text());

    // The join: its first command client sets off the swap.
    fs::write(&armed, "").unwrap();
    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some(&b.label()));
    let outcome = joined_or_denied(&lab, mark, "alice");
    assert_eq!(outcome.get("event"), Some("join"), "{}", outcome.raw);
    assert!(
        poll(WAIT, || swapped.exists().then_some(())).is_some(),
        "B's hook never swapped the socket: the attack did not run ({})",
        outcome.raw
    );
    assert_eq!(
        fs::read_link(&b.socket).expect("B's socket path is a symlink after the hook"),
        a.socket,
        "B's socket path points elsewhere"
    );
    tty.wait_for(prompt("api", &host_b).trim_end()).unwrap();

    // Command clients after the swap still reach B: the probes after the
    // attach, then the re-check a SIGHUP asks for.
    let runs_after = |text: &str, marker: &str| {
        text.split_once(marker).map_or(0, |(_, after)| {
            after.lines().filter(|l| *l == "run").count()
        })
    };
    assert!(
        poll(WAIT, || (runs_after(&read_log(), "swapped\n") > 0)
            .then_some(()))
        .is_some(),
        "no command client reached B after the swap:\n{}",
        read_log()
    );
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"hup\n"))
        .unwrap();
    let pid = outcome.pid.expect("the join line carries pairshell's pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGHUP)
        .expect("SIGHUP alice's pairshell");
    assert!(
        poll(WAIT, || (runs_after(&read_log(), "hup\n") > 0)
            .then_some(()))
        .is_some(),
        "the re-check after SIGHUP never reached B:\n{}",
        read_log()
    );
    assert_all_by_descriptor("after the swap");
    assert!(
        !a_reached.exists(),
        "a client of pairshell reached A's server through B's swapped path"
    );
    assert!(tty.is_alive(), "alice was let go:\n{}", tty.text());

    // Control: a pair-account client that names B's path now reaches A,
    // and A's hook notices it.
    let run = lab.unconfined_pair_tmux(&b.socket, &["list-clients"]);
    assert!(
        poll(WAIT, || a_reached.exists().then_some(())).is_some(),
        "control: a client sent by path to A set off no hook on A: {run}"
    );
    assert!(
        lab.pair_clients(&a).is_empty(),
        "{:?}",
        lab.pair_clients(&a)
    );
    eprintln!("seen by B's hook:\n{}", read_log());
    tty.send(b"\x02d");
    wait_gone(&mut tty, WAIT, "alice after C-b d");
    let _ = lab.tmux_as(&host_b, &held.socket, &["kill-server"]);
}

// ---------------------------------------------------------------------------
// Host hooks against pairshell's own command clients
// ---------------------------------------------------------------------------

/// Pins: a host's hook cannot make a tmux client pairshell starts write a
/// file as the pair account. tmux hands `save-buffer PATH` for a client that
/// is not attached (pairshell's `list-clients` probes) to that client; every
/// such client is confined to write nothing.
///
/// The file's directory is the pair account's own (0700), so only a client
/// of the pair account could create it.
///
/// Positive control: the hook fired (the index after `save-buffer` touches a
/// marker as the host, so the write had been tried by then), and the same
/// hook fired by an unconfined `tmux list-clients` of the pair account does
/// create the file, owned by the pair account.
#[test]
fn host_hook_makes_a_client_write_a_file() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &[], &["bob"]);
    let pair = lab.pair.clone();
    let pair_dir = lab.scratch_dir("pair-owned", Some(&pair), 0o700);
    let planted = pair_dir.join("planted");
    let marks = lab.scratch_dir("hook-marks", None, 0o1777);
    let fired = marks.join("hook-fired");

    lab.host_tmux(&api, &["set-buffer", "-b", "planted", "x"]);
    lab.host_tmux(
        &api,
        &[
            "set-hook",
            "-g",
            "after-list-clients[0]",
            &format!("save-buffer -b planted {}", planted.display()),
        ],
    );
    lab.host_tmux(
        &api,
        &[
            "set-hook",
            "-g",
            "after-list-clients[1]",
            &format!(
                "run-shell {}",
                sh_quote(&format!("touch {}", fired.display()))
            ),
        ],
    );

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&bob, Some("api"));
    let outcome = joined_or_denied(&lab, mark, "bob");
    // The lab ran no list-clients since setting the hooks: this is
    // pairshell's probe.
    assert!(
        poll(WAIT, || fired.exists().then_some(())).is_some(),
        "the host's hook never fired ({})",
        outcome.raw
    );
    if outcome.get("event") == Some("join") {
        tty.wait_for(prompt("api", &host).trim_end()).unwrap();
    }
    assert!(
        !planted.exists(),
        "a tmux client of pairshell wrote {} for the host's hook ({})",
        planted.display(),
        outcome.raw
    );

    // Control: the same hook, on an unconfined client of the pair account.
    let run = lab.unconfined_pair_tmux(&api.socket, &["list-clients"]);
    let written = poll(WAIT, || planted.exists().then_some(()));
    assert!(
        written.is_some(),
        "control: an unconfined pair-account client did not write the file either, \
         so the attack is not what this test thinks: {run}"
    );
    assert_eq!(
        fs::metadata(&planted).unwrap().uid(),
        lab.pair_uid,
        "control: the file is not the pair account's"
    );
    eprintln!("outcome: {}", outcome.raw);
}

/// Pins: a host's hook cannot make a tmux client pairshell starts read a
/// file the pair account may read and hand it to the host's server.
/// `load-buffer PATH` for a client that is not attached is done by that
/// client; every such client is confined to read system trees only.
///
/// Positive control: the hook fired (marker touched after the `load-buffer`
/// index), the file really is readable by the pair account unconfined (and
/// not by the host), and the same hook fired by an unconfined `tmux
/// list-clients` of the pair account does put the file into the host's
/// buffer.
#[test]
fn host_hook_makes_a_client_read_a_file() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &[], &["bob"]);
    let pair = lab.pair.clone();
    let pair_dir = lab.scratch_dir("pair-owned", Some(&pair), 0o700);
    let secret_path = pair_dir.join("secret");
    let secret = format!("pair-secret-{}", std::process::id());
    fs::write(&secret_path, &secret).unwrap();
    std::os::unix::fs::chown(&secret_path, Some(lab.pair_uid), Some(lab.pair_gid)).unwrap();
    fs::set_permissions(&secret_path, fs::Permissions::from_mode(0o600)).unwrap();
    let marks = lab.scratch_dir("hook-marks", None, 0o1777);
    let fired = marks.join("hook-fired");

    // Control: only the pair account can read it.
    let run = cat_as(&lab, &pair, &secret_path);
    assert!(
        run.success() && run.stdout == secret,
        "control: the pair account cannot read its own file: {run}"
    );
    let run = cat_as(&lab, &host, &secret_path);
    assert!(
        !run.success(),
        "control: the host can read the file itself: {run}"
    );

    lab.host_tmux(
        &api,
        &[
            "set-hook",
            "-g",
            "after-list-clients[0]",
            &format!("load-buffer -b leak {}", secret_path.display()),
        ],
    );
    lab.host_tmux(
        &api,
        &[
            "set-hook",
            "-g",
            "after-list-clients[1]",
            &format!(
                "run-shell {}",
                sh_quote(&format!("touch {}", fired.display()))
            ),
        ],
    );

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&bob, Some("api"));
    let outcome = joined_or_denied(&lab, mark, "bob");
    assert!(
        poll(WAIT, || fired.exists().then_some(())).is_some(),
        "the host's hook never fired ({})",
        outcome.raw
    );
    if outcome.get("event") == Some("join") {
        tty.wait_for(prompt("api", &host).trim_end()).unwrap();
    }
    let show = lab.tmux_as(&host, &api.socket, &["show-buffer", "-b", "leak"]);
    let leaked = String::from_utf8_lossy(&show.stdout);
    assert!(
        !show.status.success() && !leaked.contains(&secret),
        "the pair account's file reached the host's buffer through pairshell's client: {leaked:?} ({})",
        outcome.raw
    );

    // Control: the same hook, on an unconfined client of the pair account.
    let run = lab.unconfined_pair_tmux(&api.socket, &["list-clients"]);
    let got = poll(WAIT, || {
        let show = lab.tmux_as(&host, &api.socket, &["show-buffer", "-b", "leak"]);
        String::from_utf8_lossy(&show.stdout)
            .contains(&secret)
            .then_some(())
    });
    assert!(
        got.is_some(),
        "control: an unconfined pair-account client did not leak the file either: {run}"
    );
    eprintln!("outcome: {}", outcome.raw);
}

// ---------------------------------------------------------------------------
// Read-only is pairshell's, whatever tmux's flag says
// ---------------------------------------------------------------------------

/// Pins: a read-only guest's keys never reach the pane while the host grants
/// and revokes a read-write guest, each of which makes tmux recompute (and
/// for a moment clear) every pair-account client's read-only flag. The relay
/// forwards none of a read-only guest's input.
///
/// Positive control: the 15 grants and 15 revokes are in the trail, the
/// host's sentinel is in the pane (and on bob's terminal) before bob's bytes
/// are counted, and a read-write guest typing the same way does reach the
/// pane, every key.
#[test]
fn read_only_guest_types_nothing_while_writers_come_and_go() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    lab.add_guest("carol", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mut tty = lab.attach(&bob, "api", &api);
    assert_eq!(
        guest_keys_in_pane(&lab, &api),
        0,
        "{}",
        lab.capture_pane(&api)
    );

    let mark = lab.audit_mark();
    let stop = AtomicBool::new(false);
    let (typed, runs) = thread::scope(|scope| {
        let typist = {
            let tty = &mut tty;
            let stop = &stop;
            scope.spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    type_guest_keys(tty, 1);
                    n += 1;
                }
                n
            })
        };
        let mut runs = Vec::new();
        for round in 1..=15 {
            runs.push((
                round,
                lab.pairshell_as(&host, &["grant", "api", "carol", "--rw"]),
            ));
            runs.push((round, lab.pairshell_as(&host, &["revoke", "api", "carol"])));
        }
        stop.store(true, Ordering::SeqCst);
        (typist.join().unwrap(), runs)
    });
    for (round, run) in &runs {
        assert!(run.success(), "round {round}: {run}");
    }
    let count = |event: &str| {
        lab.audit_after(mark)
            .iter()
            .filter(|r| r.get("event") == Some(event) && r.get("guest") == Some("carol"))
            .count()
    };
    assert!(
        poll(WAIT, || (count("grant") == 15 && count("revoke") == 15)
            .then_some(()))
        .is_some(),
        "control: not 15 grants and 15 revokes of carol in the trail: {} and {}",
        count("grant"),
        count("revoke")
    );
    assert!(typed >= 100, "bob typed only {typed} keys");

    let line = host_sentinel(&lab, &api, "host-sentinel");
    wait_sentinel(&lab, &api, &mut tty, &line);
    let pane = lab.capture_pane(&api);
    let leaked = guest_keys_in_pane(&lab, &api);
    assert_eq!(
        leaked, 0,
        "read-only bob typed {typed} keys, and {leaked} show in the pane (a shell error repeats them):\n{pane}"
    );
    assert!(tty.is_alive(), "bob was let go:\n{}", tty.text());
    assert_eq!(
        lab.pair_clients(&api).len(),
        1,
        "{:?}",
        lab.pair_clients(&api)
    );

    // Control: a read-write guest's identical typing reaches the pane.
    let run = lab.pairshell_as(&host, &["grant", "api", "alice", "--rw"]);
    assert!(run.success(), "grant alice --rw: {run}");
    let mut writer = lab.attach(&alice, "api", &api);
    let before = guest_keys_in_pane(&lab, &api);
    let n = 20;
    type_guest_keys(&mut writer, n);
    let reached = poll(WAIT, || {
        (guest_keys_in_pane(&lab, &api) == before + n).then_some(())
    });
    assert!(
        reached.is_some(),
        "control: read-write alice typed {n} keys, the pane went from {before} to {}:\n{}",
        guest_keys_in_pane(&lab, &api),
        lab.capture_pane(&api)
    );
}

/// Pins: a read-only guest types nothing into the pane after the host runs
/// `tmux server-access -w PAIR` by hand, which makes tmux clear the client's
/// read-only flag. The relay forwards none of a read-only guest's input; the
/// guest stays connected and the re-check reports the reset flag
/// (`event=readonly-flag-reset`).
///
/// Positive control: tmux really reset the flag (`client_readonly` 0 for
/// the pair client right after the host's command), and the host's sentinel
/// is in the pane (and on bob's terminal) before bob's bytes are counted.
#[test]
fn read_only_guest_types_nothing_after_the_hosts_own_server_access_w() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mut tty = lab.attach(&bob, "api", &api);
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "{client:?}");

    let mark = lab.audit_mark();
    let pair = lab.pair.clone();
    lab.host_tmux(&api, &["server-access", "-w", &pair]);
    let clients = lab.pair_clients(&api);
    assert!(
        clients.len() == 1 && !clients[0].readonly,
        "control: tmux did not clear the read-only flag: {clients:?}"
    );

    let n = 40;
    type_guest_keys(&mut tty, n);
    type_line(&mut tty, "echo bob-typed-$((6*7))");
    let line = host_sentinel(&lab, &api, "host-sentinel");
    wait_sentinel(&lab, &api, &mut tty, &line);
    let pane = lab.capture_pane(&api);
    let leaked = guest_keys_in_pane(&lab, &api);
    assert_eq!(
        leaked, 0,
        "read-only bob typed {n} keys, and {leaked} show in the pane (a shell error repeats them):\n{pane}"
    );
    assert!(
        !pane.lines().any(|l| l.trim_end() == "bob-typed-42"),
        "read-only bob's command ran:\n{pane}"
    );
    assert!(tty.is_alive(), "bob was let go:\n{}", tty.text());

    let r = lab.wait_audit_after(
        mark,
        &[("event", "readonly-flag-reset"), ("guest", "bob")],
        RECHECK,
    );
    assert_eq!(r.get("session"), Some("api"), "{}", r.raw);
    assert!(tty.is_alive(), "bob was let go:\n{}", tty.text());
    assert_eq!(
        lab.pair_clients(&api).len(),
        1,
        "{:?}",
        lab.pair_clients(&api)
    );
    assert!(
        !lab.audit_after(mark)
            .iter()
            .any(|r| r.get("event") == Some("leave")),
        "{:?}",
        lab.audit_after(mark)
    );
}

/// `server-access -l`'s letter for the pair account on `s`'s server: `W`
/// or `R`.
fn pair_access(lab: &Lab, s: &Shared) -> Option<char> {
    let list = lab.host_tmux(s, &["server-access", "-l"]);
    let prefix = format!("{} (", lab.pair);
    list.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix)?.chars().next())
}

/// Attaches a client of the pair account directly (no pairshell: no relay,
/// no jail) with `args`, and waits until it shows the host's prompt and is
/// listed; returns its terminal and whether tmux holds it read-only.
fn direct_pair_client(lab: &Lab, s: &Shared, args: &[&str]) -> (Tty, bool) {
    let before: Vec<i32> = lab.pair_clients(s).iter().map(|c| c.pid).collect();
    let mut tty = lab.unconfined_pair_tmux_tty(&s.socket, args);
    tty.wait_for(prompt(&s.name, &s.host).trim_end()).unwrap();
    let client = poll(WAIT, || {
        lab.pair_clients(s)
            .into_iter()
            .find(|c| !before.contains(&c.pid))
    })
    .expect("the direct pair-account client never attached");
    (tty, client.readonly)
}

/// A direct client types [`GUEST_KEY`]s, tries `C-b :` `switch-client -r`
/// (tmux's way to make a client writable) and then a command line; once the
/// host's sentinel made the round trip to its terminal, returns how many of
/// its keys reached the pane and whether its command ran.
fn direct_client_types(lab: &Lab, s: &Shared, tty: &mut Tty, word: &str) -> (usize, bool) {
    type_guest_keys(tty, 40);
    tty.tmux_key(b":");
    type_line(tty, "switch-client -r");
    type_line(tty, &format!("echo {word}-$((6*7))"));
    let line = host_sentinel(lab, s, &format!("after-{word}"));
    wait_sentinel(lab, s, tty, &line);
    let pane = lab.capture_pane(s);
    let ran = pane.lines().any(|l| l.trim_end() == format!("{word}-42"));
    (guest_keys_in_pane(lab, s), ran)
}

/// Pins row 4's second layer on its own, `attach -r`: pairshell attaches a
/// read-only guest's client with `-r`, and tmux keeps a client attached so
/// from typing, or from making itself writable with `switch-client -r`,
/// even where the pair account's own `server-access` entry is writable and
/// no relay stands in front of it.
///
/// The server lets the pair account write (`server-access -w`, as when a
/// read-write guest is granted too). bob joins through pairshell read-only:
/// his client is read-only, which on this server only `-r` can make it (so
/// this fails if pairshell stops passing `-r`). Then a client of the pair
/// account attached directly, with the relay and the jail both gone but
/// pairshell's argv (`attach-session -E -r`), types: nothing reaches the
/// pane.
///
/// Positive controls: the entry is `W`; the host's sentinel made the round
/// trip to the direct client's terminal before the pane is read; the same
/// direct client attached without `-r` is writable, and its line runs.
#[test]
fn read_only_client_on_attach_r_alone_cannot_type_where_the_pair_account_may_write() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &[], &["bob"]);
    assert_eq!(pair_access(&lab, &api), Some('W'), "control");

    let mut tty = lab.attach(&bob, "api", &api);
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(
        client.readonly,
        "bob's client is writable on a server the pair account may write: \
         pairshell did not attach it with -r: {client:?}"
    );
    tty.tmux_key(b"d");
    wait_gone(&mut tty, WAIT, "bob after C-b d");
    assert!(lab.wait_no_pair_client(&api));

    let (mut direct, readonly) =
        direct_pair_client(&lab, &api, &["attach-session", "-E", "-r", "-t", "=api"]);
    assert!(
        readonly,
        "tmux did not hold a client attached with -r read-only"
    );
    let (leaked, ran) = direct_client_types(&lab, &api, &mut direct, "ro-direct");
    let pane = lab.capture_pane(&api);
    assert_eq!(
        leaked, 0,
        "keys of a client attached with -r reached the pane:\n{pane}"
    );
    assert!(!ran, "a client attached with -r ran a command:\n{pane}");
    assert!(
        lab.pair_clients(&api).iter().all(|c| c.readonly),
        "switch-client -r made the client writable: {:?}",
        lab.pair_clients(&api)
    );
    direct.tmux_key(b"d");
    assert!(direct.wait_exit(WAIT).is_some(), "{}", direct.text());
    assert!(lab.wait_no_pair_client(&api));

    // Control: without -r, the same client types into the pane.
    let (mut writable, readonly) =
        direct_pair_client(&lab, &api, &["attach-session", "-E", "-t", "=api"]);
    assert!(
        !readonly,
        "control: a client attached without -r is read-only"
    );
    type_line(&mut writable, "echo rw-direct-$((6*7))");
    assert!(
        lab.wait_pane_line(&api, "rw-direct-42"),
        "control: a writable direct client's line never ran:\n{}",
        lab.capture_pane(&api)
    );
}

/// Pins row 4's third layer on its own, tmux's per-user `server-access -r`
/// (which `share` sets when no guest of the session may write): a client of
/// the pair account attached *without* `-r`, with no relay and no jail in
/// front of it, is read-only on such a server and types nothing into the
/// pane, nor makes itself writable with `switch-client -r`.
///
/// Positive controls: the entry is `R`; the host's sentinel made the round
/// trip to the client's terminal before the pane is read; after the host's
/// `server-access -w` the same client is writable and its line runs.
#[test]
fn client_attached_without_r_cannot_type_where_the_pair_account_is_read_only() {
    let mut lab = lab!();
    let host = lab.add_host();
    let api = lab.share(&host, "api", &[], &[]);
    let pair = lab.pair.clone();
    lab.host_tmux(&api, &["server-access", "-r", &pair]);
    assert_eq!(pair_access(&lab, &api), Some('R'), "control");

    let (mut direct, readonly) =
        direct_pair_client(&lab, &api, &["attach-session", "-E", "-t", "=api"]);
    assert!(
        readonly,
        "tmux did not hold a client of a read-only server-access user read-only"
    );
    let (leaked, ran) = direct_client_types(&lab, &api, &mut direct, "ro-user");
    let pane = lab.capture_pane(&api);
    assert_eq!(
        leaked, 0,
        "keys of a read-only user's client reached the pane:\n{pane}"
    );
    assert!(!ran, "a read-only user's client ran a command:\n{pane}");
    assert!(
        lab.pair_clients(&api).iter().all(|c| c.readonly),
        "switch-client -r made the client writable: {:?}",
        lab.pair_clients(&api)
    );

    // Control: the host opens the server to writes; the same client types.
    lab.host_tmux(&api, &["server-access", "-w", &pair]);
    assert!(
        lab.pair_clients(&api).iter().all(|c| !c.readonly),
        "control: server-access -w left the client read-only"
    );
    type_line(&mut direct, "echo rw-user-$((6*7))");
    assert!(
        lab.wait_pane_line(&api, "rw-user-42"),
        "control: the now-writable client's line never ran:\n{}",
        lab.capture_pane(&api)
    );
}

/// Pins: confining the guest's own pairshell after the join must not stop
/// its re-checks from reading the host's file once the admin adds a user.
/// `useradd` writes a new /etc/passwd and renames it over the old one, and
/// a Landlock rule on a file follows the inode it was made for: with a rule
/// on the old file only, the host's owner can no longer be looked up, and
/// the re-check ends every joined guest ("there is no user …",
/// `reason=revoked`).
///
/// Positive control: /etc/passwd really is a new file after the `useradd`,
/// and the re-check really read the host's file after it: the `--for 8s`
/// the host then gave the share ends the guest with `reason=expired`.
#[test]
fn recheck_still_reads_the_host_file_after_useradd_replaces_etc_passwd() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mark = lab.audit_mark();
    let _tty = lab.attach(&bob, "api", &api);
    let join = lab.wait_audit_after(mark, &[("event", "join"), ("guest", "bob")], WAIT);
    let pairshell = join.pid.expect("the join line carries pairshell's pid");

    let inode = || fs::metadata("/etc/passwd").unwrap().ino();
    let before = inode();
    let home = lab.scratch_dir("home", None, 0o755);
    lab.add_account("u", "/bin/sh", &home);
    assert_ne!(
        inode(),
        before,
        "control: useradd did not replace /etc/passwd"
    );
    lab.share_as(&host, "api", &["--ro", "bob", "--for", "8s"]);
    // Check now rather than at the next 30-second re-check.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pairshell as i32), Signal::SIGHUP)
        .expect("SIGHUP bob's pairshell");

    let r = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "bob")], RECHECK);
    assert_eq!(r.get("reason"), Some("expired"), "{}", r.raw);
}

/// Pins: `lock-client` on a read-only guest's client runs nothing as the
/// pair account. tmux sends the client the server's `lock-command`, which
/// the client runs with `system()`; the confined client may execute tmux
/// only.
///
/// The lock command writes `locked-by-<uid>` in a directory anyone may
/// write, so the file names whoever ran it.
///
/// Positive control: the host's own client, locked the same way, creates
/// its file; the guest's client came back from the lock (tmux clears its
/// `suspended` flag only when the client says it finished the lock command)
/// before the guest's file is looked for; and an unconfined tmux client of
/// the pair account, locked the same way, does create the pair account's
/// file.
#[test]
fn lock_client_on_a_read_only_client_runs_nothing() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let dir = lab.scratch_dir("lock", None, 0o1777);
    let locked_by = |uid: u32| dir.join(format!("locked-by-{uid}"));
    let host_uid = lab.uid_of(&host);
    let pair_uid = lab.pair_uid;
    lab.host_tmux(
        &api,
        &[
            "set-option",
            "-g",
            "lock-command",
            &format!("touch {}/locked-by-$(id -u)", dir.display()),
        ],
    );

    let mut tty = lab.attach(&bob, "api", &api);
    let _host_tty = lab.host_tty(&host, &api.socket, "api");
    let rows = lab.client_rows_at(&api.socket);
    let host_client = rows
        .iter()
        .find(|c| c.user == host)
        .unwrap_or_else(|| panic!("no host client: {rows:?}"))
        .clone();
    let guest_client = rows
        .iter()
        .find(|c| c.user == lab.pair)
        .unwrap_or_else(|| panic!("no pair client: {rows:?}"))
        .clone();
    assert!(guest_client.readonly, "{guest_client:?}");
    let back_from_lock = |pid: i32| {
        poll(WAIT, || {
            lab.client_rows_at(&api.socket)
                .into_iter()
                .find(|c| c.pid == pid)
                .filter(|c| !c.suspended())
        })
        .unwrap_or_else(|| {
            panic!(
                "client {pid} never came back from the lock: {:?}",
                lab.client_rows_at(&api.socket)
            )
        })
    };

    // Control: the host's own client runs the lock command.
    lab.host_tmux(&api, &["lock-client", "-t", &host_client.name]);
    assert!(
        poll(WAIT, || locked_by(host_uid).exists().then_some(())).is_some(),
        "control: the host's own locked client never ran the lock command"
    );
    back_from_lock(host_client.pid);

    // The step: the guest's client.
    lab.host_tmux(&api, &["lock-client", "-t", &guest_client.name]);
    back_from_lock(guest_client.pid);
    assert!(
        !locked_by(pair_uid).exists(),
        "the guest's client ran the host's lock command as the pair account"
    );
    assert!(tty.is_alive(), "bob was let go:\n{}", tty.text());

    // Control: an unconfined client of the pair account does run it.
    let before: Vec<i32> = lab.pair_clients(&api).iter().map(|c| c.pid).collect();
    let _direct =
        lab.unconfined_pair_tmux_tty(&api.socket, &["attach-session", "-r", "-t", "=api"]);
    let direct = poll(WAIT, || {
        lab.client_rows_at(&api.socket)
            .into_iter()
            .find(|c| c.user == lab.pair && !before.contains(&c.pid))
    })
    .expect("control: the unconfined pair-account client never attached");
    lab.host_tmux(&api, &["lock-client", "-t", &direct.name]);
    assert!(
        poll(WAIT, || locked_by(pair_uid).exists().then_some(())).is_some(),
        "control: an unconfined pair-account client did not run the lock command either"
    );
}

// ---------------------------------------------------------------------------
// A server that does not answer
// ---------------------------------------------------------------------------

/// Pins: a host's server that does not answer (SIGSTOPped) cannot hang a
/// guest. Every tmux command pairshell runs for a guest has a deadline of
/// about 5 s: a direct join ends with `HOST/SESSION is not answering; try
/// again later` and `event=deny reason=server-stuck`, nothing of the pair
/// account is left waiting on the server, and the chooser marks the session
/// `not answering` instead of waiting on it.
///
/// Positive control: the server really is stopped (`T` in /proc), and the
/// chooser still shows a healthy session of another host as running.
#[test]
fn stuck_server_gives_not_answering_not_a_hang() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let h1 = lab.add_host();
    let h2 = lab.add_host();
    let api = lab.share(&h1, "api", &["alice"], &[]);
    let db = lab.share(&h2, "db", &[], &["alice"]);
    let pid = lab.server_pid(&api);
    let stopped = Stopped::new(pid);

    // By direct request.
    let mark = lab.audit_mark();
    let started = Instant::now();
    let mut tty = lab.ssh_tty(&alice, Some(&api.label()));
    let want = format!(
        "pairshell: {} is not answering; try again later",
        api.label()
    );
    tty.wait_until(NOT_ANSWERING, |t| t.contains(&want))
        .unwrap_or_else(|t| {
            panic!(
                "after {:?} alice still has not read {want:?}:\n{t}",
                started.elapsed()
            )
        });
    let code = wait_gone(&mut tty, WAIT, "alice on a stopped server");
    assert_ne!(code, 0, "{}", tty.text());
    let r = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(r.get("reason"), Some("server-stuck"), "{}", r.raw);
    assert_eq!(r.get("session"), Some("api"), "{}", r.raw);
    eprintln!("direct join refused after {:?}", started.elapsed());
    assert!(
        poll(WAIT, || pids_of_uids(&[lab.pair_uid])
            .is_empty()
            .then_some(()))
        .is_some(),
        "pair-account processes left behind on the stopped server: {:?}",
        pids_of_uids(&[lab.pair_uid])
    );

    // In the chooser.
    let started = Instant::now();
    let mut tty = lab.ssh_tty(&alice, None);
    let (stuck, healthy) = (api.label(), db.label());
    tty.wait_until(NOT_ANSWERING, |t| {
        t.lines()
            .any(|l| l.contains(&stuck) && l.contains("not answering"))
            && t.lines().any(|l| {
                l.contains(&healthy) && l.contains("running") && !l.contains("not ")
            })
    })
    .unwrap_or_else(|t| {
        panic!(
            "after {:?} the chooser has not marked {stuck} not answering and {healthy} running:\n{t}",
            started.elapsed()
        )
    });
    eprintln!("chooser drawn after {:?}", started.elapsed());
    thread::sleep(Duration::from_millis(150));
    tty.send(b"q");
    let code = wait_gone(&mut tty, WAIT, "alice leaving the chooser");
    assert_eq!(code, 0, "{}", tty.text());
    drop(stopped);
}

// ---------------------------------------------------------------------------
// The relay's behaviour
// ---------------------------------------------------------------------------

/// The join line says what was enforced: `confinement=landlock-abiN`, N the
/// kernel's Landlock ABI, for both modes.
#[test]
fn join_line_names_the_landlock_abi_that_confines_the_client() {
    let mut lab = lab!();
    let abi = landlock_abi().expect("this kernel has no Landlock");
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &["bob"]);
    for (guest, mode) in [(&alice, "read-write"), (&bob, "read-only")] {
        let mark = lab.audit_mark();
        let _tty = lab.attach(guest, "api", &api);
        let r = lab.wait_audit_after(
            mark,
            &[("event", "join"), ("guest", guest.name.as_str())],
            WAIT,
        );
        assert_eq!(r.get("mode"), Some(mode), "{}", r.raw);
        assert_eq!(
            r.get("confinement"),
            Some(format!("landlock-abi{abi}").as_str()),
            "{}",
            r.raw
        );
    }
}

/// A read-write guest's terminal size reaches tmux: at the start (the pty's
/// 80x24) and after each resize of the guest's terminal (ssh forwards the
/// SIGWINCH; the relay applies it to the client's pty).
#[test]
fn read_write_guests_resize_reaches_tmux() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let mut tty = lab.attach(&alice, "api", &api);
    let size = |lab: &Lab| {
        lab.pair_client_rows(&api)
            .first()
            .map(|c| (c.width, c.height))
    };
    for (cols, rows) in [(80, 24), (100, 37), (132, 43)] {
        if (cols, rows) != (80, 24) {
            tty.set_window_size(cols, rows);
        }
        let want = (u32::from(cols), u32::from(rows));
        assert!(
            poll(WAIT, || (size(&lab) == Some(want)).then_some(())).is_some(),
            "the pair client is {:?}, not {want:?}",
            size(&lab)
        );
    }
    assert!(tty.is_alive(), "{}", tty.text());
}

/// `C-b d` from a read-only guest (whose keys pairshell never forwards;
/// pairshell recognises these two itself) ends its client: ssh exits, the
/// leave line says `reason=detached`, the server lists no pair client.
#[test]
fn read_only_guest_leaves_with_ctrl_b_d() {
    leaves_with_ctrl_b_d(false);
}

/// `C-b d` from a read-write guest (forwarded; tmux detaches it): ssh exits,
/// the leave line says `reason=detached`, the server lists no pair client.
#[test]
fn read_write_guest_leaves_with_ctrl_b_d() {
    leaves_with_ctrl_b_d(true);
}

fn leaves_with_ctrl_b_d(read_write: bool) {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let (rw, ro): (&[&str], &[&str]) = if read_write {
        (&["alice"], &[])
    } else {
        (&[], &["alice"])
    };
    let api = lab.share(&host, "api", rw, ro);
    let mut tty = lab.attach(&alice, "api", &api);
    tty.wait_for("Ctrl-b d to leave").unwrap();
    let mark = lab.audit_mark();
    tty.tmux_key(b"d");
    let code = wait_gone(&mut tty, WAIT, "alice after C-b d");
    let r = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "alice")], WAIT);
    assert_eq!(r.get("reason"), Some("detached"), "{}", r.raw);
    assert!(
        lab.wait_no_pair_client(&api),
        "{:?}",
        lab.pair_clients(&api)
    );
    eprintln!("ssh exited with {code}");
}

/// A hang-up of the guest's connection (the ssh client killed outright)
/// ends the client with `reason=hangup`, in both modes.
#[test]
fn hangup_ends_the_client_with_reason_hangup() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &["bob"]);
    let mut ttys = vec![
        (lab.attach(&alice, "api", &api), "alice"),
        (lab.attach(&bob, "api", &api), "bob"),
    ];
    assert!(poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some());
    let mut left = 2;
    for (tty, guest) in &mut ttys {
        let guest: &str = guest;
        let mark = lab.audit_mark();
        tty.signal(Signal::SIGKILL);
        wait_gone(tty, WAIT, guest);
        let r = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", guest)], WAIT);
        assert_eq!(r.get("reason"), Some("hangup"), "{}", r.raw);
        left -= 1;
        assert!(
            poll(WAIT, || (lab.pair_clients(&api).len() == left)
                .then_some(()))
            .is_some(),
            "{guest}'s client is still on the server: {:?}",
            lab.pair_clients(&api)
        );
    }
}
