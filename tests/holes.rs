//! The smaller holes a red-team pass found (issue 13's 9–14), each through
//! the real sshd and named after the attack. Every refusal here comes with
//! a positive control: the same step where the hole is open, or the step
//! that shows the attack path was taken.

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{Lab, SshdExtra, WAIT};

/// A shared library whose constructor creates `marker` (named after the
/// uid that loaded it), built with the system's C compiler.
fn preload_library(lab: &Lab, marker: &Path) -> PathBuf {
    let dir = lab.scratch_file("preload");
    fs::create_dir_all(&dir).unwrap();
    let source = dir.join("mark.c");
    fs::write(
        &source,
        format!(
            "#include <stdio.h>\n#include <unistd.h>\n\
             __attribute__((constructor)) static void mark(void) {{\n\
             char path[512];\n\
             snprintf(path, sizeof path, \"{}-%u\", (unsigned) getuid());\n\
             FILE *f = fopen(path, \"w\"); if (f) fclose(f);\n}}\n",
            marker.display()
        ),
    )
    .unwrap();
    let library = dir.join("mark.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .expect("run cc (the C compiler cargo links with)");
    assert!(out.status.success(), "cc: {out:?}");
    for p in [&dir, &library] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    library
}

/// Guards against: a guest's `ssh -o SetEnv=LD_PRELOAD=…` reaching
/// pairshell, whose loader would run the library as the pair account before
/// pairshell's first instruction (hole 9). Pins the shipped drop-in's
/// `AcceptEnv LANG LC_*`, which overrides a permissive global `AcceptEnv`,
/// and `check`'s refusal of any AcceptEnv beyond the locale.
#[test]
fn guest_ld_preload_through_ssh_setenv_never_runs_as_the_pair_account() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);
    let marker = PathBuf::from(format!("/tmp/pairshell-preload-{}", std::process::id()));
    let planted = PathBuf::from(format!("{}-{}", marker.display(), lab.pair_uid));
    let _ = fs::remove_file(&planted);
    let library = preload_library(&lab, &marker);
    let setenv = format!("SetEnv=LD_PRELOAD={}", library.display());

    // The lab's global sshd config accepts LD_PRELOAD (a permissive
    // admin); the shipped drop-in still keeps it from the pair account.
    let run = lab
        .ssh_with(&alice, &["-o", &setenv], Some("list"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&api.label()),
        "alice's list did not run (the key or the request never got through): {run:?}"
    );
    assert!(
        !planted.exists(),
        "the guest's LD_PRELOAD ran as the pair account through the shipped drop-in"
    );
    let check = lab.check();
    assert!(check.success(), "{check}");

    // The control: without the drop-in's AcceptEnv the same request runs
    // the library as the pair account, and `check` says so.
    lab.extend_sshd(SshdExtra {
        permissive_env: true,
        ..Default::default()
    });
    let run = lab
        .ssh_with(&alice, &["-o", &setenv], Some("list"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&run.stdout).contains(&api.label()),
        "{run:?}"
    );
    assert!(
        planted.exists(),
        "the control failed: a permissive sshd did not pass LD_PRELOAD, so the test shows nothing"
    );
    let _ = fs::remove_file(&planted);
    let check = lab.check();
    assert!(!check.success(), "{check}");
    assert!(
        check.stderr.contains("AcceptEnv") && check.stderr.contains("LD_PRELOAD"),
        "{check}"
    );
}

/// Guards against: a login whose SSH_USER_AUTH holds keys of two guests
/// leaving no line in either guest's trail (hole 13): one `deny` line per
/// guest, each naming that guest.
#[test]
fn conflicting_keys_refusal_is_in_each_guests_trail() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let host = lab.add_host();
    let _api = lab.share(&host, "api", &["alice", "bob"], &[]);
    let auth = lab.scratch_file("mixed");
    fs::write(
        &auth,
        format!(
            "publickey {}\npublickey {}\n",
            alice.public_line, bob.public_line
        ),
    )
    .unwrap();
    fs::set_permissions(&auth, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&auth, Some(lab.pair_uid), Some(lab.pair_gid)).unwrap();

    let mark = lab.audit_mark();
    let run = lab.login_with_auth(&lab.pair.clone(), Some(&auth), Some("list"));
    assert!(!run.success(), "{run}");
    for guest in ["alice", "bob"] {
        let deny = lab.wait_audit_after(
            mark,
            &[
                ("event", "deny"),
                ("reason", "conflicting-keys"),
                ("guest", guest),
            ],
            WAIT,
        );
        assert!(
            deny.raw.contains(&format!("guest={guest} ")),
            "{}",
            deny.raw
        );
    }
}

/// Guards against: a guest removed by the admin while sitting in the
/// chooser still joining, with a `join` line, until the first re-check
/// (hole 14). The pick is judged against the config as it is then.
#[test]
fn guest_removed_while_in_the_chooser_is_refused_at_the_pick() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["alice"], &[]);

    let mut tty = lab.ssh_tty(&alice, None);
    let item = format!("{} (read-write)", api.label());
    tty.wait_until(WAIT, |t| t.contains(&item))
        .unwrap_or_else(|t| panic!("the chooser never listed {item:?}:\n{t}"));
    let mark = lab.audit_mark();
    lab.remove_guest("alice");
    tty.send(b"\r");
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "alice")], WAIT);
    assert_eq!(deny.get("reason"), Some("removed-guest"), "{}", deny.raw);
    assert_eq!(tty.wait_exit(WAIT).map(|c| c != 0), Some(true));
    assert!(
        !lab.audit_after(mark)
            .iter()
            .any(|r| r.get("event") == Some("join")),
        "a join line for a removed guest: {:?}",
        lab.audit_after(mark)
    );
    assert!(lab.pair_clients(&api).is_empty());
    // The control: a guest still in the config joins from the chooser.
    let bob = lab.add_guest("bob", None);
    lab.share(&host, "db", &["bob"], &[]);
    let mut tty = lab.ssh_tty(&bob, None);
    tty.wait_until(WAIT, |t| t.contains("(read-write)"))
        .unwrap_or_else(|t| panic!("bob's chooser:\n{t}"));
    let mark = lab.audit_mark();
    tty.send(b"\r");
    lab.wait_audit_after(mark, &[("event", "join"), ("guest", "bob")], WAIT);
    std::thread::sleep(Duration::from_millis(200));
    tty.tmux_key(b"d");
    let _ = tty.wait_exit(WAIT);
}

/// `cat PATH` as `user`.
fn cat(lab: &Lab, user: &str, path: &Path) -> std::process::Output {
    lab.command_as(user, Path::new("/bin/cat"))
        .arg(path)
        .output()
        .unwrap()
}

/// Guards against: every host reading every other host's roster records
/// (who pairs with whom, from which address, since when) and the audit gap
/// file (hole 10). Every host is in the group that owns the directory; a
/// record is 0600 with one ACL entry for its own host, the gap file 0600.
#[test]
fn host_cannot_read_another_hosts_roster_records_or_the_gap_file() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.enable_host();
    let omar = lab.enable_host();
    let (_, api) = lab.share_as(&maria, "api", &["--rw", "alice"]);
    let mut tty = lab.attach(&alice, "api", &api);
    let join = lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    assert_eq!(join.get("roster"), None, "{}", join.raw);
    let record = lab.sockets_dir().join(".clients").join(join.field("pid"));
    // The control: the record's own host reads it, and `who` names alice.
    let own = cat(&lab, &maria, &record);
    assert!(
        String::from_utf8_lossy(&own.stdout).contains("alice"),
        "maria cannot read her own guest's record: {own:?}"
    );
    let who = lab.pairshell_as(&maria, &["who"]);
    assert!(who.stdout.contains("alice"), "{who}");
    // Another host, in the same socket group, cannot.
    assert!(
        lab.socket_group_members().contains(&omar),
        "omar is not in the socket group, so the test shows nothing"
    );
    let other = cat(&lab, &omar, &record);
    assert!(
        !other.status.success() && !String::from_utf8_lossy(&other.stdout).contains("alice"),
        "omar read maria's guest's record: {other:?}"
    );

    // The gap file: alice's leave line waits there while syslog is down.
    lab.stop_syslog();
    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "alice after C-b d");
    let gap = lab.sockets_dir().join(".clients/.audit-gap");
    let pair_reads = cat(&lab, &lab.pair.clone(), &gap);
    assert!(
        String::from_utf8_lossy(&pair_reads.stdout).contains("event=leave"),
        "the leave line is not in the gap file, so the test shows nothing: {pair_reads:?}"
    );
    for host in [&maria, &omar] {
        let read = cat(&lab, host, &gap);
        assert!(
            !read.status.success() && read.stdout.is_empty(),
            "{host} read the gap file: {read:?}"
        );
    }
    lab.restart_syslog();
}

/// Guards against: one guest holding a session with many connections at
/// once, each flashing a message on the host's status line (hole 11).
/// Pins `max_connections_per_guest` (`reason=too-many-connections`).
#[test]
fn one_guest_cannot_hold_more_connections_than_the_cap() {
    let mut lab = lab!();
    lab.add_config_lines("max_connections_per_guest = 2");
    let bob = lab.add_guest("bob", None);
    // `host add` makes the roster directory the count is read from.
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    // The control: up to the cap, bob joins.
    let mut first = lab.attach(&bob, "api", &api);
    let mut second = lab.attach(&bob, "api", &api);
    assert!(
        support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some(),
        "bob's two joins did not both attach: {:?}",
        lab.pair_clients(&api)
    );
    let mark = lab.audit_mark();
    let mut third = lab.ssh_tty(&bob, Some("api"));
    third
        .wait_for("already have 2 sessions open")
        .unwrap_or_else(|e| panic!("the third join was not refused: {e}"));
    let deny = lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "bob")], WAIT);
    assert_eq!(
        deny.get("reason"),
        Some("too-many-connections"),
        "{}",
        deny.raw
    );
    assert_eq!(lab.pair_clients(&api).len(), 2);
    // One leaves; bob may join again.
    first.tmux_key(b"d");
    support::wait_gone(&mut first, WAIT, "bob's first connection");
    let mut fourth = lab.attach(&bob, "api", &api);
    assert!(
        support::poll(WAIT, || (lab.pair_clients(&api).len() == 2).then_some(())).is_some(),
        "{:?}",
        lab.pair_clients(&api)
    );
    drop(third);
    for tty in [&mut second, &mut fourth] {
        tty.tmux_key(b"d");
        support::wait_gone(tty, WAIT, "bob");
    }
}

/// Guards against: a flood of refused requests with one key flooding the
/// trail (hole 11): past `audit.refusals_per_minute` a key's refusals are
/// counted, not written, and the next line written says how many were left
/// out. The guest is refused every time either way.
#[test]
fn flood_of_one_keys_refusals_is_capped_in_the_trail() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let carol = lab.add_guest("carol", None);
    // `host add` makes the directory the counts are kept in.
    let host = lab.enable_host();
    lab.share_as(&host, "api", &["--rw", "alice", "--rw", "carol"]);
    let text = lab.config_text().replace(
        "required = true\n",
        "required = true\nrefusals_per_minute = 3\n",
    );
    lab.write_config_text(&text);
    let mark = lab.audit_mark();
    for i in 0..8 {
        let run = lab.ssh(&alice, Some(&format!("nosuch{i}")));
        assert!(run.stderr.contains("is not shared with you"), "{i}: {run}");
    }
    // The positive sentinel: another key's refusal arrives, so every line
    // alice's eight could have written has arrived too.
    let run = lab.ssh(&carol, Some("sentinel"));
    assert!(!run.success(), "{run}");
    lab.wait_audit_after(mark, &[("event", "deny"), ("guest", "carol")], WAIT);
    let alices: Vec<_> = lab
        .audit_after(mark)
        .into_iter()
        .filter(|r| r.get("guest") == Some("alice") && r.get("event") == Some("deny"))
        .collect();
    assert_eq!(
        alices.len(),
        3,
        "{:?}",
        alices.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
}
