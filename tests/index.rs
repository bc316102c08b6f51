//! The lookup index end to end, through a real sshd: `pairshell index`, the
//! admin's guest commands keeping it current, and a stale index (a config
//! edited by hand afterwards) never letting in a guest the config no longer
//! lists. The index's format and its ownership checks have unit tests in
//! `src/config/index.rs`.

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
