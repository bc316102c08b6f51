//! The lookup index end to end, through a real sshd: `pairshell index`, the
//! admin's guest commands keeping it current, and a stale index (a config
//! edited by hand afterwards) never letting in a guest the config no longer
//! lists; and the hosts index (`CONFIG.hosts-index`): a forged one ignored,
//! a stale entry after a host's edit never believed, a damaged one falling
//! back to the host's file. The indexes' formats and ownership checks have
//! unit tests in `src/config/index/`.

use pairshell_lab as support;
use pairshell_lab::lab;

use std::time::Duration;

use support::*;

/// `pairshell check` finds the index current, and nothing wrong with it.
fn assert_index_current(lab: &Lab) {
    let check = lab.check();
    assert!(!check.stderr.contains("index"), "{check}");
    assert!(
        check.stdout.contains("lookup index matches the config"),
        "{check}"
    );
}

/// Pins row 16 through sshd: the stamp check in `Index::open` keeps a stale
/// index from letting in a guest removed from the config by hand.
#[test]
fn stale_index_never_lets_in_a_guest_removed_from_the_config_by_hand() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &["bob"]);

    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("indexed 2 guests, 2 keys"), "{run}");
    assert!(lab.check().success());
    assert_index_current(&lab);

    // Through the index: sshd's key lookup, the login, and a real join.
    let run = lab.ssh(&bob, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-only\n", m.label()), "{run}");
    let _alice = lab.attach(&alice, "api", &m);

    // The admin takes bob out by hand and forgets `pairshell index`: the
    // index still lists bob's key, and must not be believed.
    lab.remove_guest("bob");
    let run = lab.ssh(&bob, Some("list"));
    assert_eq!(run.code(), Some(255), "sshd must refuse bob's key: {run}");
    let ak = lab.authorized_keys(&lab.pair, &bob.key_type, &bob.key_base64, None);
    assert!(ak.success(), "{ak}");
    assert_eq!(ak.stdout, "", "{ak}");
    assert!(
        ak.stderr.contains("not for the config as it is now"),
        "{ak}"
    );
    let run = lab.login_as_pair(&bob.public_line, Some("list"));
    assert!(!run.success(), "{run}");
    lab.wait_audit(&[("event", "deny"), ("reason", "unknown-key")]);
    let note = lab.wait_audit(&[("event", "index-unused")]);
    assert!(
        note.field("reason")
            .contains("not for the config as it is now"),
        "{}",
        note.raw
    );

    // Everyone still listed keeps working, from the whole config.
    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");

    // `check` says what to do, and doing it makes the index current again.
    let check = lab.check();
    assert!(!check.success(), "{check}");
    assert!(check.stderr.contains("run `pairshell index`"), "{check}");
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    assert_index_current(&lab);
    let run = lab.ssh(&bob, Some("list"));
    assert_eq!(run.code(), Some(255), "{run}");
}

#[test]
fn guest_add_and_remove_rebuild_the_index() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &[], &["carol"]);
    let carol = lab.make_key("carol");
    let pub_file = carol.key.with_extension("pub");

    let run = lab.guest_cmd(&["add", "carol", "--key-file", pub_file.to_str().unwrap()]);
    assert!(run.success(), "{run}");
    assert_index_current(&lab);
    let run = lab.ssh(&carol, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-only\n", m.label()), "{run}");

    // Removed while watching: the live re-check, reading through the index
    // `guest remove` rebuilt (or the whole config, if it looks first), ends
    // carol's client; and she cannot come back.
    let mut tty = lab.attach(&carol, "api", &m);
    let run = lab.guest_cmd(&["remove", "carol"]);
    assert!(run.success(), "{run}");
    assert!(
        tty.wait_exit(Duration::from_secs(45)).is_some(),
        "carol still connected:\n{}",
        tty.text()
    );
    let r = lab.wait_audit(&[("event", "leave"), ("guest", "carol")]);
    assert_eq!(r.get("reason"), Some("revoked"), "{}", r.raw);
    assert_index_current(&lab);
    let run = lab.ssh(&carol, Some("list"));
    assert_eq!(run.code(), Some(255), "{run}");
}

#[test]
fn certificate_guest_is_found_by_principal_through_the_index() {
    let mut lab = lab!();
    let ca = lab.enable_certificates();
    let carol = lab.add_certificate_guest("carol", &["carol@team"]);
    lab.sign(&ca, &carol, "carol-laptop", 7, &["carol@team"]);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["carol"], &[]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("1 principals"), "{run}");
    assert_index_current(&lab);

    // sshd's AuthorizedPrincipalsCommand and the login both look carol up
    // by principal in the index.
    let run = lab.ssh(&carol, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(
        run.stdout,
        format!("{}\tread-write\n", api.label()),
        "{run}"
    );
    let deny = lab
        .syslog()
        .records()
        .into_iter()
        .filter(|r| r.get("event") == Some("deny"))
        .count();
    assert_eq!(deny, 0);
}

/// The hosts index beside the lab's config.
fn hosts_index(lab: &Lab) -> std::path::PathBuf {
    let mut name = lab.config.file_name().unwrap().to_os_string();
    name.push(".hosts-index");
    lab.config.with_file_name(name)
}

/// `bytes` with every `read_write = ["alice"]` / `read_only = ["bob"]`
/// pair swapped, at the same length: an index that makes bob a writer,
/// with every offset still right, as whoever could write it would forge it.
fn swap_grants(bytes: &[u8]) -> Vec<u8> {
    let from = b"read_write = [\"alice\"]\nread_only = [\"bob\"]";
    let to = b"read_write = [\"bob\"]\nread_only = [\"alice\"]";
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut found = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            found += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(found > 0, "the index must hold the session's text");
    out
}

/// Write `bytes` at `path` (replacing it) with this owner and mode.
fn plant(path: &std::path::Path, bytes: &[u8], uid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("planted");
    let _ = std::fs::remove_file(&tmp);
    std::fs::write(&tmp, bytes).unwrap();
    std::os::unix::fs::chown(&tmp, Some(uid), Some(0)).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Pins the hosts index's row: `HostsIndex::open`'s trust rules. An index
/// that would make bob a writer is believed when root's (the positive
/// control: the forgery works, so the check is what stops it), and ignored
/// when another user owns it, when group or other can write it, or when it
/// is a symbolic link to root's copy: bob stays the watcher his host's file
/// says he is.
#[test]
fn forged_hosts_index_not_owned_by_root_is_ignored() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &["bob"]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("indexed 1 host files"), "{run}");
    let path = hosts_index(&lab);
    let forged = swap_grants(&std::fs::read(&path).unwrap());
    let read_only = format!("{}\tread-only\n", m.label());
    let read_write = format!("{}\tread-write\n", m.label());
    let bob_list = |lab: &Lab| {
        let run = lab.ssh(&bob, Some("list"));
        assert!(run.success(), "{run}");
        run.stdout
    };
    assert_eq!(bob_list(&lab), read_only);

    plant(&path, &forged, 0, 0o644);
    assert_eq!(bob_list(&lab), read_write, "root's index is believed");

    plant(&path, &forged, lab.uid_of(&maria), 0o644);
    assert_eq!(bob_list(&lab), read_only, "an index owned by a host");
    let check = lab.check();
    assert!(check.stderr.contains("hosts-index"), "{check}");

    plant(&path, &forged, 0, 0o664);
    assert_eq!(bob_list(&lab), read_only, "a group-writable index");

    let elsewhere = lab.scratch_file("hosts-index");
    plant(&elsewhere, &forged, 0, 0o644);
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    assert_eq!(bob_list(&lab), read_only, "a symlink to root's index");
}

/// Pins the hosts index's row: the per-file stamp in `HostsIndex::lookup`.
/// The host edits their file in place after the index was built (`revoke`
/// and `grant`, as any host may at any time): the revoked guest loses the
/// session and the newly granted one gains it at their next login, and
/// `check` says the index is stale for that file.
#[test]
fn stale_hosts_index_entry_after_a_host_edit_is_not_believed() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &[]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    let check = lab.check();
    assert!(
        check.stdout.contains("hosts index matches every host file"),
        "{check}"
    );
    let list = |g: &Guest| lab.ssh(g, Some("list")).stdout;
    assert_eq!(list(&alice), format!("{}\tread-write\n", m.label()));
    assert_eq!(list(&bob), "");

    let run = lab.pairshell_as(&maria, &["revoke", "api", "alice"]);
    assert!(run.success(), "{run}");
    let run = lab.pairshell_as(&maria, &["grant", "api", "bob", "--ro"]);
    assert!(run.success(), "{run}");
    assert_eq!(list(&alice), "", "alice was revoked");
    assert_eq!(list(&bob), format!("{}\tread-only\n", m.label()));
    let check = lab.check();
    assert!(
        check
            .stdout
            .contains("hosts index is stale for 1 of 1 host files"),
        "{check}"
    );

    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    assert_eq!(list(&alice), "");
    assert_eq!(list(&bob), format!("{}\tread-only\n", m.label()));
}

/// Pins the hosts index's row: damage `HostsIndex::lookup` can see (a
/// guest's part that does not parse, or one that holds a session not
/// naming the guest) reads the host's file instead: the guest gets exactly
/// what the file says, neither more nor nothing.
#[test]
fn hosts_index_with_a_damaged_entry_falls_back_to_the_file() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &["bob"]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    let path = hosts_index(&lab);
    let good = std::fs::read(&path).unwrap();

    // Text that no longer parses (an unknown field, same length).
    let mut unparsable = good.clone();
    let mut damaged = 0;
    for i in 0..unparsable.len().saturating_sub(9) {
        if &unparsable[i..i + 9] == b"read_only" {
            unparsable[i..i + 9].copy_from_slice(b"read_onlX");
            damaged += 1;
        }
    }
    assert!(damaged > 0);
    plant(&path, &unparsable, 0, 0o644);
    let list = |g: &Guest| {
        let run = lab.ssh(g, Some("list"));
        assert!(run.success(), "{run}");
        run.stdout
    };
    assert_eq!(list(&alice), format!("{}\tread-write\n", m.label()));
    assert_eq!(list(&bob), format!("{}\tread-only\n", m.label()));

    // Text that parses but names the guest nowhere: bob's part as if it
    // named only cyd.
    let mut renamed = good.clone();
    let from = b"read_only = [\"bob\"]";
    let to = b"read_only = [\"cyd\"]";
    for i in 0..renamed.len().saturating_sub(from.len()) {
        if &renamed[i..i + from.len()] == from {
            renamed[i..i + from.len()].copy_from_slice(to);
        }
    }
    assert_ne!(renamed, good);
    plant(&path, &renamed, 0, 0o644);
    assert_eq!(list(&bob), format!("{}\tread-only\n", m.label()));
}

/// Pins the hosts index's row: the owner check `HostsIndex::lookup` makes
/// for a file that grants something, against the host's account as it is
/// now. The host's account is given another uid after the index was built
/// (an admin re-creating or renumbering it): the file, untouched, is still
/// owned by the old uid, which may be someone else's by now. Read directly,
/// such a file is refused (`skip-host-file`); the index, whose stamp of the
/// file still matches, must not be believed for it either.
///
/// Positive control: before the change alice lists the session through the
/// index (`check` says it matches every host file).
#[test]
fn host_file_owned_by_a_hosts_old_uid_is_not_believed_from_the_hosts_index() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &[]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    let check = lab.check();
    assert!(
        check.stdout.contains("hosts index matches every host file"),
        "{check}"
    );
    assert_eq!(
        lab.ssh(&alice, Some("list")).stdout,
        format!("{}\tread-write\n", m.label())
    );

    // usermod refuses while the account runs anything: the server goes.
    let _ = lab.tmux_as(&maria, &m.socket, &["kill-server"]);
    let (old, _) = ids(&maria);
    let new = (old + 10_000..old + 20_000)
        .find(|&uid| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .unwrap()
                .is_none()
        })
        .expect("a free uid");
    let out = std::process::Command::new("usermod")
        .args(["-u", &new.to_string(), &maria])
        .output()
        .expect("usermod");
    assert!(out.status.success(), "usermod -u: {out:?}");
    let mark = lab.audit_mark();
    assert_eq!(lab.ssh(&alice, Some("list")).stdout, "");
    let skipped = lab.wait_audit_after(mark, &[("event", "skip-host-file")], WAIT);
    assert!(
        skipped.field("file").ends_with(&format!("/{maria}.toml")),
        "{}",
        skipped.raw
    );
}

/// With a stale index, a hand edit that broke only another guest's table
/// (a misspelt field) does not refuse this guest: sshd's key lookup and the
/// login build only the tables that hold the presented key. The broken
/// guest is refused, a TOML error anywhere still refuses everyone, and
/// `check` reports the typo (the behaviour pairshell.toml(5) describes
/// under "The index").
#[test]
fn stale_index_with_another_guests_typo_still_lets_this_guest_in() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let bob = lab.add_guest("bob", None);
    let maria = lab.add_host();
    let m = lab.share(&maria, "api", &["alice"], &["bob"]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");

    // Bob's table gets a field that does not exist: the index goes stale.
    let good = lab.config_text();
    let typo = good.replace("[guests.bob]\n", "[guests.bob]\nread_wirte = true\n");
    assert_ne!(typo, good);
    lab.write_config_text(&typo);

    let ak = lab.authorized_keys(&lab.pair, &alice.key_type, &alice.key_base64, None);
    assert!(ak.success(), "{ak}");
    assert!(ak.stdout.contains(&alice.key_base64), "{ak}");
    assert!(
        ak.stderr.contains("not for the config as it is now"),
        "{ak}"
    );
    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, format!("{}\tread-write\n", m.label()), "{run}");

    // Bob's own table is refused, as the whole config would be.
    let ak = lab.authorized_keys(&lab.pair, &bob.key_type, &bob.key_base64, None);
    assert_eq!(ak.stdout, "", "{ak}");
    assert!(ak.stderr.contains("read_wirte"), "{ak}");
    assert_eq!(lab.ssh(&bob, Some("list")).code(), Some(255));

    // `check` reads the whole file and names the typo.
    let check = lab.check();
    assert!(!check.success(), "{check}");
    assert!(format!("{check}").contains("read_wirte"), "{check}");

    // A TOML error after alice's table refuses alice too, with its place.
    let broken = format!("{good}\n[guests.zed]\nkeys = [\"x\"\n");
    lab.write_config_text(&broken);
    let ak = lab.authorized_keys(&lab.pair, &alice.key_type, &alice.key_base64, None);
    assert_eq!(ak.stdout, "", "{ak}");
    // The unclosed array's line, or the end of the file just after it.
    let line = broken.lines().count();
    assert!(
        ak.stderr.contains(&format!(":{line}:")) || ak.stderr.contains(&format!(":{}:", line + 1)),
        "{ak}"
    );
    assert_eq!(lab.ssh(&alice, Some("list")).code(), Some(255));
}
