//! The host's side, end to end: `pairshell host add` run by root, then
//! `share`, `grant`, `revoke`, `unshare`, `who` and `kick` run by a throwaway
//! host account, with guests joining through the real sshd and every audit
//! line caught by the lab's syslog receiver. See `lab/src/lib.rs`.
//!
//! Nothing here writes a host file or starts a tmux server the way
//! `guest_sshd.rs` does: the host's commands must do it, and the guest flow
//! must accept what they did.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use jiff::{Timestamp, ToSpan};
use support::attack::gone_within;
use support::{Lab, Record, Run, Shared, WAIT};

const ENTER: &[u8] = b"\r";

/// "At once": a guest is let go within this of the host's command that
/// ended their access (or of the moment their grant expired). The periodic
/// re-check is every 30 s, so a revoke that never signalled the guest's
/// pairshell would miss this bound by far.
const AT_ONCE: Duration = Duration::from_secs(5);

/// The grant is re-checked at least every 30 s: the most a test waits for a
/// change no command signals (a host file edited by hand).
const RECHECK: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The host's file, parsed.
fn host_toml(lab: &Lab, host: &str) -> toml::Table {
    let path = lab.host_file(host);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{} does not parse: {e}\n{text}", path.display()))
}

/// `sessions.SESSION.KEY` of the host's file as a list of names (empty when
/// the key or the session is missing).
fn names(lab: &Lab, host: &str, session: &str, key: &str) -> Vec<String> {
    let file = host_toml(lab, host);
    let Some(list) = file
        .get("sessions")
        .and_then(|s| s.get(session))
        .and_then(|s| s.get(key))
    else {
        return Vec::new();
    };
    list.as_array()
        .unwrap_or_else(|| panic!("sessions.{session}.{key} is not an array: {list}"))
        .iter()
        .map(|v| v.as_str().expect("a guest name is a string").to_string())
        .collect()
}

fn has_session(lab: &Lab, host: &str, session: &str) -> bool {
    host_toml(lab, host)
        .get("sessions")
        .and_then(|s| s.get(session))
        .is_some()
}

/// The audit record satisfying `fields`, or a panic that shows them all.
fn audit(lab: &Lab, fields: &[(&str, &str)]) -> Record {
    lab.wait_audit(fields)
}

/// Types `line` and Enter on a guest's terminal.
fn type_line(tty: &mut support::Tty, line: &str) {
    tty.send(line.as_bytes());
    tty.send(ENTER);
}

/// `pairshell check` as root must pass: the file the host commands wrote is
/// one a login accepts.
fn assert_check_passes(lab: &Lab) {
    let run = lab.check();
    assert!(run.success(), "pairshell check: {run}");
}

/// The pair account's entry in `server-access -l` on `s`'s server: `R`,
/// `W`, or `None` when it has no access.
fn server_access(lab: &Lab, s: &Shared) -> Option<char> {
    let out = lab.tmux_as(&s.host, &s.socket, &["server-access", "-l"]);
    assert!(out.status.success(), "server-access -l: {out:?}");
    let list = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{} (", lab.pair);
    let found = list
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix)?.chars().next());
    found
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .expect("gethostname")
        .to_string_lossy()
        .into_owned()
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .mode()
        & 0o7777
}

fn uid_of(user: &str) -> u32 {
    nix::unistd::User::from_name(user)
        .unwrap()
        .unwrap_or_else(|| panic!("no user {user}"))
        .uid
        .as_raw()
}

// ---------------------------------------------------------------------------
// host add / host remove
// ---------------------------------------------------------------------------

#[test]
fn host_add_sets_up_file_group_socket_dirs_and_tmpfiles_and_running_it_twice_is_harmless() {
    let mut lab = lab!();
    let host = lab.add_host_account();
    let sockets = lab.sockets_dir();
    // From nothing: the lab made an empty sockets_dir; host add must make it.
    fs::remove_dir(&sockets).expect("the lab's sockets_dir is empty before host add");

    let run = lab.pairshell_root(&["host", "add", &host]);
    assert!(run.success(), "host add: {run}");

    // The host file: owned by the host, 0644, nothing but comments.
    let file = lab.host_file(&host);
    let meta = fs::symlink_metadata(&file).expect("host add creates the host file");
    assert!(meta.is_file(), "{}", file.display());
    assert_eq!(meta.uid(), uid_of(&host), "owner of {}", file.display());
    assert_eq!(mode_of(&file), 0o644, "mode of {}", file.display());
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.lines().any(|l| l.trim_start().starts_with('#')),
        "the new host file has no commented example:\n{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')),
        "the new host file must share nothing (only comments):\n{text}"
    );

    // Both the host and the pair account are in the socket group.
    let members = lab.socket_group_members();
    for who in [host.as_str(), lab.pair.as_str()] {
        assert!(
            members.iter().any(|m| m == who),
            "{who} is not in {}: {members:?}",
            lab.socket_group
        );
    }

    // sockets_dir (root 0755), .clients (pair:group 2750), HOST (host:group 2750).
    let m = fs::symlink_metadata(&sockets).expect("host add creates sockets_dir");
    assert!(m.is_dir());
    assert_eq!((m.uid(), mode_of(&sockets)), (0, 0o755), "sockets_dir");
    let clients = sockets.join(".clients");
    let m = fs::symlink_metadata(&clients).expect("host add creates sockets_dir/.clients");
    assert!(m.is_dir());
    assert_eq!(
        (m.uid(), m.gid(), mode_of(&clients)),
        (lab.pair_uid, lab.socket_gid, 0o2750),
        "sockets_dir/.clients"
    );
    let dir = sockets.join(&host);
    let m = fs::symlink_metadata(&dir).expect("host add creates sockets_dir/HOST");
    assert!(m.is_dir());
    assert_eq!(
        (m.uid(), m.gid(), mode_of(&dir)),
        (uid_of(&host), lab.socket_gid, 0o2750),
        "sockets_dir/{host} (uid, gid, mode)"
    );

    // The tmpfiles line that brings the directory back after a reboot.
    let want = format!("d {} 2750 {host} {} -", dir.display(), lab.socket_group);
    let tmpfiles = fs::read_to_string(lab.tmpfiles()).expect("host add writes the tmpfiles file");
    let lines: Vec<String> = tmpfiles
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines.iter().filter(|l| **l == want).count(),
        1,
        "want exactly one {want:?} in {}:\n{tmpfiles}",
        lab.tmpfiles().display()
    );
    assert_check_passes(&lab);

    // The host writes in their file; a second host add keeps everything.
    let mine = format!("{text}# the host's own note\n");
    fs::write(&file, &mine).unwrap();
    let run = lab.pairshell_root(&["host", "add", &host]);
    assert!(run.success(), "second host add: {run}");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        mine,
        "host file changed"
    );
    assert_eq!(
        fs::read_to_string(lab.tmpfiles()).unwrap(),
        tmpfiles,
        "tmpfiles file changed"
    );
    assert_eq!(mode_of(&file), 0o644);
    assert_eq!(fs::symlink_metadata(&file).unwrap().uid(), uid_of(&host));
    assert_eq!(mode_of(&dir), 0o2750);
    assert_eq!(
        lab.socket_group_members()
            .iter()
            .filter(|m| **m == host)
            .count(),
        1
    );
}

#[test]
fn host_add_is_for_root_only_and_for_existing_users_only() {
    let mut lab = lab!();
    let host = lab.enable_host();
    let other = lab.add_host_account();

    // A host cannot make someone else (or themselves again) a host.
    let run = lab.pairshell_as(&host, &["host", "add", &other]);
    assert!(!run.success(), "host add by a non-root user: {run}");
    assert!(
        !run.stderr.trim().is_empty(),
        "a refusal must say why: {run}"
    );
    assert!(!lab.host_file(&other).exists());
    assert!(!lab.sockets_dir().join(&other).exists());
    assert!(!lab.socket_group_members().contains(&other));
    let run = lab.pairshell_as(&host, &["host", "remove", &host]);
    assert!(!run.success(), "host remove by a non-root user: {run}");
    assert!(lab.host_file(&host).exists());

    let run = lab.pairshell_root(&["host", "add", "pstnosuchuser"]);
    assert!(
        !run.success(),
        "host add of a user that does not exist: {run}"
    );
    assert!(run.stderr.contains("pstnosuchuser"), "{run}");
    assert!(!lab.host_file("pstnosuchuser").exists());
}

#[test]
fn host_remove_takes_away_the_file_the_tmpfiles_line_and_the_group_membership() {
    let mut lab = lab!();
    let h1 = lab.enable_host();
    let h2 = lab.enable_host();
    let run = lab.pairshell_root(&["host", "remove", &h1]);
    assert!(run.success(), "host remove: {run}");

    assert!(!lab.host_file(&h1).exists(), "host file still there");
    assert!(
        lab.host_file(&h2).exists(),
        "the other host's file went too"
    );
    let tmpfiles = fs::read_to_string(lab.tmpfiles()).unwrap_or_default();
    let mention = |h: &str| {
        tmpfiles.lines().any(|l| {
            l.split_whitespace().nth(1) == Some(&*lab.sockets_dir().join(h).to_string_lossy())
        })
    };
    assert!(!mention(&h1), "tmpfiles still names {h1}:\n{tmpfiles}");
    assert!(mention(&h2), "tmpfiles lost {h2}:\n{tmpfiles}");
    let members = lab.socket_group_members();
    assert!(
        !members.contains(&h1),
        "{h1} still in the group: {members:?}"
    );
    assert!(members.contains(&h2), "{h2} left the group: {members:?}");
    assert!(
        members.contains(&lab.pair),
        "the pair account left the group: {members:?}"
    );

    // A removed host is a host no more.
    let run = lab.share_run(&h1, "api", &[]);
    assert!(!run.success(), "share after host remove: {run}");
    assert_check_passes(&lab);
}

// ---------------------------------------------------------------------------
// share
// ---------------------------------------------------------------------------

#[test]
fn share_from_nothing_serves_each_guest_in_the_granted_mode_and_prints_the_join_line() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();

    let (run, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    // The server: a socket owned by the host, group socket_group, 0660.
    let m = fs::symlink_metadata(&api.socket).expect("the session's socket");
    assert!(m.file_type().is_socket(), "{}", api.socket.display());
    assert_eq!(
        (m.uid(), m.gid(), mode_of(&api.socket)),
        (uid_of(&host), lab.socket_gid, 0o660),
        "{} (uid, gid, mode)",
        api.socket.display()
    );
    // One read-write grant: the pair account may write on the server.
    assert_eq!(server_access(&lab, &api), Some('W'), "server-access");
    // The grants are in the host's file, and the file passes check.
    assert_eq!(names(&lab, &host, "api", "read_write"), ["alice"]);
    assert_eq!(names(&lab, &host, "api", "read_only"), ["bob"]);
    assert_check_passes(&lab);
    audit(
        &lab,
        &[
            ("event", "share"),
            ("by", &host),
            ("host", &host),
            ("session", "api"),
        ],
    );

    // alice: read-write, and what she types runs in the host's pane.
    let mut tty = lab.attach(&alice, "api", &api);
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(!client.readonly, "{client:?}");
    assert_eq!(client.session, "api");
    type_line(&mut tty, "echo rw-typed-$((6*7))");
    assert!(
        lab.wait_pane_line(&api, "rw-typed-42"),
        "alice's command never ran:\n{}",
        lab.capture_pane(&api)
    );
    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "alice after C-b d");
    assert!(lab.wait_no_pair_client(&api));

    // bob: read-only, and nothing he types reaches the pane.
    let mut tty = lab.attach(&bob, "api", &api);
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "bob got a writable client: {client:?}");
    type_line(&mut tty, "echo ro-typed-$((6*7))");
    // C-b d is processed after every key typed before it; the host's line
    // after that shows the pane has echoed all that reached it.
    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "bob after C-b d");
    assert!(lab.wait_no_pair_client(&api));
    lab.host_types_line(&api, "echo host-sentinel-$((3+1))");
    assert!(lab.wait_pane_line(&api, "host-sentinel-4"));
    let pane = lab.capture_pane(&api);
    assert!(
        !pane.contains("ro-typed"),
        "a read-only guest's keys reached the pane:\n{pane}"
    );
    let join = audit(&lab, &[("event", "join"), ("guest", "bob")]);
    assert_eq!(join.get("mode"), Some("read-only"), "{}", join.raw);
    assert_eq!(join.get("host"), Some(host.as_str()), "{}", join.raw);

    // The line the host gives their guests, on a line of its own so it can
    // be copied (or piped) as is.
    let join_line = format!("ssh -t {}@{} api", lab.pair, hostname());
    assert!(
        run.stdout.lines().any(|l| l.trim() == join_line),
        "share did not print {join_line:?} as a line: {run}"
    );
}

#[test]
fn share_without_detach_attaches_the_host_to_the_new_session() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let host = lab.enable_host();

    let mut tty = lab.pairshell_tty_as(&host, &["share", "api", "--ro", "alice"]);
    let socket = lab.host_socket(&host, "api");
    let attached = support::poll(WAIT, || {
        socket.exists().then_some(())?;
        lab.list_clients_at(&socket)
            .into_iter()
            .find(|c| c.user == host && c.session == "api")
    });
    assert!(
        attached.is_some(),
        "share without --detach did not attach the host:\n{}",
        tty.text()
    );
    lab.adopt_server(&host, &socket);
    assert!(tty.is_alive(), "{}", tty.text());
    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "the host after C-b d");
    assert_eq!(names(&lab, &host, "api", "read_only"), ["alice"]);
}

#[test]
fn rerunning_share_moves_grants_and_keeps_the_hosts_comments() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let _bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);

    // The host annotates their file: a trailing comment on a key and a
    // comment line of their own.
    let path = lab.host_file(&host);
    let text = fs::read_to_string(&path).unwrap();
    let mut edited = String::new();
    let mut tagged = false;
    for line in text.lines() {
        edited.push_str(line);
        if !tagged && line.trim_start().starts_with("socket") {
            edited.push_str(" # trailing-keep");
            tagged = true;
        }
        edited.push('\n');
    }
    assert!(tagged, "no socket key in the host file:\n{text}");
    edited.push_str("# keep me\n");
    fs::write(&path, &edited).unwrap();
    assert_check_passes(&lab);

    // alice moves from read-write to read-only.
    let run = lab.share_run(&host, "api", &["--ro", "alice"]);
    assert!(run.success(), "share api --ro alice: {run}");
    let after = fs::read_to_string(&path).unwrap();
    for kept in ["# keep me", "# trailing-keep"] {
        assert!(after.contains(kept), "{kept:?} lost:\n{after}");
    }
    for line in text.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(after.contains(line), "comment {line:?} lost:\n{after}");
    }
    assert!(
        !names(&lab, &host, "api", "read_write").contains(&"alice".to_string()),
        "alice is still read-write:\n{after}"
    );
    let mut ro = names(&lab, &host, "api", "read_only");
    ro.sort();
    assert_eq!(ro, ["alice", "bob"], "{after}");
    assert_eq!(fs::symlink_metadata(&path).unwrap().uid(), uid_of(&host));
    assert_eq!(mode_of(&path), 0o644);
    assert_check_passes(&lab);
    // No read-write grant is left: the pair account may only read.
    assert_eq!(
        server_access(&lab, &api),
        Some('R'),
        "server-access for the pair account with read-only grants only"
    );

    // The same command again changes nothing.
    let run = lab.share_run(&host, "api", &["--ro", "alice"]);
    assert!(run.success(), "share api --ro alice, again: {run}");
    assert_eq!(fs::read_to_string(&path).unwrap(), after, "not idempotent");

    // And the move is real: alice now joins read-only.
    let mut tty = lab.attach(&alice, "api", &api);
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "alice still writable: {client:?}");
    let join = audit(&lab, &[("event", "join"), ("guest", "alice")]);
    assert_eq!(join.get("mode"), Some("read-only"), "{}", join.raw);
    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "alice after C-b d");
}

#[test]
fn share_by_a_user_who_is_not_set_up_as_a_host_is_told_how_to_become_one() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let stranger = lab.add_host_account();

    let run = lab.share_run(&stranger, "api", &["--ro", "alice"]);
    assert!(!run.success(), "share by a user with no host file: {run}");
    let file = lab.host_file(&stranger);
    assert!(
        run.stderr.contains("host add") || run.stderr.contains(&*file.to_string_lossy()),
        "the refusal must say what is missing (the host file, `host add`): {run}"
    );
    assert!(!file.exists());
    assert!(!lab.host_socket(&stranger, "api").exists());
}

#[test]
fn share_and_grant_refuse_a_guest_the_admin_never_declared_by_name() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let before = fs::read_to_string(lab.host_file(&host)).unwrap();

    let run = lab.share_run(&host, "api", &["--rw", "nosuchguest"]);
    assert!(!run.success(), "share --rw nosuchguest: {run}");
    assert!(run.stderr.contains("nosuchguest"), "{run}");
    assert_eq!(fs::read_to_string(lab.host_file(&host)).unwrap(), before);
    assert!(
        !lab.host_socket(&host, "api").exists(),
        "a refused share started a server anyway"
    );

    let (_, _api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let before = fs::read_to_string(lab.host_file(&host)).unwrap();
    let run = lab.pairshell_as(&host, &["grant", "api", "nosuchguest", "--rw"]);
    assert!(!run.success(), "grant nosuchguest: {run}");
    assert!(run.stderr.contains("nosuchguest"), "{run}");
    assert_eq!(fs::read_to_string(lab.host_file(&host)).unwrap(), before);
}

// ---------------------------------------------------------------------------
// who
// ---------------------------------------------------------------------------

#[test]
fn who_lists_each_guest_with_mode_address_and_the_tmux_client_pid() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);

    let run = lab.pairshell_as(&host, &["who"]);
    assert!(run.success(), "who with nobody there: {run}");
    let header = ["SESSION", "GUEST", "MODE", "SINCE", "FROM", "PID"];
    let rows = |run: &Run| -> Vec<Vec<String>> {
        let mut lines = run.stdout.lines().filter(|l| !l.trim().is_empty());
        let head: Vec<&str> = lines
            .next()
            .unwrap_or_else(|| panic!("who printed no header: {run}"))
            .split_whitespace()
            .collect();
        assert_eq!(head, header, "{run}");
        lines
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    assert!(rows(&run).is_empty(), "{run}");

    let started = Timestamp::now() - 2.seconds();
    let _a = lab.attach(&alice, "api", &api);
    let _b = lab.ssh_tty(&bob, Some("api"));
    assert!(
        support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some(),
        "two guests never attached: {:?}",
        lab.list_clients(&api)
    );
    // The host's own client is not a guest.
    let _host_tty = lab.host_tty(&host, &api.socket, "api");

    let run = lab.pairshell_as(&host, &["who"]);
    assert!(run.success(), "who: {run}");
    let mut got = rows(&run);
    got.sort();
    assert_eq!(got.len(), 2, "want alice and bob only: {run}");
    let tmux_pids: std::collections::BTreeMap<i32, bool> = lab
        .pair_clients(&api)
        .into_iter()
        .map(|c| (c.pid, c.readonly))
        .collect();
    for (row, (guest, mode)) in got
        .iter()
        .zip([("alice", "read-write"), ("bob", "read-only")])
    {
        assert_eq!(row.len(), 6, "{row:?}: {run}");
        assert_eq!(row[0], "api", "{row:?}");
        assert_eq!(row[1], guest, "{row:?}");
        assert_eq!(row[2], mode, "{row:?}");
        let since: Timestamp = row[3]
            .parse()
            .unwrap_or_else(|e| panic!("SINCE {:?} is not RFC 3339: {e}", row[3]));
        assert!(
            since >= started && since <= Timestamp::now(),
            "SINCE {since} is not when {guest} joined (after {started})"
        );
        assert!(row[3].ends_with('Z'), "SINCE is not UTC: {row:?}");
        assert_eq!(row[4], "127.0.0.1", "{row:?}");
        let pid: i32 = row[5].parse().unwrap_or_else(|_| panic!("PID: {row:?}"));
        assert_eq!(
            tmux_pids.get(&pid),
            Some(&(mode == "read-only")),
            "{guest}'s PID {pid} is not its tmux client; tmux lists {tmux_pids:?}"
        );
    }
}

#[test]
fn who_shows_an_unrecorded_pair_client_as_unknown_and_no_other_hosts_guests() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let carol = lab.add_guest("carol", None);
    let host = lab.enable_host();
    let other_host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let (_, db) = lab.share_as(&other_host, "db", &["--rw", "carol"]);
    let _carol = lab.attach(&carol, "db", &db);

    // A tmux client of the pair account that no pairshell started (and so
    // left no record of who is behind it).
    let mut cmd = lab.command_as(&lab.pair, Path::new("/usr/bin/tmux"));
    cmd.arg("-S")
        .arg(&api.socket)
        .args(["attach", "-r", "-t", "=api"]);
    let _raw = support::Tty::spawn("tmux attach as the pair account", cmd);
    let client = lab
        .wait_pair_client(&api)
        .expect("the pair account's own client attached");

    let run = lab.pairshell_as(&host, &["who"]);
    assert!(run.success(), "who: {run}");
    let rows: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 1, "{run}");
    let row = &rows[0];
    assert_eq!(row.len(), 6, "{run}");
    assert_eq!(
        (row[0], row[1], row[2], row[5]),
        (
            "api",
            "unknown",
            "read-only",
            client.pid.to_string().as_str()
        ),
        "{run}"
    );
    assert!(
        !run.stdout.contains("carol"),
        "who listed another host's guest: {run}"
    );
}

// ---------------------------------------------------------------------------
// kick, revoke, unshare, expiry
// ---------------------------------------------------------------------------

#[test]
fn kick_ends_the_guests_ssh_connection_and_tells_the_guest_who_ended_it() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    let mut a = lab.attach(&alice, "api", &api);
    let mut b = lab.ssh_tty(&bob, Some("api"));
    assert!(support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some());
    let bob_pid = lab
        .pair_clients(&api)
        .into_iter()
        .find(|c| c.readonly)
        .expect("bob's read-only client")
        .pid;

    let run = lab.pairshell_as(&host, &["kick", "alice"]);
    assert!(run.success(), "kick alice: {run}");
    support::wait_gone(&mut a, WAIT, "alice after kick");
    let text = a.text();
    let said = format!("{host} ended your access");
    assert!(text.contains(&said), "alice was not told {said:?}:\n{text}");

    let r = audit(
        &lab,
        &[("event", "kick"), ("by", &host), ("guest", "alice")],
    );
    assert_eq!(r.get("session"), Some("api"), "{}", r.raw);
    let r = audit(&lab, &[("event", "leave"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("kicked"), "{}", r.raw);

    // bob was not kicked.
    let left: Vec<i32> = lab.pair_clients(&api).iter().map(|c| c.pid).collect();
    assert_eq!(left, [bob_pid], "kick alice touched bob");
    assert!(b.is_alive(), "bob's ssh ended:\n{}", b.text());
}

#[test]
fn kick_with_a_session_ends_only_the_guests_connection_to_that_session() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let (_, db) = lab.share_as(&host, "db", &["--ro", "alice"]);
    let mut on_api = lab.attach(&alice, "api", &api);
    let mut on_db = lab.attach(&alice, "db", &db);

    let run = lab.pairshell_as(&host, &["kick", "alice", "db"]);
    assert!(run.success(), "kick alice db: {run}");
    support::wait_gone(&mut on_db, WAIT, "alice's db connection after kick");
    assert!(lab.wait_no_pair_client(&db));
    let r = audit(
        &lab,
        &[("event", "kick"), ("by", &host), ("guest", "alice")],
    );
    assert_eq!(r.get("session"), Some("db"), "{}", r.raw);
    assert_eq!(
        lab.pair_clients(&api).len(),
        1,
        "kick alice db ended her api connection"
    );
    assert!(on_api.is_alive(), "{}", on_api.text());
    // A kick is not a revoke: the grant stands.
    assert_eq!(names(&lab, &host, "db", "read_only"), ["alice"]);
}

/// Pins row 13's "at once": `revoke` signals the guest's pairshell
/// (`detach-client -P`), which re-checks and lets them go with `leave
/// reason=revoked` within [`AT_ONCE`] of the host's command, not at the next
/// 30 s re-check; the other guest stays, and alice's next join is `deny
/// reason=not-shared`.
///
/// Positive controls: both guests were attached (two pair clients) before
/// the revoke, the revoke is in the trail, and bob is still connected.
#[test]
fn revoke_ends_a_connected_guest_at_once_and_keeps_the_others() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    let mut a = lab.attach(&alice, "api", &api);
    let mut b = lab.ssh_tty(&bob, Some("api"));
    assert!(support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some());

    let revoked = Instant::now();
    let run = lab.pairshell_as(&host, &["revoke", "api", "alice"]);
    assert!(run.success(), "revoke: {run}");
    assert!(
        !names(&lab, &host, "api", "read_write").contains(&"alice".to_string()),
        "alice still in the file"
    );
    audit(
        &lab,
        &[
            ("event", "revoke"),
            ("by", &host),
            ("guest", "alice"),
            ("session", "api"),
        ],
    );
    gone_within(&mut a, revoked, AT_ONCE, "alice after revoke");
    let r = lab
        .syslog()
        .wait_for(|r| r.has(&[("event", "leave"), ("guest", "alice")]), WAIT)
        .expect("alice's leave");
    assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);

    let left = lab.pair_clients(&api);
    assert!(
        left.len() == 1 && left[0].readonly,
        "bob's client should be the only one left: {left:?}"
    );
    assert!(b.is_alive(), "bob's ssh ended:\n{}", b.text());

    // alice cannot come back.
    let mut again = lab.ssh_tty(&alice, Some("api"));
    let code = support::wait_gone(&mut again, WAIT, "alice's second join");
    assert_ne!(code, 0, "{}", again.text());
    let r = audit(&lab, &[("event", "deny"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
}

/// Pins: `unshare` lets every connected guest go within [`AT_ONCE`] of the
/// host's command (`leave reason=revoked`) and later joins are `deny
/// reason=not-shared`.
///
/// Positive controls: both guests were attached (two pair clients) before
/// the unshare, and the unshare is in the trail.
#[test]
fn unshare_ends_every_live_guest_and_later_joins_are_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    let mut a = lab.attach(&alice, "api", &api);
    let mut b = lab.ssh_tty(&bob, Some("api"));
    assert!(support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some());

    let unshared = Instant::now();
    let run = lab.pairshell_as(&host, &["unshare", "api"]);
    assert!(run.success(), "unshare: {run}");
    audit(
        &lab,
        &[("event", "unshare"), ("by", &host), ("session", "api")],
    );
    assert!(!has_session(&lab, &host, "api"), "api still in the file");
    gone_within(&mut a, unshared, AT_ONCE, "alice after unshare");
    gone_within(&mut b, unshared, AT_ONCE, "bob after unshare");
    for guest in ["alice", "bob"] {
        let r = audit(&lab, &[("event", "leave"), ("guest", guest)]);
        assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);
    }
    assert!(lab.pair_clients(&api).is_empty() || !api.socket.exists());
    if api.socket.exists() {
        assert_eq!(
            server_access(&lab, &api),
            None,
            "unshare left the server open to the pair account"
        );
    }

    let mut again = lab.ssh_tty(&alice, Some("api"));
    let code = support::wait_gone(&mut again, WAIT, "a join after unshare");
    assert_ne!(code, 0, "{}", again.text());
    let r = audit(&lab, &[("event", "deny"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    assert_check_passes(&lab);
}

/// Waits for `tty` to end because its grant ran out at `expires`, then checks
/// the audit line and what the guest was told.
fn assert_ended_by_expiry(lab: &Lab, tty: &mut support::Tty, guest: &str, expires: Timestamp) {
    let mark = tty.mark();
    let until_expiry = Duration::from_millis(
        (expires.as_millisecond() - Timestamp::now().as_millisecond()).max(0) as u64,
    );
    assert!(
        tty.is_alive(),
        "{guest} was ended before their grant expired at {expires}:\n{}",
        tty.text()
    );
    gone_within(
        tty,
        Instant::now() + until_expiry,
        AT_ONCE,
        &format!("{guest} after its grant expired at {expires}"),
    );
    let ended = Timestamp::now();
    assert!(
        ended >= expires - 1.second(),
        "{guest}'s client ended at {ended}, before its grant expired at {expires}"
    );
    let r = lab
        .syslog()
        .wait_for(|r| r.has(&[("event", "leave"), ("guest", guest)]), WAIT)
        .unwrap_or_else(|| panic!("no leave for {guest}: {:?}", lab.syslog().raw()));
    assert_eq!(r.get("reason"), Some("expired"), "{}", r.raw);
    let text = tty.text_since(mark).to_lowercase();
    assert!(
        text.contains("expired"),
        "{guest} was not told the access expired:\n{text}"
    );
}

/// Pins: a share made `--for 8s` ends the guest within [`AT_ONCE`] of the
/// moment it expires (`leave reason=expired`, and the guest is told), not
/// at the next 30 s re-check, and not before.
///
/// Positive control: the guest is still connected until the expiry.
#[test]
fn share_for_a_duration_ends_the_guest_when_it_passes_with_reason_expired() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice", "--for", "8s"]);
    let file = host_toml(&lab, &host);
    let expires: Timestamp = file["sessions"]["api"]
        .get("expires")
        .and_then(|v| v.as_datetime())
        .unwrap_or_else(|| panic!("share --for wrote no expires date-time: {file}"))
        .to_string()
        .parse()
        .expect("expires is an RFC 3339 instant");
    assert!(
        expires > Timestamp::now() && expires < Timestamp::now() + 9.seconds(),
        "--for 8s gave expires = {expires}"
    );

    let mut tty = lab.attach(&alice, "api", &api);
    assert_ended_by_expiry(&lab, &mut tty, "alice", expires);
    assert!(lab.wait_no_pair_client(&api));
}

/// Pins: a grant `--until` a time ends that guest within [`AT_ONCE`] of it
/// (`leave reason=expired`), and only that guest.
///
/// Positive controls: both guests were attached before, the grant is in
/// the trail, and the other guest is still connected after.
#[test]
fn grant_until_a_time_ends_only_that_guest_when_it_passes() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let until = Timestamp::from_second(Timestamp::now().as_second() + 9).unwrap();
    let until_text = until.to_string();
    let run = lab.pairshell_as(
        &host,
        &["grant", "api", "bob", "--rw", "--until", &until_text],
    );
    assert!(run.success(), "grant --until {until_text}: {run}");
    audit(
        &lab,
        &[
            ("event", "grant"),
            ("by", &host),
            ("guest", "bob"),
            ("session", "api"),
        ],
    );
    assert_eq!(names(&lab, &host, "api", "read_write"), ["bob"]);
    assert_check_passes(&lab);

    let mut a = lab.attach(&alice, "api", &api);
    let mut b = lab.ssh_tty(&bob, Some("api"));
    assert!(support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some());
    assert_ended_by_expiry(&lab, &mut b, "bob", until);
    let left = lab.pair_clients(&api);
    assert!(
        left.len() == 1 && left[0].readonly,
        "alice (read-only, no expiry) should be the only one left: {left:?}"
    );
    assert!(a.is_alive(), "alice's ssh ended:\n{}", a.text());
}

/// Pins row 13's "at once" for a demotion: `grant --ro` of a connected
/// read-write guest makes their client read-only within [`AT_ONCE`] of the
/// host's command, without ending it (issue 17: the mode is switched live;
/// `event=mode-change mode=read-only`, and the guest is told).
///
/// Positive controls: the client was writable before, and the same client
/// (same pid) is still attached after.
#[test]
fn demoting_a_connected_read_write_guest_makes_the_client_read_only_at_once() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let mut tty = lab.attach(&alice, "api", &api);
    let before = lab.wait_pair_client(&api).unwrap();
    assert!(!before.readonly);

    let run = lab.pairshell_as(&host, &["grant", "api", "alice", "--ro"]);
    assert!(run.success(), "grant --ro: {run}");
    assert_eq!(names(&lab, &host, "api", "read_only"), ["alice"]);
    assert!(names(&lab, &host, "api", "read_write").is_empty());
    // tmux's flag is set before the command returns; the relay follows.
    let after = lab.wait_pair_client(&api).unwrap();
    assert_eq!(after.pid, before.pid, "the client was replaced");
    assert!(
        after.readonly,
        "alice's client is still writable: {after:?}"
    );
    tty.send(b"echo demoted-$((6*7))");
    tty.send(ENTER);
    lab.pane_never_shows(&api, "demoted-42");
    let r = audit(&lab, &[("event", "mode-change"), ("guest", "alice")]);
    assert_eq!(r.get("mode"), Some("read-only"), "{}", r.raw);
    tty.wait_for("made you read-only").unwrap();
    assert!(tty.is_alive(), "the demote ended alice's connection");
}

#[test]
fn grant_removed_by_hand_ends_the_guest_at_the_next_periodic_recheck() {
    // No pairshell command and no signal: the host edits the file by hand.
    // The guest's pairshell re-checks at least every 30 s.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let mut tty = lab.attach(&alice, "api", &api);

    let path = lab.host_file(&host);
    let text = fs::read_to_string(&path).unwrap();
    let edited = text.replace("\"alice\"", "");
    assert_ne!(edited, text, "alice not quoted in the file:\n{text}");
    fs::write(&path, edited).unwrap();
    // 30 s, plus a little for the check itself on a loaded machine.
    support::wait_gone(
        &mut tty,
        RECHECK + Duration::from_secs(5),
        "alice after her grant was removed by hand",
    );
    let r = audit(&lab, &[("event", "leave"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);
}

/// Pins row 13's re-check on SIGHUP (`Watch::check`): a grant edited away by
/// hand ends the guest at the next SIGHUP (`reason=revoked`), not 30 s later.
#[test]
fn sighup_makes_a_guests_pairshell_recheck_its_grant_at_once() {
    // The host file changes behind pairshell's back (the host edits it by
    // hand); SIGHUP to the guest's pairshell must make it notice.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let mut tty = lab.attach(&alice, "api", &api);
    let join = audit(&lab, &[("event", "join"), ("guest", "alice")]);
    let pairshell_pid = join.pid.expect("the join line carries pairshell's pid");
    let hup = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pairshell_pid as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("SIGHUP the guest's pairshell")
    };

    // While the grant stands, SIGHUP changes nothing: a line the host types
    // after it still reaches alice, and her client is still there.
    hup();
    lab.host_types_line(&api, "echo after-hup-$((2*21))");
    tty.wait_for("after-hup-42").unwrap();
    assert_eq!(lab.pair_clients(&api).len(), 1, "SIGHUP alone ended alice");
    assert!(tty.is_alive(), "{}", tty.text());

    let path = lab.host_file(&host);
    let text = fs::read_to_string(&path).unwrap();
    let edited = text.replace("\"alice\"", "");
    assert_ne!(edited, text, "alice not quoted in the file:\n{text}");
    fs::write(&path, edited).unwrap();
    assert_check_passes(&lab);
    // Since issue 17 the guest's pairshell also watches the host's file,
    // so it may have let alice go before this signal: then it finds no one.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pairshell_pid as i32),
        nix::sys::signal::Signal::SIGHUP,
    );
    support::wait_gone(&mut tty, WAIT, "alice after her grant went and SIGHUP");
    let r = lab
        .syslog()
        .wait_for(|r| r.has(&[("event", "leave"), ("guest", "alice")]), WAIT)
        .expect("alice's leave");
    assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);
}

// ---------------------------------------------------------------------------
// One shared session per server
// ---------------------------------------------------------------------------

/// Pins row 2's guest-flow layer (`Watch::other_sessions`): a server that
/// holds more than the shared session ends the guest (`other-sessions`)
/// unless the host file allows it.
#[test]
fn guest_is_ended_when_the_shared_server_holds_another_session() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    lab.start_other_session(&api);

    let mut tty = lab.ssh_tty(&bob, Some("api"));
    let code = support::wait_gone(&mut tty, WAIT, "bob on a server with two sessions");
    let text = tty.text();
    assert_ne!(code, 0, "{text}");
    assert!(
        !text.contains(support::OTHER_MARKER),
        "bob saw the other session:\n{text}"
    );
    assert!(
        text.contains("other session"),
        "bob was not told why:\n{text}"
    );
    assert!(
        lab.wait_no_pair_client(&api),
        "{:?}",
        lab.list_clients(&api)
    );
    let r = lab
        .syslog()
        .wait_for(
            |r| r.get("guest") == Some("bob") && matches!(r.get("event"), Some("deny" | "leave")),
            WAIT,
        )
        .unwrap_or_else(|| panic!("no deny/leave for bob: {:?}", lab.syslog().raw()));
    assert!(!r.field("reason").is_empty(), "{}", r.raw);
}

/// Pins row 2's second layer: a read-only guest's client that reaches
/// another session on the shared server (moved there by the host) is
/// detached by the server's hooks before it is drawn there, with no `C-b d`
/// from the guest, and the guest's terminal never shows that session.
///
/// Positive control: bob's client was attached, read-only, on `api` (the
/// guest flow accepted the server) before the host moved it.
#[test]
fn read_only_guest_switching_to_another_session_is_detached_instead_of_seeing_it() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    // The host says other sessions on this server are fine; the server's
    // hooks must still keep guests on api.
    lab.allow_other_sessions(&host, "api");
    assert_check_passes(&lab);
    lab.start_other_session(&api);

    let mut tty = lab.attach(&bob, "api", &api);
    let client = lab.wait_pair_client(&api).unwrap();
    assert!(client.readonly, "{client:?}");
    assert_eq!(client.session, "api");
    // Still there a moment later: the guest flow accepted the server.
    assert!(tty.is_alive(), "{}", tty.text());

    // bob's own C-b ) never reaches tmux (the relay drops a read-only
    // guest's keys: escape_matrix row 2). The hooks are the second layer:
    // a pair client that does reach another session, here moved there by
    // the host, is detached before it is drawn there, with no C-b d.
    lab.host_moves_client(&api, &client, "other");
    assert!(
        lab.wait_no_pair_client(&api),
        "bob's client is still on the server after being moved: {:?}",
        lab.list_clients(&api)
    );
    support::wait_gone(&mut tty, WAIT, "bob after being moved");
    let text = tty.text();
    assert!(
        !text.contains(support::OTHER_MARKER),
        "bob's terminal showed the other session:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// What the host sees
// ---------------------------------------------------------------------------

#[test]
fn host_sees_when_a_guest_joins_and_leaves() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");

    let mut tty = lab.attach(&alice, "api", &api);
    host_tty
        .wait_for("alice joined (read-only) from 127.0.0.1")
        .unwrap();
    tty.wait_for(&format!(
        "pairshell: you joined {host}/api read-only — Ctrl-b d to leave"
    ))
    .unwrap();

    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "alice after C-b d");
    host_tty.wait_for("alice left after").unwrap();
}

/// Pins row 4: tmux's `server-access -w` (which `grant --rw` and `share
/// --rw` run) makes every pair-account client writable, `attach -r` or not;
/// a read-only guest already connected still types nothing into the pane
/// (the relay forwards none of their keys, and `share` flips the flag back).
///
/// Positive controls: the host's sentinel made the round trip to bob's
/// terminal before the pane is read; alice, now read-write, typing the same
/// way does reach the pane.
#[test]
fn read_only_guest_stays_read_only_when_the_host_later_grants_a_writer() {
    // tmux's `server-access -w` makes every client of the pair account
    // writable, `attach -r` or not. A read-only guest already connected
    // must not be able to type after the host grants someone read-write,
    // or re-runs `share`.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    assert_eq!(server_access(&lab, &api), Some('R'));
    let mut tty = lab.attach(&bob, "api", &api);
    assert!(lab.wait_pair_client(&api).unwrap().readonly);
    assert_ignores_size(&lab, &api);

    let run = lab.pairshell_as(&host, &["grant", "api", "alice", "--rw"]);
    assert!(run.success(), "grant alice --rw: {run}");
    assert_eq!(server_access(&lab, &api), Some('W'));
    lab.share_as(&host, "api", &["--rw", "alice"]);
    let run = lab.pairshell_as(&host, &["grant", "api", "carol", "--ro"]);
    assert!(!run.success(), "carol is not a guest: {run}");

    let clients = lab.pair_clients(&api);
    assert!(
        clients.len() == 1 && clients[0].readonly,
        "bob's client is no longer read-only: {clients:?}"
    );
    type_line(&mut tty, "echo ro-typed-$((6*7))");
    // The sentinel made the round trip to bob's terminal: his keys had long
    // been handled by then.
    lab.host_sentinel_seen(&api, &mut tty, "after-writer");
    let pane = lab.capture_pane(&api);
    assert!(
        !pane.contains("ro-typed"),
        "a read-only guest's keys reached the pane:\n{pane}"
    );
    assert_ignores_size(&lab, &api);

    // The control: alice, read-write now, typing the same way does reach
    // the pane.
    let mut a = lab.attach(&alice, "api", &api);
    type_line(&mut a, "echo rw-typed-$((6*7))");
    assert!(
        lab.wait_pane_line(&api, "rw-typed-42"),
        "{}",
        lab.capture_pane(&api)
    );
}

/// Every pair-account client on `s`'s server has tmux's `ignore-size` flag:
/// a read-only guest's terminal never resizes the host's window.
fn assert_ignores_size(lab: &Lab, s: &Shared) {
    let out = lab.tmux_as(
        &s.host,
        &s.socket,
        &["list-clients", "-F", "#{client_user} #{client_flags}"],
    );
    let list = String::from_utf8_lossy(&out.stdout);
    let pair: Vec<&str> = list
        .lines()
        .filter(|l| l.split(' ').next() == Some(lab.pair.as_str()))
        .collect();
    assert!(!pair.is_empty(), "no pair client: {list}");
    for l in pair {
        assert!(
            l.contains("ignore-size"),
            "a read-only guest may resize: {l}"
        );
    }
}

#[test]
fn second_session_shared_on_the_same_socket_is_refused() {
    // The hooks and server-access are set per server, for one session: a
    // second shared session on that server would undo the first's.
    let mut lab = lab!();
    lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "alice"]);
    let path = lab.host_file(&host);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[sessions.db]\nsocket = \"{}\"\n",
        api.socket.display()
    ));
    fs::write(&path, &text).unwrap();

    let run = lab.share_run(&host, "db", &["--ro", "alice"]);
    assert!(!run.success(), "share db on api's socket: {run}");
    assert!(run.stderr.contains("api is already shared"), "{run}");
    assert!(names(&lab, &host, "db", "read_only").is_empty());
}
