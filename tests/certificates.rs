//! Guests who log in with SSH certificates, through a real sshd configured
//! with the shipped `contrib/sshd_config.d/pairshell-certificates.conf`
//! (`TrustedUserCAKeys` and `AuthorizedPrincipalsCommand … authorized-principals`)
//! and a test CA made with `ssh-keygen`, whose certificates `ssh-keygen -s`
//! signs. See `tests/support/mod.rs`.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

#[macro_use]
mod support;

use std::fs;

use support::{Lab, WAIT};

#[test]
fn certificate_login_maps_its_principal_to_the_guest_and_audits_key_id_and_serial() {
    let mut lab = lab!();
    let ca = lab.enable_certificates();
    let carol = lab.add_certificate_guest("carol", &["carol@team"]);
    lab.sign(&ca, &carol, "carol-laptop", 4242, &["carol@team"]);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["carol"], &[]);

    let run = lab.ssh(&carol, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(
        run.stdout,
        format!("{}\tread-write\n", api.label()),
        "{run}"
    );

    let mut tty = lab.attach(&carol, "api", &api);
    let join = lab.wait_audit(&[("event", "join"), ("guest", "carol")]);
    assert_eq!(join.get("principal"), Some("carol@team"), "{}", join.raw);
    assert_eq!(join.get("cert_id"), Some("carol-laptop"), "{}", join.raw);
    assert_eq!(join.get("cert_serial"), Some("4242"), "{}", join.raw);
    tty.tmux_key(b"d");
    support::wait_gone(&mut tty, WAIT, "carol after C-b d");
    let leave = lab.wait_audit(&[("event", "leave"), ("guest", "carol")]);
    assert_eq!(leave.get("cert_id"), Some("carol-laptop"), "{}", leave.raw);
}

#[test]
fn certificate_with_an_unknown_principal_is_refused_by_sshd_without_an_audit_line() {
    let mut lab = lab!();
    let ca = lab.enable_certificates();
    let _carol = lab.add_certificate_guest("carol", &["carol@team"]);
    // mallory's certificate is genuine, from the trusted CA, but names a
    // principal no guest has.
    let mallory = lab.make_key("mallory");
    lab.sign(&ca, &mallory, "mallory-laptop", 7, &["mallory@team"]);
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["carol"], &[]);

    let run = lab.ssh(&mallory, Some("list"));
    assert_eq!(run.code(), Some(255), "{run}");
    assert!(run.stderr.contains("Permission denied"), "{run}");
    assert!(
        lab.syslog().records().is_empty(),
        "{:?}",
        lab.syslog().raw()
    );
    assert!(lab.pair_clients(&api).is_empty());
}

#[test]
fn self_signed_certificate_naming_another_guests_principal_is_refused() {
    // alice has a registered key; she signs it herself as "carol@team".
    // No trusted CA signed it, so it must not make her carol.
    let mut lab = lab!();
    let _ca = lab.enable_certificates();
    let alice = lab.add_guest("alice", None);
    let _carol = lab.add_certificate_guest("carol", &["carol@team"]);
    lab.sign(&alice.key, &alice, "forged", 1, &["carol@team"]);
    let host = lab.add_host();
    let carols = lab.share(&host, "secret", &["carol"], &[]);

    let run = lab.ssh(&alice, Some("secret"));
    assert!(!run.success(), "{run}");
    assert!(lab.pair_clients(&carols).is_empty());
    let records = lab.syslog().records();
    assert!(
        records.iter().all(|r| r.get("guest") != Some("carol")),
        "{:?}",
        lab.syslog().raw()
    );
    // Whatever sshd made of it, alice is still only alice.
    let list = lab.ssh(&alice, Some("list"));
    assert!(!list.stdout.contains("secret"), "{list}");
}

#[test]
fn authorized_principals_prints_nothing_for_a_certificate_no_trusted_ca_signed() {
    let mut lab = lab!();
    let _ca = lab.enable_certificates();
    let _carol = lab.add_certificate_guest("carol", &["carol@team"]);
    let other_ca = lab.make_key("other-ca");
    let mallory = lab.make_key("mallory");
    lab.sign(&other_ca.key, &mallory, "mallory", 9, &["carol@team"]);
    let cert = fs::read_to_string(mallory.key.with_file_name("mallory-cert.pub")).unwrap();
    let mut words = cert.split_whitespace();
    let (t, k) = (words.next().unwrap(), words.next().unwrap());
    let run = lab.pairshell_root(&["authorized-principals", &lab.pair, t, k]);
    assert!(run.success(), "{run}");
    assert_eq!(run.stdout, "", "{run}");
}
