//! Issue 17 end to end: the host in control. Live promote and demote, a
//! read-only guest asking to type, and the host approving each join, all
//! through the real sshd, with the host a real account whose own tmux
//! client answers the prompts.
//!
//! No fixed sleep decides a negative: "never reaches the pane" is decided
//! after a sentinel the host typed has come out ([`Lab::pane_never_shows`]),
//! and "nothing answered" after a positive answer went through the same
//! path. Only audit records written after a mark count.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::time::{Duration, Instant};

use support::host_control::{key_at_prompt, prompt_shown, settle_client, StandInGithub, SudoRule};
use support::{Lab, Shared, Tty, WAIT};

/// "At once": within this of the host's command.
const AT_ONCE: Duration = Duration::from_secs(5);

/// A join waits this long for the host's answer (`ask::ASK_FOR`), plus
/// time for a loaded machine.
const NO_ANSWER: Duration = Duration::from_secs(75);

/// The guest types `echo TAG-$((6*7))` and Enter: the pane shows `TAG-42`
/// only if the keys reached the shell.
fn type_line(tty: &mut Tty, tag: &str) -> String {
    tty.send(format!("echo {tag}-$((6*7))").as_bytes());
    tty.send(b"\r");
    format!("{tag}-42")
}

/// A shared session with one read-only guest, bob, attached, and the
/// pair client's pid.
fn bob_watching(lab: &mut Lab) -> (String, Shared, Tty, i32) {
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    lab.host_types_line(&api, "echo host-ready-$((1+1))");
    assert!(lab.wait_pane_line(&api, "host-ready-2"));
    let mut tty = lab.attach(&bob, "api", &api);
    tty.wait_for("host-ready-2").unwrap();
    let client = lab.wait_pair_client(&api).expect("bob's client");
    assert!(client.readonly, "bob's client is writable: {client:?}");
    settle_client(&mut tty);
    (host, api, tty, client.pid)
}

#[test]
fn read_only_guest_granted_rw_types_without_reconnecting_and_demote_stops_it_at_once() {
    let mut lab = lab!();
    let (host, api, mut tty, pid) = bob_watching(&mut lab);

    // Read-only: nothing reaches the pane.
    let line = type_line(&mut tty, "watching");
    lab.pane_never_shows(&api, &line);

    // Promoted: the same client, the same connection, now types.
    let mark = lab.audit_mark();
    let run = lab.pairshell_as(&host, &["grant", "api", "bob", "--rw"]);
    assert!(run.success(), "grant --rw: {run}");
    let changed =
        lab.wait_audit_after(mark, &[("event", "mode-change"), ("guest", "bob")], AT_ONCE);
    assert_eq!(changed.get("mode"), Some("read-write"), "{}", changed.raw);
    assert_eq!(changed.get("by"), Some(host.as_str()), "{}", changed.raw);
    tty.wait_for("made you read-write").unwrap();
    let line = type_line(&mut tty, "promoted");
    assert!(
        lab.wait_pane_line(&api, &line),
        "bob's keys never reached the pane after grant --rw:\n{}",
        lab.capture_pane(&api)
    );
    let client = lab.wait_pair_client(&api).expect("bob's client");
    assert_eq!(client.pid, pid, "bob's client was replaced, not switched");
    assert!(!client.readonly, "tmux still holds bob read-only");

    // Demoted: from the moment the command returns, nothing more.
    let mark = lab.audit_mark();
    let run = lab.pairshell_as(&host, &["grant", "api", "bob", "--ro"]);
    assert!(run.success(), "grant --ro: {run}");
    let line = type_line(&mut tty, "demoted");
    lab.pane_never_shows(&api, &line);
    let changed =
        lab.wait_audit_after(mark, &[("event", "mode-change"), ("guest", "bob")], AT_ONCE);
    assert_eq!(changed.get("mode"), Some("read-only"), "{}", changed.raw);
    tty.wait_for("made you read-only").unwrap();
    assert!(tty.is_alive(), "the demote ended bob's connection");
    let client = lab.wait_pair_client(&api).expect("bob's client");
    assert_eq!(client.pid, pid);
    assert!(client.readonly, "tmux did not make bob read-only again");
    // Still read-only after the banner and a while: typed after the audit
    // line, judged by the relay alone.
    let line = type_line(&mut tty, "still-demoted");
    lab.pane_never_shows(&api, &line);
}

/// The attack: a live promotion making an unconfined client writable
/// where the admin refuses unconfined writers. On a kernel without
/// Landlock (the lab's `test_pretend_no_landlock = true`) bob's read-only
/// join goes ahead unconfined; the host's `grant --rw` is refused for his
/// running client (`event=mode-change-refused`, no `mode-change`) and his
/// keys still never reach the pane. Positive control: the same promotion
/// with Landlock, `read_only_guest_granted_rw_types_without_reconnecting…`.
#[test]
fn live_promotion_of_an_unconfined_client_is_refused_where_unconfined_writers_are() {
    let mut lab = lab!();
    lab.add_config_lines("test_pretend_no_landlock = true");
    let (host, api, mut tty, _) = bob_watching(&mut lab);
    let mark = lab.audit_mark();
    let run = lab.pairshell_as(&host, &["grant", "api", "bob", "--rw"]);
    assert!(run.success(), "grant --rw: {run}");
    lab.wait_audit_after(
        mark,
        &[("event", "mode-change-refused"), ("guest", "bob")],
        AT_ONCE,
    );
    let line = type_line(&mut tty, "unconfined");
    lab.pane_never_shows(&api, &line);
    assert!(
        !lab.audit_after(mark)
            .iter()
            .any(|r| r.has(&[("event", "mode-change"), ("guest", "bob")])),
        "bob's unconfined client was switched to read-write"
    );
}

#[test]
fn ask_to_type_allowed_by_the_host_then_taken_back_with_grant_ro() {
    let mut lab = lab!();
    let (host, api, mut tty, pid) = bob_watching(&mut lab);
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");

    let mark = lab.audit_mark();
    tty.tmux_key(b"a");
    lab.wait_audit_after(
        mark,
        &[("event", "ask"), ("guest", "bob"), ("kind", "type")],
        WAIT,
    );
    prompt_shown(&mut host_tty, "bob asks to type in api");
    key_at_prompt(&mut host_tty, b"y", || {
        lab.audit_after(mark)
            .iter()
            .any(|r| r.has(&[("event", "allow")]))
    });
    lab.wait_audit_after(
        mark,
        &[("event", "allow"), ("guest", "bob"), ("by", host.as_str())],
        WAIT,
    );
    let changed = lab.wait_audit_after(mark, &[("event", "mode-change"), ("guest", "bob")], WAIT);
    assert_eq!(changed.get("mode"), Some("read-write"), "{}", changed.raw);
    let line = type_line(&mut tty, "visiting");
    assert!(
        lab.wait_pane_line(&api, &line),
        "bob's keys never reached the pane after the host said y:\n{}",
        lab.capture_pane(&api)
    );
    // For this visit only: the file still says read-only.
    let file = std::fs::read_to_string(lab.host_file(&host)).unwrap();
    assert!(
        file.contains("read_only = [\"bob\"]"),
        "the visit was written to the file:\n{file}"
    );

    // Taken back.
    let mark = lab.audit_mark();
    let run = lab.pairshell_as(&host, &["grant", "api", "bob", "--ro"]);
    assert!(run.success(), "grant --ro: {run}");
    let line = type_line(&mut tty, "sent-home");
    lab.pane_never_shows(&api, &line);
    let changed =
        lab.wait_audit_after(mark, &[("event", "mode-change"), ("guest", "bob")], AT_ONCE);
    assert_eq!(changed.get("mode"), Some("read-only"), "{}", changed.raw);
    let client = lab.wait_pair_client(&api).expect("bob's client");
    assert_eq!(client.pid, pid);
}

#[test]
fn ask_to_type_taken_back_with_the_hosts_ctrl_b_t() {
    let mut lab = lab!();
    let (host, api, mut tty, _) = bob_watching(&mut lab);
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");
    let mark = lab.audit_mark();
    tty.tmux_key(b"a");
    prompt_shown(&mut host_tty, "bob asks to type in api");
    key_at_prompt(&mut host_tty, b"y", || {
        lab.audit_after(mark)
            .iter()
            .any(|r| r.has(&[("event", "allow")]))
    });
    lab.wait_audit_after(
        mark,
        &[
            ("event", "mode-change"),
            ("guest", "bob"),
            ("mode", "read-write"),
        ],
        WAIT,
    );
    prompt_shown(&mut host_tty, "Ctrl-b T takes it back");
    let line = type_line(&mut tty, "visiting");
    assert!(
        lab.wait_pane_line(&api, &line),
        "bob cannot type on his visit"
    );

    let mark = lab.audit_mark();
    host_tty.tmux_key(b"T");
    lab.wait_audit_after(
        mark,
        &[
            ("event", "mode-change"),
            ("guest", "bob"),
            ("mode", "read-only"),
        ],
        AT_ONCE,
    );
    lab.wait_audit_after(mark, &[("event", "visit-ended"), ("guest", "bob")], WAIT);
    let line = type_line(&mut tty, "visit-over");
    lab.pane_never_shows(&api, &line);
}

/// Whether `guest`'s request written after `mark` has been answered.
fn answered(lab: &Lab, mark: usize, guest: &str) -> bool {
    lab.audit_after(mark)
        .iter()
        .any(|r| r.get("guest") == Some(guest) && matches!(r.get("event"), Some("allow" | "deny")))
}

/// A share with `--ask` for alice (read-write), and the host attached.
fn asking_share(lab: &mut Lab) -> (support::Guest, String, Shared) {
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ask"]);
    (alice, host, api)
}

/// Alice, waiting on [`asking_share`]'s prompt, which the host's terminal shows.
struct Asking {
    host: String,
    api: Shared,
    host_tty: Tty,
    /// Before alice's ssh started.
    mark: usize,
    /// Alice's terminal.
    tty: Tty,
}

fn alice_asks(lab: &mut Lab) -> Asking {
    let (alice, host, api) = asking_share(lab);
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");
    let mark = lab.audit_mark();
    let tty = lab.ssh_tty(&alice, Some("api"));
    prompt_shown(&mut host_tty, "wants to join api");
    Asking {
        host,
        api,
        host_tty,
        mark,
        tty,
    }
}

#[test]
fn ask_join_allowed_by_the_host_lets_the_guest_in() {
    let mut lab = lab!();
    let (alice, host, api) = asking_share(&mut lab);
    lab.host_types_line(&api, "echo host-ready-$((1+1))");
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");
    // A second client of the host's, on another terminal: asked too.
    let mut other_tty = lab.host_tty(&host, &api.socket, "api");
    let mark = lab.audit_mark();
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    tty.wait_for(&format!("asking {host} to let you in"))
        .unwrap();
    lab.wait_audit_after(mark, &[("event", "ask"), ("guest", "alice")], WAIT);
    prompt_shown(
        &mut other_tty,
        "alice (read-write) from 127.0.0.1 wants to join",
    );
    prompt_shown(&mut host_tty, "alice (read-write) from ");
    key_at_prompt(&mut host_tty, b"y", || answered(&lab, mark, "alice"));
    let allowed = lab.wait_audit_after(mark, &[("event", "allow"), ("guest", "alice")], WAIT);
    assert_eq!(allowed.get("by"), Some(host.as_str()), "{}", allowed.raw);
    lab.wait_audit_after(mark, &[("event", "join"), ("guest", "alice")], WAIT);
    tty.wait_for("host-ready-2").unwrap();
}

#[test]
fn ask_join_declined_by_the_host_tells_the_guest() {
    let mut lab = lab!();
    let Asking {
        host,
        api,
        mut host_tty,
        mark,
        mut tty,
    } = alice_asks(&mut lab);
    key_at_prompt(&mut host_tty, b"n", || answered(&lab, mark, "alice"));
    tty.wait_for(&format!("{host} declined")).unwrap();
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(deny.get("reason"), Some("declined"), "{}", deny.raw);
    assert!(lab.pair_clients(&api).is_empty());
}

#[test]
fn ask_join_given_up_with_ctrl_c_leaves_no_request_behind() {
    let mut lab = lab!();
    let Asking {
        api: _api,
        mut host_tty,
        mark,
        mut tty,
        ..
    } = alice_asks(&mut lab);
    tty.send(b"\x03");
    tty.wait_for("you stopped waiting").unwrap();
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(deny.get("reason"), Some("gave-up"), "{}", deny.raw);
    // The host's late y finds nothing to answer.
    key_at_prompt(&mut host_tty, b"y", || {
        lab.audit_after(mark)
            .iter()
            .any(|r| r.has(&[("event", "answer-refused")]))
    });
    assert!(!lab
        .audit_after(mark)
        .iter()
        .any(|r| r.get("guest") == Some("alice") && r.get("event") == Some("join")));
}

#[test]
fn ask_join_with_no_host_attached_is_refused_at_once() {
    let mut lab = lab!();
    let (alice, host, api) = asking_share(&mut lab);
    let mark = lab.audit_mark();
    let started = Instant::now();
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    tty.wait_for(&format!("{host} is not there to let you in"))
        .unwrap();
    assert!(started.elapsed() < WAIT, "the guest waited for nobody");
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(deny.get("reason"), Some("no-answer"), "{}", deny.raw);
    assert!(lab.pair_clients(&api).is_empty());
}

#[test]
fn ask_join_with_no_answer_lets_the_guest_go_after_a_minute() {
    let mut lab = lab!();
    // The host is there and is asked, and says nothing.
    let Asking {
        host,
        api,
        host_tty: _host_tty,
        mark,
        mut tty,
    } = alice_asks(&mut lab);
    tty.wait_until(NO_ANSWER, |t| {
        t.contains(&format!("{host} is not there to let you in"))
    })
    .unwrap_or_else(|t| panic!("no timeout message:\n{t}"));
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(deny.get("reason"), Some("no-answer"), "{}", deny.raw);
    assert!(lab.pair_clients(&api).is_empty());
}

/// The attack: carol, a read-write guest already inside, answers alice's
/// request to join. She sees no prompt (it is only on the host's own
/// clients); her `y` goes to the pane; the answer command run with
/// anything but the request's nonce writes nothing; an answer file the
/// pair account could have written is not believed. Positive control: the
/// host's own `y` on the same request then lets alice in.
#[test]
fn read_write_guest_answering_another_guests_request_is_refused() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let carol = lab.add_guest("carol", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--rw", "carol", "--ask"]);
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");
    // Carol is in (the host let her in).
    let mut carol_tty = lab.ssh_tty(&carol, Some("api"));
    let mark = lab.audit_mark();
    prompt_shown(&mut host_tty, "carol (read-write)");
    key_at_prompt(&mut host_tty, b"y", || answered(&lab, mark, "carol"));
    lab.wait_audit_after(mark, &[("event", "join"), ("guest", "carol")], WAIT);
    settle_client(&mut carol_tty);

    let mark = lab.audit_mark();
    let carol_mark = carol_tty.mark();
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    lab.wait_audit_after(mark, &[("event", "ask"), ("guest", "alice")], WAIT);
    prompt_shown(&mut host_tty, "alice (read-write)");
    // 1. Carol's client never shows the prompt; her y is a key in the pane.
    // (Ctrl-U then clears it from the shell's line.)
    carol_tty.send(b"y\x15");
    let line = type_line(&mut carol_tty, "carol-typed");
    assert!(
        lab.wait_pane_line(&api, &line),
        "carol cannot type:\n{}",
        lab.capture_pane(&api)
    );
    assert!(
        !carol_tty.text_since(carol_mark).contains("wants to join"),
        "the prompt reached a guest's client"
    );
    // 2. The answer command without the request's nonce: refused.
    let pid = lab
        .find_audit_after(mark, WAIT, |r| {
            r.get("event") == Some("ask") && r.get("guest") == Some("alice")
        })
        .and_then(|r| r.get("pid").map(str::to_string));
    let socket = api.socket.to_string_lossy().into_owned();
    let forged_pid = pid.expect("the ask line names the asking pairshell's pid");
    let forged = lab.pairshell_as(
        &host,
        &["answer", &socket, &forged_pid, &"0".repeat(32), "y"],
    );
    assert!(
        !forged.success(),
        "an answer without the nonce went through"
    );
    lab.wait_audit_after(mark, &[("event", "answer-refused")], WAIT);
    // 3. A yes written as the pair account beside the socket (as if a
    // pair-account process could): not believed.
    support::host_control::forge_pair_answer(&lab, &api, &forged_pid);
    // Still waiting: no allow, no join.
    assert!(tty.is_alive());
    assert!(!lab.audit_after(mark).iter().any(
        |r| r.get("guest") == Some("alice") && matches!(r.get("event"), Some("allow" | "join"))
    ));
    // Positive control: the host's own y.
    key_at_prompt(&mut host_tty, b"y", || answered(&lab, mark, "alice"));
    lab.wait_audit_after(mark, &[("event", "allow"), ("guest", "alice")], WAIT);
    lab.wait_audit_after(mark, &[("event", "join"), ("guest", "alice")], WAIT);
}

/// Detaches every client of the host's own on `api`'s server.
fn host_detaches(lab: &Lab, api: &Shared) {
    for c in lab.list_clients(api) {
        if c.user == api.host {
            let out = lab.tmux_as(&api.host, &api.socket, &["detach-client", "-t", &c.name]);
            assert!(out.status.success(), "detach-client: {out:?}");
        }
    }
}

#[test]
fn presence_required_pauses_the_guest_while_the_host_is_away_and_resumes_when_back() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--presence"]);
    // Nobody there: no guest.
    let mark = lab.audit_mark();
    let mut early = lab.ssh_tty(&alice, Some("api"));
    early
        .wait_for(&format!("{host} is not here right now"))
        .unwrap();
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(deny.get("reason"), Some("host-away"), "{}", deny.raw);

    let _host_tty = lab.host_tty(&host, &api.socket, "api");
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    settle_client(&mut tty);
    let line = type_line(&mut tty, "with-host");
    assert!(lab.wait_pane_line(&api, &line), "alice cannot type");

    let mark = lab.audit_mark();
    host_detaches(&lab, &api);
    lab.wait_audit_after(mark, &[("event", "host-away"), ("guest", "alice")], AT_ONCE);
    tty.wait_for(&format!("{host} stepped away")).unwrap();
    let line = type_line(&mut tty, "host-away");
    lab.pane_never_shows(&api, &line);
    assert!(tty.is_alive());

    let _back = lab.host_tty(&host, &api.socket, "api");
    lab.wait_audit_after(mark, &[("event", "host-back"), ("guest", "alice")], AT_ONCE);
    let line = type_line(&mut tty, "host-back");
    assert!(
        lab.wait_pane_line(&api, &line),
        "alice cannot type after the host came back:\n{}",
        lab.capture_pane(&api)
    );
}

#[test]
fn presence_required_with_on_host_leave_end_lets_the_guest_go_when_the_host_leaves() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(
        &host,
        "api",
        &["--ro", "alice", "--presence", "--on-host-leave", "end"],
    );
    let _host_tty = lab.host_tty(&host, &api.socket, "api");
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    settle_client(&mut tty);
    let mark = lab.audit_mark();
    host_detaches(&lab, &api);
    support::wait_gone(&mut tty, AT_ONCE + WAIT, "alice after the host left");
    let leave = lab.wait_audit_after(mark, &[("event", "leave"), ("guest", "alice")], WAIT);
    assert_eq!(leave.get("reason"), Some("host-left"), "{}", leave.raw);
    assert!(
        tty.text().contains(&format!("{host} left")),
        "{}",
        tty.text()
    );
}

/// `sudo -n pairshell --config LAB invite ARGS…` as `user`, as a host's
/// `share @LOGIN` runs it (or as a host could by hand).
fn sudo_invite(lab: &Lab, user: &str, args: &[&str]) -> support::Run {
    let mut cmd = lab.command_as(user, std::path::Path::new("/usr/bin/sudo"));
    cmd.arg("-n")
        .arg(&lab.bin)
        .arg("--config")
        .arg(&lab.config)
        .arg("invite")
        .args(args)
        .stdin(std::process::Stdio::null());
    support::run_with_timeout(cmd, Duration::from_secs(30))
}

/// A lab with a stand-in GitHub serving octocat's key, an `invite_max` of
/// 4h, a host, and the shipped sudoers drop-in installed for it.
fn invite_lab() -> Option<(Lab, support::Guest, String, SudoRule, StandInGithub)> {
    let mut lab = Lab::new()?;
    let octocat = lab.make_key("octocat");
    let github = StandInGithub::start("octocat", &octocat.public_line);
    lab.add_config_lines(&github.config_lines());
    lab.add_config_lines("invite_max = \"4h\"");
    let host = lab.enable_host();
    let rule = SudoRule::install(&lab);
    Some((lab, octocat, host, rule, github))
}

#[test]
fn share_rw_at_login_invites_a_github_user_through_sudo_with_the_shipped_drop_in() {
    let Some((mut lab, octocat, host, _rule, _github)) = invite_lab() else {
        return;
    };
    let mark = lab.audit_mark();
    let (run, api) = lab.share_as(&host, "api", &["--rw", "@octocat", "--for", "2h"]);
    assert!(run.stdout.contains("octocat read-write"), "{run}");
    assert!(run.stdout.contains("ssh -t"), "no join line: {run}");
    let added = lab.wait_audit_after(mark, &[("event", "guest-add"), ("guest", "octocat")], WAIT);
    assert_eq!(added.get("by"), Some(host.as_str()), "{}", added.raw);
    assert_eq!(added.get("github"), Some("octocat"), "{}", added.raw);
    let config: toml::Table = lab.config_text().parse().unwrap();
    let guest = &config["guests"]["octocat"];
    assert_eq!(guest["github"].as_str(), Some("octocat"));
    let expires: jiff::Timestamp = guest["expires"].as_str().map_or_else(
        || guest["expires"].to_string().parse().unwrap(),
        |s| s.parse().unwrap(),
    );
    let left = expires.duration_since(jiff::Timestamp::now());
    assert!(
        left > jiff::SignedDuration::from_mins(110) && left <= jiff::SignedDuration::from_hours(2),
        "expires {expires}"
    );
    // And octocat's key gets in.
    let mut tty = lab.ssh_tty(&octocat, Some("api"));
    settle_client(&mut tty);
    lab.wait_audit_after(mark, &[("event", "join"), ("guest", "octocat")], WAIT);
    drop(api);
}

/// The shapes the delegation must not allow, each refused by sudo or by
/// `pairshell invite` itself, with the config unchanged: a second `--key`,
/// a `--config` path, another guest's name, an expiry beyond `invite_max`,
/// another subcommand; and a user outside the socket group, who reads the
/// admin's one-line fix. Positive control: the plain shape goes through.
#[test]
fn invite_delegation_refuses_every_other_shape_and_users_outside_the_socket_group() {
    let Some((mut lab, _octocat, host, _rule, _github)) = invite_lab() else {
        return;
    };
    lab.add_guest("alice", None);
    let before = lab.config_text();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY";
    for (args, why) in [
        (
            &["octocat", "2h", "--key", key][..],
            "exactly a GitHub login",
        ),
        (
            &["--config", "/tmp/pairshell-mine.toml", "octocat", "2h"],
            "exactly a GitHub login",
        ),
        (&["alice", "2h"], "already a guest named alice"),
        (&["octocat", "5h"], "at most 4h"),
        (&["octocat"], "exactly a GitHub login"),
    ] {
        let run = sudo_invite(&lab, &host, args);
        assert!(!run.success(), "{args:?} went through: {run}");
        assert!(
            run.stderr.contains(why),
            "{args:?}: not refused for {why:?}: {run}"
        );
        assert_eq!(lab.config_text(), before, "{args:?} changed the config");
    }
    // Another subcommand through the same rule: sudo itself refuses.
    let mut cmd = lab.command_as(&host, std::path::Path::new("/usr/bin/sudo"));
    cmd.arg("-n")
        .arg(&lab.bin)
        .arg("--config")
        .arg(&lab.config)
        .args(["guest", "add", "mallory", "--github", "octocat"])
        .stdin(std::process::Stdio::null());
    let run = support::run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!run.success(), "sudo let guest add through: {run}");
    assert_eq!(lab.config_text(), before);

    // Outside the socket group: no sudo rights, and the fix is named.
    let outsider = lab.add_host_account();
    let run = lab.pairshell_as(
        &outsider,
        &[
            "share", "api", "--rw", "@octocat", "--for", "1h", "--detach",
        ],
    );
    assert!(!run.success(), "{run}");
    let run = sudo_invite(&lab, &outsider, &["octocat", "1h"]);
    assert!(!run.success(), "an outsider invited: {run}");
    assert_eq!(lab.config_text(), before);

    // Without the rule, a host reads the admin's one-line fix.
    drop(_rule);
    let run = lab.pairshell_as(
        &host,
        &[
            "share", "api", "--rw", "@octocat", "--for", "1h", "--detach",
        ],
    );
    assert!(!run.success(), "{run}");
    assert!(
        run.stderr.contains(&format!(
            "echo '%{} ALL=(root) NOPASSWD: {} --config {} invite *' \
             | sudo EDITOR='tee' visudo -f /etc/sudoers.d/pairshell-invite",
            lab.socket_group,
            lab.bin.display(),
            lab.config.display()
        )),
        "no fix for the admin: {run}"
    );
    assert_eq!(lab.config_text(), before);

    // Positive control: with the rule, the plain shape goes through.
    let _rule = SudoRule::install(&lab);
    let run = sudo_invite(&lab, &host, &["octocat", "2h"]);
    assert!(run.success(), "the plain invite failed: {run}");
    assert_ne!(lab.config_text(), before);
}

/// The attack: a member of the socket group who is no host (their host
/// file gone, or never written) inviting through the delegation. sudo lets
/// the group through; `pairshell invite` refuses, since `SUDO_USER` must
/// be a host, and the config is unchanged. Positive control: a host's
/// invite through the same rule goes through.
#[test]
fn invite_by_a_socket_group_member_who_is_no_host_is_refused() {
    let Some((mut lab, _octocat, host, _rule, _github)) = invite_lab() else {
        return;
    };
    let former = lab.enable_host();
    std::fs::remove_file(lab.host_file(&former)).unwrap();
    assert!(
        lab.socket_group_members().contains(&former),
        "{former} is not in the socket group"
    );
    let before = lab.config_text();
    let run = sudo_invite(&lab, &former, &["octocat", "2h"]);
    assert!(!run.success(), "a user who is no host invited: {run}");
    assert!(
        run.stderr.contains("is not set up as a pairshell host"),
        "not refused as no host: {run}"
    );
    assert_eq!(lab.config_text(), before);
    let run = sudo_invite(&lab, &host, &["octocat", "2h"]);
    assert!(run.success(), "the host's invite failed: {run}");
}

/// The recording marks a live switch (`m` events `mode: read-write`, then
/// `mode: read-only`), and holds the promoted guest's input, none from
/// before the promotion.
#[test]
fn a_live_mode_change_is_marked_in_the_recording() {
    let mut lab = lab!();
    let dir = support::recording::enable(&mut lab, "all", "");
    let (host, api, mut tty, _) = bob_watching(&mut lab);
    let line = type_line(&mut tty, "before");
    lab.pane_never_shows(&api, &line);
    let mark = lab.audit_mark();
    let run = lab.pairshell_as(&host, &["grant", "api", "bob", "--rw"]);
    assert!(run.success(), "{run}");
    lab.wait_audit_after(
        mark,
        &[("event", "mode-change"), ("mode", "read-write")],
        AT_ONCE,
    );
    let line = type_line(&mut tty, "after");
    assert!(lab.wait_pane_line(&api, &line));
    let run = lab.pairshell_as(&host, &["grant", "api", "bob", "--ro"]);
    assert!(run.success(), "{run}");
    lab.wait_audit_after(
        mark,
        &[("event", "mode-change"), ("mode", "read-only")],
        AT_ONCE,
    );
    let casts = support::recording::casts(&dir);
    assert_eq!(casts.len(), 1, "{casts:?}");
    let r = support::recording::wait_for(&casts[0], |r| r.joined("m").contains("mode: read-only"));
    let marks: Vec<&str> = r
        .events
        .iter()
        .filter(|(c, _)| c == "m")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(
        marks,
        ["join", "mode: read-write", "mode: read-only"],
        "{marks:?}"
    );
    let input = r.joined("i");
    assert!(input.contains("echo after"), "{input:?}");
    assert!(
        !input.contains("before"),
        "input from before the promotion: {input:?}"
    );
}
