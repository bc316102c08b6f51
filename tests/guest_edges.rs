//! What a guest meets at the edges of the happy path, through the real sshd:
//! leaving the chooser, having nothing shared, forgetting `-t`, asking for a
//! wrong or ambiguous name, a host file or main config that fails its checks,
//! and an audit log that cannot be written. See `lab/src/lib.rs`.

use pairshell_lab as support;
use pairshell_lab::lab;

use std::os::unix::fs::{chown, PermissionsExt};
use std::time::Duration;

use support::{prompt, WAIT};

const SHOW_CURSOR: &[u8] = b"\x1b[?25h";
const HIDE_CURSOR: &[u8] = b"\x1b[?25l";

fn last_index_of(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[test]
fn chooser_leaves_cleanly_on_q_esc_and_ctrl_c_with_the_cursor_restored() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    for (name, key) in [("q", &b"q"[..]), ("Esc", b"\x1b"), ("Ctrl-C", b"\x03")] {
        let mut tty = lab.ssh_tty(&alice, None);
        tty.wait_for(&api.label()).unwrap();
        // Let the prompt finish drawing (and hide the cursor) before the key.
        std::thread::sleep(Duration::from_millis(300));
        tty.send(key);
        let code = tty.wait_exit(WAIT);
        assert_eq!(code, Some(0), "{name}: the chooser must leave cleanly");
        let raw = tty.raw_bytes();
        // The chooser hides the cursor while it draws; it must come back.
        let hidden = last_index_of(&raw, HIDE_CURSOR)
            .unwrap_or_else(|| panic!("{name}: the chooser never hid the cursor"));
        let shown = last_index_of(&raw, SHOW_CURSOR);
        assert!(
            shown.is_some_and(|s| s > hidden),
            "{name}: the cursor was left hidden:\n{}",
            tty.text()
        );
        assert!(lab.pair_clients(&api).is_empty(), "{name}: nothing joined");
    }
    let joins = lab
        .syslog()
        .records()
        .into_iter()
        .filter(|r| r.get("event") == Some("join"))
        .count();
    assert_eq!(joins, 0);
}

#[test]
fn guest_with_nothing_shared_is_told_so_by_name() {
    let mut lab = lab!();
    let carol = lab.add_guest("carol", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &[], &[]);

    let mut tty = lab.ssh_tty(&carol, None);
    assert_eq!(tty.wait_exit(WAIT), Some(0));
    let text = tty.text();
    assert!(
        text.contains("no session is shared with you (carol)"),
        "{text}"
    );
    let run = lab.ssh(&carol, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, "", "{run}");
}

#[test]
fn join_without_a_terminal_tells_the_guest_to_use_ssh_t() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let run = lab.ssh(&alice, Some("api"));
    assert!(!run.success(), "{run}");
    assert!(run.stderr.contains("ssh -t"), "{run}");
    let r = lab.wait_audit(&[("event", "deny"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("no-terminal"), "{}", r.raw);
    assert!(lab.pair_clients(&api).is_empty());
}

#[test]
fn wrong_session_name_is_refused_with_what_the_guest_may_join() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let mut tty = lab.ssh_tty(&alice, Some("apj"));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    let text = tty.text();
    assert!(
        text.contains("apj is not shared with you (alice)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("you may join: {}", api.label())),
        "{text}"
    );
}

#[test]
fn session_name_shared_by_two_hosts_must_be_asked_for_with_its_host() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let omar = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &[]);
    let o = lab.share(&omar, "api", &[], &["alice"]);

    let mut tty = lab.ssh_tty(&alice, Some("api"));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    let text = tty.text();
    assert!(text.contains("ask for HOST/SESSION"), "{text}");
    assert!(
        text.contains(&m.label()) && text.contains(&o.label()),
        "{text}"
    );
    let r = lab.wait_audit(&[("event", "deny"), ("request", "api")]);
    assert_eq!(r.get("reason"), Some("ambiguous"), "{}", r.raw);

    let mut tty = lab.ssh_tty(&alice, Some(&o.label()));
    tty.wait_for(prompt("api", &omar).trim_end()).unwrap();
    let client = lab.wait_pair_client(&o).expect("alice joined omar/api");
    assert!(client.readonly, "{client:?}");
    assert!(lab.pair_clients(&m).is_empty());
}

/// Pins row 10: a host file that fails its ownership checks is skipped
/// (`skip-host-file`) and grants nothing, while other hosts keep working.
#[test]
fn untrusted_host_file_is_skipped_and_other_hosts_keep_working() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let omar = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &[]);
    let o = lab.share(&omar, "web", &["alice"], &[]);
    let maria_file = lab.dir.join("hosts.d").join(format!("{maria}.toml"));

    // Writable by others: anyone could grant themselves maria's session.
    std::fs::set_permissions(&maria_file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-write\n", o.label()), "{run}");
    let r = lab.wait_audit(&[("event", "skip-host-file")]);
    assert_eq!(r.get("file"), maria_file.to_str(), "{}", r.raw);
    assert!(
        r.field("reason").contains("writable by group or other"),
        "{}",
        r.raw
    );

    // Owned by another host: omar cannot speak for maria.
    std::fs::set_permissions(&maria_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let omar_uid = nix::unistd::User::from_name(&omar).unwrap().unwrap().uid;
    chown(&maria_file, Some(omar_uid.as_raw()), None).unwrap();
    let mut tty = lab.ssh_tty(&alice, Some(&m.label()));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    assert!(lab.pair_clients(&m).is_empty());
    let r = lab.wait_audit(&[("event", "skip-host-file"), ("request", &m.label())]);
    assert!(r.field("reason").contains("owned by"), "{}", r.raw);
}

/// Pins row 10's fail-closed reading: a host file that does not parse is
/// skipped (`skip-host-file`), naming the file, line and column; other hosts
/// are unaffected.
#[test]
fn malformed_host_file_is_skipped_naming_file_line_and_column() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let _m = lab.share(&maria, "api", &["alice"], &[]);
    let maria_file = lab.dir.join("hosts.d").join(format!("{maria}.toml"));
    std::fs::write(
        &maria_file,
        "[sessions.api]\nsocket = \"/x.sock\"\nread_wirte = [\"alice\"]\n",
    )
    .unwrap();

    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, "");
    let r = lab.wait_audit(&[("event", "skip-host-file")]);
    let want = format!("{}:3:1:", maria_file.display());
    assert!(r.field("reason").starts_with(&want), "{}", r.raw);
}

/// Pins row 10: a main config that is not root's, or is writable by others,
/// refuses every login.
#[test]
fn untrusted_main_config_refuses_every_login() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);
    // sshd asks authorized-keys first, which refuses to read such a config;
    // so the login fails before pairshell's guest flow even starts.
    std::fs::set_permissions(&lab.config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = lab.ssh(&alice, Some("list"));
    assert!(!run.success(), "{run}");
    assert_eq!(run.stdout, "", "{run}");
    let direct = lab.authorized_keys(&lab.pair, &alice.key_type, &alice.key_base64, None);
    assert_eq!(direct.stdout, "", "{direct}");
    assert!(
        direct.stderr.contains("writable by group or other"),
        "{direct}"
    );
}

/// Pins row 15: with `audit.required = true`, a join whose `join` line cannot
/// be written is refused (`audit-unavailable`, in `join.rs`), and the guest is
/// told why.
#[test]
fn audit_unavailable_refuses_the_join_and_tells_the_guest() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    // With audit.required = true, no audit line means no join.
    std::fs::remove_file(lab.dir.join("log.sock")).unwrap();

    let mut tty = lab.ssh_tty(&alice, Some("api"));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    let text = tty.text();
    assert!(text.contains("audit log cannot be written"), "{text}");
    assert!(!text.contains(prompt("api", &host).trim_end()), "{text}");
    assert!(lab.pair_clients(&api).is_empty());
}

/// Pins row 9: a socket must be owned by exactly the host whose file names
/// it (`Owner::Exactly` in `trust::open_socket`).
#[test]
fn host_naming_another_users_socket_in_their_file_is_refused() {
    // maria's file points at omar's tmux server: maria may not hand out
    // omar's session (nor root's), whatever her file says.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let omar = lab.add_host();
    let omars = lab.share(&omar, "api", &[], &[]);
    let fake = lab.share_socket(&maria, "api", &omars.socket, &["alice"], &[], None);

    let mut tty = lab.ssh_tty(&alice, Some(&fake.label()));
    assert!(matches!(tty.wait_exit(WAIT), Some(c) if c != 0));
    assert!(lab.pair_clients(&omars).is_empty());
    let r = lab.wait_audit(&[("event", "deny"), ("request", &fake.label())]);
    assert_eq!(r.get("reason"), Some("unsafe-socket"), "{}", r.raw);
    assert!(r.field("detail").contains("owned by uid"), "{}", r.raw);
}

#[test]
fn guest_hanging_up_ends_the_client_and_is_audited_as_hangup() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let tty = lab.attach(&alice, "api", &api);
    lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    drop(tty); // the ssh client goes away: sshd hangs up the guest's pty
    let r = lab.wait_audit(&[("event", "leave"), ("guest", "alice")]);
    assert_eq!(r.get("reason"), Some("hangup"), "{}", r.raw);
    assert!(lab.wait_no_pair_client(&api));
}

/// Pins row 11: the guest flow runs only as the pair account
/// (`login::pair_account`, `reason=not-pair-account`), so another local user
/// cannot write a false `join` line with an `SSH_USER_AUTH` of their own.
/// (Behind it, that file must be the pair account's: the escape-matrix test.)
#[test]
fn local_user_cannot_forge_a_guest_login_with_its_own_ssh_user_auth() {
    // A host runs `pairshell login` themselves with an SSH_USER_AUTH file
    // they wrote naming alice's key: no join line may appear under alice's
    // name, and nothing is listed.
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice"], &[]);

    let run = lab.login_as(&host, &alice.public_line, Some("list"));
    assert!(!run.success(), "{run}");
    assert_eq!(run.stdout, "", "{run}");
    let r = lab.wait_audit(&[("event", "deny")]);
    assert_eq!(r.get("reason"), Some("not-pair-account"), "{}", r.raw);
    assert_eq!(r.get("guest"), None, "{}", r.raw);
}
