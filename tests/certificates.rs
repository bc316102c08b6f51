//! Guests who log in with SSH certificates, through a real sshd configured
//! with the shipped `contrib/sshd_config.d/pairshell-certificates.conf`
//! (`TrustedUserCAKeys` and `AuthorizedPrincipalsCommand … authorized-principals`)
//! and a test CA made with `ssh-keygen`, whose certificates `ssh-keygen -s`
//! signs. See `lab/src/lib.rs`.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;

use support::WAIT;

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

/// Pins: a genuine certificate from the trusted CA whose principal no guest
/// has is refused by sshd (`authorized-principals` prints nothing for it),
/// with no audit line.
///
/// Positive controls: sshd logged that it checked the certificate (its key
/// ID is in the log) and then closed the unauthenticated connection; the
/// trail is read only after a later login's line has arrived.
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
    let _api = lab.share(&host, "api", &["carol"], &[]);

    let log = lab.sshd_log_mark();
    let mark = lab.audit_mark();
    let run = lab.ssh(&mallory, Some("list"));
    assert_eq!(run.code(), Some(255), "{run}");
    assert!(run.stderr.contains("Permission denied"), "{run}");
    lab.wait_sshd_log_after(log, &["mallory-laptop"]);
    lab.wait_sshd_log_after(
        log,
        &[&format!(
            "Connection closed by authenticating user {}",
            lab.pair
        )],
    );
    let records: Vec<String> = lab.audit_settle(mark).into_iter().map(|r| r.raw).collect();
    assert!(records.is_empty(), "{records:?}");
}

/// Pins: a certificate alice signed herself, naming carol's principal, does
/// not make her carol: no trusted CA signed it, so sshd does not take the
/// certificate, and alice, let in by her own registered key, is refused
/// carol's session (`deny reason=not-shared` with `guest=alice`).
///
/// Positive controls: ssh offered the certificate (its `-v` output), sshd
/// accepted alice's plain key (its fingerprint in `Accepted publickey`),
/// and the `guest=carol` check reads the trail after alice's own deny line.
#[test]
fn self_signed_certificate_naming_another_guests_principal_is_refused() {
    let mut lab = lab!();
    let _ca = lab.enable_certificates();
    let alice = lab.add_guest("alice", None);
    let _carol = lab.add_certificate_guest("carol", &["carol@team"]);
    lab.sign(&alice.key, &alice, "forged", 1, &["carol@team"]);
    let host = lab.add_host();
    let _carols = lab.share(&host, "secret", &["carol"], &[]);

    let log = lab.sshd_log_mark();
    let mark = lab.audit_mark();
    let mut cmd = lab.ssh_with(&alice, &["-v", "-t"], Some("secret"));
    cmd.stdin(std::process::Stdio::null());
    let mut tty = support::Tty::spawn("alice with her self-signed certificate", cmd);
    let code = support::wait_gone(&mut tty, WAIT, "alice asking for carol's session");
    assert_ne!(code, 0, "{}", tty.text());
    assert!(
        tty.text().contains("ED25519-CERT"),
        "ssh never offered the certificate:\n{}",
        tty.text()
    );
    lab.wait_accepted_after(log, &alice.fingerprint);
    let r = lab.wait_audit_after(mark, &[("event", "deny"), ("request", "secret")], WAIT);
    assert_eq!(r.get("guest"), Some("alice"), "{}", r.raw);
    assert_eq!(r.get("reason"), Some("not-shared"), "{}", r.raw);
    let since = lab.audit_after(mark);
    assert!(
        since.iter().all(|r| r.get("guest") != Some("carol")),
        "{:?}",
        since.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    assert!(since.iter().all(|r| r.get("event") != Some("join")));
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
