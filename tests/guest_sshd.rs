//! The guest's side, end to end: the real binary behind a real sshd, joining
//! real tmux servers owned by another Unix user, with every audit line caught
//! by a syslog receiver. See `lab/src/lib.rs` for the lab.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{prompt, Lab, Record, WAIT};

const ENTER: &[u8] = b"\r";
const ARROW_DOWN: &[u8] = b"\x1b[B";

fn assert_deny(r: &Record, guest: &str, fingerprint: &str, request: &str) {
    assert_eq!(r.get("event"), Some("deny"), "{}", r.raw);
    assert_eq!(r.get("guest"), Some(guest), "{}", r.raw);
    assert_eq!(r.get("fingerprint"), Some(fingerprint), "{}", r.raw);
    assert_eq!(r.get("request"), Some(request), "{}", r.raw);
    assert!(!r.field("reason").is_empty(), "{}", r.raw);
}

fn no_join(lab: &Lab) {
    let joins: Vec<_> = lab
        .syslog()
        .records()
        .into_iter()
        .filter(|r| r.get("event") == Some("join"))
        .map(|r| r.raw)
        .collect();
    assert!(joins.is_empty(), "unexpected join: {joins:?}");
}

// ---------------------------------------------------------------------------
// authorized-keys (run directly, no sshd involved)
// ---------------------------------------------------------------------------

#[test]
fn authorized_keys_prints_one_restricted_line_for_a_current_guest() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let want = format!(
        "restrict,pty,command=\"{} --config {} login\" {} {}",
        lab.bin.display(),
        lab.config.display(),
        alice.key_type,
        alice.key_base64
    );
    for as_uid in [None, Some(65534)] {
        let run = lab.authorized_keys(&lab.pair, &alice.key_type, &alice.key_base64, as_uid);
        assert!(run.success(), "as {as_uid:?}: {run}");
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines, [want.as_str()], "as {as_uid:?}: {run}");
    }
    // Read after a later login's line has arrived (a settled trail).
    let records: Vec<String> = lab.audit_settle(0).into_iter().map(|r| r.raw).collect();
    assert!(
        records.is_empty(),
        "authorized-keys must not log: {records:?}"
    );
}

#[test]
fn authorized_keys_carries_the_guest_expiry_as_expiry_time() {
    let mut lab = lab!();
    let dave = lab.add_guest("dave", Some("2030-01-02T03:04:05Z"));
    let run = lab.authorized_keys(&lab.pair, &dave.key_type, &dave.key_base64, None);
    assert!(run.success(), "{run}");
    let want = format!(
        "restrict,pty,command=\"{} --config {} login\",expiry-time=\"20300102030405Z\" {} {}",
        lab.bin.display(),
        lab.config.display(),
        dave.key_type,
        dave.key_base64
    );
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [want.as_str()],
        "{run}"
    );
}

#[test]
fn authorized_keys_prints_nothing_for_keys_users_and_guests_it_must_not_accept() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let carol = lab.add_guest("carol", Some("2020-01-01T00:00:00Z"));
    let stranger = lab.make_key("stranger");
    let cases: Vec<(&str, String, String, String)> = vec![
        (
            "a key no guest has",
            lab.pair.clone(),
            stranger.key_type.clone(),
            stranger.key_base64.clone(),
        ),
        (
            "a guest key, but another user",
            "root".into(),
            alice.key_type.clone(),
            alice.key_base64.clone(),
        ),
        (
            "a guest key, but the user's name is a prefix",
            lab.pair[..lab.pair.len() - 1].to_string(),
            alice.key_type.clone(),
            alice.key_base64.clone(),
        ),
        (
            "an expired guest",
            lab.pair.clone(),
            carol.key_type.clone(),
            carol.key_base64.clone(),
        ),
        (
            "garbage base64",
            lab.pair.clone(),
            "ssh-ed25519".into(),
            "!!!not-base64!!!".into(),
        ),
        (
            "base64 that is not a key",
            lab.pair.clone(),
            "ssh-ed25519".into(),
            "aGVsbG8gd29ybGQ=".into(),
        ),
        (
            "a guest key under the wrong type",
            lab.pair.clone(),
            "ssh-rsa".into(),
            alice.key_base64.clone(),
        ),
    ];
    for (what, user, key_type, b64) in &cases {
        let run = lab.authorized_keys(user, key_type, b64, None);
        assert_eq!(run.code(), Some(0), "{what}: {run}");
        assert!(
            run.stdout.trim().is_empty(),
            "{what}: printed a line: {run}"
        );
    }
    // Read after a later login's line has arrived (a settled trail).
    let records: Vec<String> = lab.audit_settle(0).into_iter().map(|r| r.raw).collect();
    assert!(
        records.is_empty(),
        "authorized-keys must not log: {records:?}"
    );
}

// ---------------------------------------------------------------------------
// Joining through sshd
// ---------------------------------------------------------------------------

#[test]
fn read_write_guest_joins_by_name_and_its_keystrokes_reach_the_hosts_pane() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let mut tty = lab.ssh_tty(&alice, Some("api"));
    tty.wait_for(prompt("api", &host).trim_end()).unwrap();
    let client = lab
        .wait_pair_client(&api)
        .expect("alice's client on api's server");
    assert!(
        !client.readonly,
        "a read-write guest got a read-only client: {client:?}"
    );
    assert_eq!(client.session, "api");

    tty.send(b"echo rw-typed-$((6*7))");
    tty.send(ENTER);
    assert!(
        lab.wait_pane_line(&api, "rw-typed-42"),
        "the guest's command never ran in the host's pane:\n{}",
        lab.capture_pane(&api)
    );
    tty.wait_for("rw-typed-42\n").unwrap();
}

/// Pins row 1 with every layer in place: on this server the pair account's
/// `server-access` entry is writable, so the relay and `attach -r` stand
/// alone; the test fails only when both are gone. Each on its own is
/// `relay::read_only_guest_types_nothing_after_the_hosts_own_server_access_w`
/// (the relay) and
/// `relay::read_only_client_on_attach_r_alone_cannot_type_where_the_pair_account_may_write`.
#[test]
fn read_only_guest_joins_but_its_keystrokes_never_reach_the_hosts_pane() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &["bob"]);
    lab.host_types_line(&api, "echo host-banner-$((1+1))");
    assert!(lab.wait_pane_line(&api, "host-banner-2"));

    let mut tty = lab.ssh_tty(&bob, Some("api"));
    // Attached: the pane's content shows up on the guest's terminal, and the
    // host's server lists a read-only client of the pair account.
    tty.wait_for("host-banner-2").unwrap();
    let client = lab
        .wait_pair_client(&api)
        .expect("bob's client on api's server");
    assert!(
        client.readonly,
        "a read-only guest got a writable client: {client:?}"
    );

    tty.send(b"echo ro-typed-$((6*7))");
    tty.send(ENTER);

    // Still attached after typing, and still seeing the pane.
    lab.host_types_line(&api, "echo host-after-$((2+1))");
    assert!(lab.wait_pane_line(&api, "host-after-3"));
    tty.wait_for("host-after-3").unwrap();
    assert_eq!(
        lab.pair_clients(&api).len(),
        1,
        "the read-only client went away after typing"
    );

    // Detaching flushes: once the server has processed C-b d, it has processed
    // every key typed before it. A line typed by the host after that proves
    // the pane has echoed everything that reached it.
    tty.tmux_key(b"d");
    assert!(
        lab.wait_no_pair_client(&api),
        "C-b d did not detach the read-only client"
    );
    lab.host_types_line(&api, "echo host-sentinel-$((3+1))");
    assert!(lab.wait_pane_line(&api, "host-sentinel-4"));
    let pane = lab.capture_pane(&api);
    assert!(
        !pane.contains("ro-typed"),
        "a read-only guest's keystrokes reached the pane:\n{pane}"
    );
    assert!(
        !pane.contains("42"),
        "a read-only guest's command ran:\n{pane}"
    );
}

#[test]
fn chooser_lists_exactly_the_permitted_sessions_and_enter_joins_the_chosen_one() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let _bob = lab.add_guest("bob", None);
    let h1 = lab.add_host();
    let h2 = lab.add_host();
    let api = lab.share(&h1, "api", &["alice"], &[]);
    let secret = lab.share(&h1, "secret", &["bob"], &[]);
    let db = lab.share(&h2, "db", &[], &["alice"]);

    let mut tty = lab.ssh_tty(&alice, None);
    let api_item = format!("{} (read-write)", api.label());
    let db_item = format!("{} (read-only)", db.label());
    tty.wait_until(WAIT, |t| t.contains(&api_item) && t.contains(&db_item))
        .unwrap_or_else(|t| panic!("the chooser never listed {api_item:?} and {db_item:?}:\n{t}"));
    let text = tty.text();
    assert!(
        !text.contains(&secret.label()) && !text.contains("/secret"),
        "the chooser offered a session not shared with alice:\n{text}"
    );

    // Pick the second entry (ArrowDown, Enter), whichever order they come in.
    let second = if text.find(&api_item) < text.find(&db_item) {
        &db
    } else {
        &api
    };
    let first = if second.name == "db" { &api } else { &db };
    tty.send(ARROW_DOWN);
    tty.send(ENTER);
    tty.wait_for(prompt(&second.name, &second.host).trim_end())
        .unwrap();
    let client = lab
        .wait_pair_client(second)
        .unwrap_or_else(|| panic!("no client on {} after choosing it", second.label()));
    assert_eq!(client.readonly, second.name == "db", "{client:?}");
    assert!(
        lab.pair_clients(first).is_empty(),
        "a client showed up on {}, which was not chosen",
        first.label()
    );
    assert!(lab.pair_clients(&secret).is_empty());
}

#[test]
fn list_prints_the_permitted_sessions_with_their_modes() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let _bob = lab.add_guest("bob", None);
    let h1 = lab.add_host();
    let h2 = lab.add_host();
    let api = lab.share(&h1, "api", &["alice"], &["bob"]);
    let _secret = lab.share(&h1, "secret", &["bob"], &[]);
    let db = lab.share(&h2, "db", &[], &["alice"]);

    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
    let got: BTreeSet<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let want_api = format!("{}\tread-write", api.label());
    let want_db = format!("{}\tread-only", db.label());
    let want: BTreeSet<&str> = [want_api.as_str(), want_db.as_str()].into();
    assert_eq!(got, want, "{run}");
    no_join(&lab);
}

#[test]
fn printed_ssh_command_line_runs_as_is_in_a_shell() {
    // The demo prints Lab::ssh_command_line for a person to paste; it must be
    // the command the tests run, and quote a request so that the local shell
    // hands it to ssh as one word.
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &[], &["bob"]);
    let sh = |line: &str| {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", line])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/root")
            .stdin(std::process::Stdio::null());
        support::run_with_timeout(cmd, Duration::from_secs(30))
    };

    let line = lab.ssh_command_line(&bob, false, Some("list"));
    assert!(line.starts_with("ssh -F "), "{line}");
    let run = sh(&line);
    assert!(run.success(), "{line}\n{run}");
    assert_eq!(run.stdout, format!("{}\tread-only\n", api.label()), "{run}");

    let request = "api; id";
    let line = lab.ssh_command_line(&bob, false, Some(request));
    assert!(line.ends_with(" 'api; id'"), "{line}");
    let run = sh(&line);
    assert!(!run.success(), "{line}\n{run}");
    assert!(
        !run.stdout.contains("uid="),
        "the local shell ran id: {run}"
    );
    let r = lab.wait_audit(&[("event", "deny"), ("request", request)]);
    assert_deny(&r, "bob", &bob.fingerprint, request);
    no_join(&lab);
}

/// Pins row 5: Landlock on the attached client: a read-write guest's
/// `detach-client -E` asks the client to exec a shell, which it cannot.
#[test]
fn read_write_guest_cannot_make_the_tmux_client_exec_a_shell() {
    // DESIGN.md: a read-write client can run `detach-client -E 'sh'`, which
    // asks the *client* (running as the pair account) to exec a shell;
    // Landlock must allow only the tmux binary to be executed.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let mut tty = lab.attach(&alice, "api", &api);

    tty.tmux_command("detach-client -E 'echo escaped-$((6*7)) uid=$(id -u)'");
    // The client leaves the server either way; wait for that, then for ssh.
    assert!(
        lab.wait_no_pair_client(&api),
        "detach-client -E did not detach; pane:\n{}\nclients: {:?}",
        lab.capture_pane(&api),
        lab.list_clients(&api)
    );
    tty.wait_exit(WAIT);
    let text = tty.text();
    assert!(
        !text.contains("escaped-42"),
        "the guest ran a shell command as the pair account:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

/// Pins row 12: a key no guest has is refused by sshd before pairshell
/// runs: `authorized-keys` prints nothing for it, and writes no audit line.
///
/// Positive controls: sshd logged the attempt (`Failed publickey … KEY'S
/// FINGERPRINT`, then the unauthenticated connection closed), and the trail
/// is read only after a later login's line has arrived, so anything that
/// connection wrote would be in it.
#[test]
fn unknown_key_is_refused_by_sshd_before_pairshell_runs() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    let mallory = lab.make_key("mallory");

    let log = lab.sshd_log_mark();
    let mark = lab.audit_mark();
    let run = lab.ssh(&mallory, Some("api"));
    assert_eq!(run.code(), Some(255), "{run}");
    assert!(run.stderr.contains("Permission denied"), "{run}");
    lab.wait_sshd_log_after(log, &["Failed publickey for", &mallory.fingerprint]);
    lab.wait_sshd_log_after(
        log,
        &[&format!(
            "Connection closed by authenticating user {}",
            lab.pair
        )],
    );
    // authorized-keys never logs and the login never ran: no audit line at all.
    let records: Vec<String> = lab.audit_settle(mark).into_iter().map(|r| r.raw).collect();
    assert!(records.is_empty(), "{records:?}");
}

/// Pins row 13: an expired guest is refused by sshd before pairshell's
/// login runs (`authorized-keys` prints no line for an expired guest's key,
/// and `expiry-time=` on a current guest's line stops sshd from taking it
/// once it passes): no join, no line from the login.
///
/// Positive controls: sshd logged the attempt with carol's fingerprint
/// (`Failed publickey`), and the trail is read only after a later login's
/// line has arrived.
#[test]
fn expired_guest_is_refused_by_sshd_before_pairshell_runs() {
    let mut lab = lab!();
    let carol = lab.add_guest("carol", Some("2020-01-01T00:00:00Z"));
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["carol"], &[]);

    let log = lab.sshd_log_mark();
    let mark = lab.audit_mark();
    let run = lab.ssh(&carol, Some("api"));
    assert_eq!(run.code(), Some(255), "{run}");
    assert!(run.stderr.contains("Permission denied"), "{run}");
    lab.wait_sshd_log_after(log, &["Failed publickey for", &carol.fingerprint]);
    let records: Vec<String> = lab.audit_settle(mark).into_iter().map(|r| r.raw).collect();
    assert!(records.is_empty(), "{records:?}");
}

/// Pins row 13 at login: an unknown key and an expired guest reaching
/// pairshell's `login` are denied, each with its `deny` line.
#[test]
fn login_denies_an_unknown_key_and_an_expired_guest_with_an_audit_line() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let carol = lab.add_guest("carol", Some("2020-01-01T00:00:00Z"));
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice", "carol"], &[]);
    let mallory = lab.make_key("mallory");

    // What sshd's forced command would run, had sshd let the key in.
    let run = lab.login_as_pair(&mallory.public_line, Some("api"));
    assert!(!run.success(), "{run}");
    assert!(
        !run.stderr.trim().is_empty(),
        "a refusal must say why: {run}"
    );
    let r = lab.wait_audit(&[("event", "deny"), ("fingerprint", &mallory.fingerprint)]);
    assert_eq!(r.get("reason"), Some("unknown-key"), "{}", r.raw);
    assert_eq!(r.get("request"), Some("api"), "{}", r.raw);
    assert!(
        !matches!(r.get("guest"), Some(g) if !g.is_empty() && g != "-"),
        "{}",
        r.raw
    );

    let run = lab.login_as_pair(&carol.public_line, Some("api"));
    assert!(!run.success(), "{run}");
    assert!(
        !run.stderr.trim().is_empty(),
        "a refusal must say why: {run}"
    );
    let r = lab.wait_audit(&[("event", "deny"), ("guest", "carol")]);
    assert_eq!(r.get("reason"), Some("expired-guest"), "{}", r.raw);
    assert_eq!(
        r.get("fingerprint"),
        Some(carol.fingerprint.as_str()),
        "{}",
        r.raw
    );

    no_join(&lab);
    assert!(lab.pair_clients(&api).is_empty());
}

#[test]
fn session_not_shared_with_the_guest_is_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let _bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    let secret = lab.share(&host, "secret", &["bob"], &[]);

    // With a tty (where a join would really happen) the reason is not-shared.
    for request in ["secret".to_string(), secret.label()] {
        let mut tty = lab.ssh_tty(&alice, Some(&request));
        let code = tty.wait_exit(WAIT);
        assert!(
            matches!(code, Some(c) if c != 0),
            "{request}: exit {code:?}"
        );
        let text = tty.text();
        assert!(
            text.contains("pairshell"),
            "{request}: a refusal must say why:\n{text}"
        );
        assert!(!text.contains(prompt("secret", &host).trim_end()), "{text}");
        let r = lab.wait_audit(&[("event", "deny"), ("request", &request)]);
        assert_deny(&r, "alice", &alice.fingerprint, &request);
        assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    }
    // Without a tty: refused too (the reason may be the missing terminal).
    let run = lab.ssh(&alice, Some("secret"));
    assert!(!run.success(), "{run}");
    assert!(
        !run.stderr.trim().is_empty(),
        "a refusal must say why: {run}"
    );
    assert!(lab.pair_clients(&secret).is_empty());
    no_join(&lab);
}

/// Pins row 8: asking for `api` when only `api-secret` is shared is
/// refused (`deny reason=not-shared`): grants are looked up by exact name,
/// and tmux is given `=NAME`.
///
/// Positive controls: tmux itself, asked by the host with a bare `-t api`,
/// finds `api-secret` by prefix (the attack would work on a bare name); and
/// alice's exact `api-secret` joins.
#[test]
fn request_for_a_prefix_of_a_shared_session_name_is_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api_secret = lab.share(&host, "api-secret", &["alice"], &[]);
    let prefix = lab.tmux_as(&host, &api_secret.socket, &["has-session", "-t", "api"]);
    assert!(prefix.status.success(), "the control: {prefix:?}");

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    let code = tty.wait_exit(WAIT);
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit {code:?}: {}",
        tty.text()
    );
    assert!(
        !tty.text().contains(prompt("api-secret", &host).trim_end()),
        "asking for api showed api-secret's pane"
    );
    let r = lab.wait_audit_after(mark, &[("event", "deny"), ("request", "api")], WAIT);
    assert_deny(&r, "alice", &alice.fingerprint, "api");
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    no_join(&lab);
    let _tty = lab.attach(&alice, "api-secret", &api_secret);
}

/// Pins row 8: asking for `api-secret`, a session on the same server whose
/// name extends the shared `api`, is refused (`deny reason=not-shared`).
///
/// Positive control: `api-secret` really runs on that server (the host's
/// `has-session -t =api-secret` succeeds). (alice's own `api` is refused
/// too here, as a server with another session: host_sshd.rs.)
#[test]
fn request_for_an_unshared_session_whose_name_extends_a_shared_one_is_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    lab.start_tmux(&host, "api.sock", "api-secret");
    let there = lab.tmux_as(&host, &api.socket, &["has-session", "-t", "=api-secret"]);
    assert!(there.status.success(), "the control: {there:?}");

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some("api-secret"));
    let code = tty.wait_exit(WAIT);
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit {code:?}: {}",
        tty.text()
    );
    assert!(!tty.text().contains(prompt("api-secret", &host).trim_end()));
    let r = lab.wait_audit_after(mark, &[("event", "deny"), ("request", "api-secret")], WAIT);
    assert_deny(&r, "alice", &alice.fingerprint, "api-secret");
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    no_join(&lab);
}

/// Pins row 8: `api` is shared, but its server runs only `api-secret`; a
/// bare `-t api` would attach to `api-secret` by prefix, so pairshell must
/// target `=api`: the join is refused (`deny reason=not-running`) and the
/// guest never sees `api-secret`.
///
/// Positive control: the host's own bare `has-session -t api` on that
/// server succeeds (tmux matches `api-secret` by prefix), while `=api`
/// fails.
#[test]
fn shared_session_that_is_not_running_never_attaches_to_a_longer_named_one() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let socket = lab.start_tmux(&host, "api.sock", "api-secret");
    let _api = lab.share_socket(&host, "api", &socket, &["alice"], &[], None);
    let bare = lab.tmux_as(&host, &socket, &["has-session", "-t", "api"]);
    assert!(bare.status.success(), "the control: {bare:?}");
    let exact = lab.tmux_as(&host, &socket, &["has-session", "-t", "=api"]);
    assert!(!exact.status.success(), "{exact:?}");

    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    let code = tty.wait_exit(WAIT);
    let text = tty.text();
    assert!(
        !text.contains(prompt("api-secret", &host).trim_end()),
        "joining api showed api-secret's pane:\n{text}"
    );
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}:\n{text}");
    let r = lab.wait_audit_after(mark, &[("event", "deny"), ("request", "api")], WAIT);
    assert_deny(&r, "alice", &alice.fingerprint, "api");
    assert_eq!(r.get("reason"), Some("not-running"), "{}", r.raw);
    no_join(&lab);
}

/// Pins row 6's grammar: requests with shell metacharacters are refused as
/// `bad-request` and never run.
#[test]
fn request_with_shell_metacharacters_is_refused_as_a_bad_request() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    for request in ["api; id", "$(id)", "`id`", "api && id", "api|id", "../api"] {
        let run = lab.ssh(&alice, Some(request));
        assert!(!run.success(), "{request:?}: {run}");
        assert!(
            !run.stdout.contains("uid="),
            "{request:?} ran a command: {run}"
        );
        assert!(
            !run.stderr.contains("uid="),
            "{request:?} ran a command: {run}"
        );
        let r = lab.wait_audit(&[("event", "deny"), ("request", request)]);
        assert_deny(&r, "alice", &alice.fingerprint, request);
        assert_eq!(
            r.get("reason"),
            Some("bad-request"),
            "{request:?}: {}",
            r.raw
        );
    }
    assert!(lab.pair_clients(&api).is_empty());
    no_join(&lab);
}

/// Pins row 6's control-character check (`core::request::parse`, ahead of
/// the grammar): a newline, an escape sequence or a carriage return in the
/// request is refused with `reason=control-character`, and the audit line
/// carries it escaped, never raw.
#[test]
fn request_with_control_characters_is_refused_and_logged_escaped() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);

    for request in ["api\nid", "api\x1b[2J", "api\r"] {
        let run = lab.ssh(&alice, Some(request));
        assert!(!run.success(), "{request:?}: {run}");
        assert!(!run.stdout.contains("uid="), "{request:?}: {run}");
        let r = lab.wait_audit(&[("event", "deny"), ("request", request)]);
        assert_deny(&r, "alice", &alice.fingerprint, request);
        // The control-character check's own reason: the grammar would refuse
        // these too (as `bad-request`), so accepting that would let a
        // missing check pass.
        assert_eq!(
            r.get("reason"),
            Some("control-character"),
            "{request:?}: {}",
            r.raw
        );
    }
    // The datagrams themselves carry no raw control characters.
    for d in lab.syslog().raw_bytes() {
        let body = String::from_utf8_lossy(&d);
        let body = body.trim_end_matches(['\n', '\0']);
        assert!(
            !body.chars().any(|c| c.is_control()),
            "raw control character in an audit line: {:?}",
            body
        );
    }
    no_join(&lab);
}

// ---------------------------------------------------------------------------
// Audit of a session
// ---------------------------------------------------------------------------

#[test]
fn join_and_leave_are_audited_with_guest_key_session_and_mode() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let mut tty = lab.attach(&alice, "api", &api);

    let join = lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    let expect = [
        ("guest", "alice"),
        ("fingerprint", alice.fingerprint.as_str()),
        ("key_type", alice.key_type.as_str()),
        ("host", host.as_str()),
        ("session", "api"),
        ("mode", "read-write"),
    ];
    for (k, v) in expect {
        assert_eq!(join.get(k), Some(v), "join {k}: {}", join.raw);
    }
    assert!(join.field("from").starts_with("127.0.0.1"), "{}", join.raw);
    let pid: u32 = join.field("pid").parse().expect("join pid is a number");

    tty.tmux_key(b"d");
    let code = tty.wait_exit(WAIT);
    assert!(
        code.is_some(),
        "ssh did not end after C-b d:\n{}",
        tty.text()
    );
    assert!(lab.wait_no_pair_client(&api));

    let leave = lab.wait_audit(&[("event", "leave"), ("guest", "alice")]);
    for (k, v) in expect {
        assert_eq!(leave.get(k), Some(v), "leave {k}: {}", leave.raw);
    }
    assert!(
        leave.field("from").starts_with("127.0.0.1"),
        "{}",
        leave.raw
    );
    assert_eq!(
        leave.field("pid").parse::<u32>().ok(),
        Some(pid),
        "{}",
        leave.raw
    );
    let duration: u64 = leave
        .field("duration_s")
        .parse()
        .unwrap_or_else(|_| panic!("duration_s is not a whole number: {}", leave.raw));
    assert!(duration < 60, "{}", leave.raw);
    assert!(!leave.field("reason").is_empty(), "{}", leave.raw);

    let events: Vec<String> = lab
        .syslog()
        .records()
        .iter()
        .filter_map(|r| r.get("event").map(str::to_string))
        .collect();
    assert_eq!(events, ["join", "leave"], "{:?}", lab.syslog().raw());
}

#[test]
fn read_only_join_is_audited_as_read_only() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &["bob"]);

    let mut tty = lab.ssh_tty(&bob, Some(&api.label()));
    tty.wait_for(prompt("api", &host).trim_end()).unwrap();
    let join = lab.wait_audit(&[("event", "join"), ("guest", "bob")]);
    assert_eq!(join.get("mode"), Some("read-only"), "{}", join.raw);
    assert_eq!(
        join.get("fingerprint"),
        Some(bob.fingerprint.as_str()),
        "{}",
        join.raw
    );
    assert_eq!(join.get("host"), Some(host.as_str()), "{}", join.raw);
    assert_eq!(join.get("session"), Some("api"), "{}", join.raw);
    tty.tmux_key(b"d");
    assert!(tty.wait_exit(Duration::from_secs(10)).is_some());
    let leave = lab.wait_audit(&[("event", "leave"), ("guest", "bob")]);
    assert_eq!(leave.get("mode"), Some("read-only"), "{}", leave.raw);
}

// ---------------------------------------------------------------------------
// The lab's own parser (no root needed)
// ---------------------------------------------------------------------------

#[test]
fn lab_parses_rfc3164_audit_lines() {
    let r = support::parse_rfc3164(
        b"<86>Jan  5 07:08:09 myhost pairshell[123]: event=deny reason=bad-request request=\"api; \\\"x\\\" \\\\ \\x0a\" guest=alice",
    )
    .unwrap();
    assert_eq!(r.pri / 8, 10);
    assert_eq!(r.tag, "pairshell");
    assert_eq!(r.pid, Some(123));
    assert_eq!(r.get("event"), Some("deny"));
    assert_eq!(r.get("request"), Some("api; \"x\" \\ \n"));
    assert_eq!(r.get("guest"), Some("alice"));
    let r =
        support::parse_rfc3164(b"<86>Nov 21 23:15:00 pairshell[9]: event=join mode=read-only\n")
            .unwrap();
    assert_eq!(r.get("mode"), Some("read-only"));
    assert!(support::parse_rfc3164(b"<86>Nov 21 23:15:00 pairshell[9]: event=\"open").is_err());
    assert!(support::parse_rfc3164(b"event=join").is_err());
    assert_eq!(
        support::strip_ansi(b"\x1b[1;1H\x1b[?25lhost$ \x1b]0;t\x07ok\r\n"),
        "host$ ok\n\n"
    );
}
