//! Who is this guest? Only the key sshd verified may say.
//!
//! With `ExposeAuthInfo yes`, sshd writes the methods and keys a session
//! authenticated with to a file named by `SSH_USER_AUTH`, one per line
//! (`publickey ssh-ed25519 AAAA…`, `password`, …). That file, checked by
//! owner and type, is the only input to identity: never a name, a comment,
//! an argument or anything else a guest can type.
//!
//! Guards against: a guest naming someone else (the request and `-c` text
//! play no part here), a forged file (it must be a regular file owned by the
//! pair account, not a symlink), and a session authenticated with keys of two
//! different guests (refused rather than picking one).

use std::path::Path;

use jiff::Timestamp;
use nix::unistd::Uid;
use ssh_key::{Certificate, HashAlg, PublicKey};

use crate::config::Config;
use crate::core::error::Error;
use crate::policy::{self, KeyOwner};
use crate::sys::trust::{self, Owner};

const MAX_AUTH_INFO: u64 = 64 << 10;

/// A key from `SSH_USER_AUTH`, reduced to what the policy compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PresentedKey {
    /// The plain public key's type (for a certificate: the certified key's).
    pub(crate) key_type: String,
    /// The plain public key, canonical base64.
    pub(crate) base64: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub(crate) fingerprint: String,
    pub(crate) certificate: Option<CertInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertInfo {
    pub(crate) key_id: String,
    pub(crate) serial: u64,
    pub(crate) principals: Vec<String>,
    /// The certificate itself, to check against the trusted CAs.
    pub(crate) cert: Box<Certificate>,
}

impl CertInfo {
    /// Whether a CA in `cas` signed this user certificate and it is valid
    /// at `now`. Checked here, not only by sshd: sshd may have accepted
    /// the certificate's plain key without looking at the certificate at
    /// all, and then its principals are whatever its holder wrote.
    pub(crate) fn trusted(&self, cas: &[PublicKey], now: Timestamp) -> bool {
        let Ok(now) = u64::try_from(now.as_second()) else {
            return false;
        };
        let fingerprints: Vec<_> = cas.iter().map(|k| k.fingerprint(HashAlg::Sha256)).collect();
        self.cert.cert_type() == ssh_key::certificate::CertType::User
            && self.cert.validate_at(now, &fingerprints).is_ok()
    }
}

/// The guest, as established from a verified key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) guest: String,
    pub(crate) fingerprint: String,
    pub(crate) key_type: String,
    /// The plain public key, canonical base64: what the live re-check looks
    /// up again.
    pub(crate) base64: String,
    /// The certificate principal that identified the guest, when a trusted
    /// certificate did (then the re-check looks that up instead).
    pub(crate) principal: Option<String>,
    /// The certificate's key id and serial, for the audit line.
    pub(crate) cert: Option<(String, u64)>,
}

/// Why a login could not be tied to a guest.
#[derive(Debug)]
pub(crate) enum IdentityError {
    /// `SSH_USER_AUTH` is not set: sshd lacks `ExposeAuthInfo yes`.
    Missing,
    /// The file failed its checks or could not be read.
    Unsafe(Error),
    /// No `publickey` line (e.g. a password-only login).
    NoPublicKey,
    /// A line that is not a key sshd would write.
    Malformed(String),
    /// No guest has this key.
    UnknownKey(Box<PresentedKey>),
    /// The guest exists but their access has expired.
    Expired(String, Box<PresentedKey>),
    /// Keys of different guests in one session.
    Conflict(String, String),
    /// A certificate from a trusted CA whose principals name no guest.
    UnknownPrincipal(Box<PresentedKey>),
    /// The config could not be read to look the key up.
    Config(String),
}

impl IdentityError {
    /// The audit line's `reason`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            IdentityError::Missing => "no-auth-info",
            IdentityError::Unsafe(_) => "unsafe-auth-info",
            IdentityError::NoPublicKey => "no-public-key",
            IdentityError::Malformed(_) => "malformed-auth-info",
            IdentityError::UnknownKey(_) => "unknown-key",
            IdentityError::Expired(..) => "expired-guest",
            IdentityError::Conflict(..) => "conflicting-keys",
            IdentityError::UnknownPrincipal(_) => "unknown-principal",
            IdentityError::Config(_) => "config-error",
        }
    }

    /// The admin's explanation, for the audit line.
    pub(crate) fn detail(&self) -> String {
        match self {
            IdentityError::Missing => {
                "SSH_USER_AUTH is not set: sshd needs `ExposeAuthInfo yes` for the pair account"
                    .into()
            }
            IdentityError::Unsafe(e) => e.to_string(),
            IdentityError::Config(e) => e.clone(),
            IdentityError::NoPublicKey => {
                "the session was not authenticated by a public key".into()
            }
            IdentityError::Malformed(line) => format!("unexpected line in SSH_USER_AUTH: {line}"),
            IdentityError::UnknownKey(k) => format!("no guest has key {}", k.fingerprint),
            IdentityError::Expired(g, _) => format!("guest {g} has expired"),
            IdentityError::Conflict(a, b) => {
                format!("keys of two guests ({a}, {b}) in one session")
            }
            IdentityError::UnknownPrincipal(k) => format!(
                "no guest has any of the principals [{}] of certificate {:?}",
                k.certificate
                    .as_ref()
                    .map(|c| c.principals.join(","))
                    .unwrap_or_default(),
                k.certificate
                    .as_ref()
                    .map(|c| c.key_id.as_str())
                    .unwrap_or_default()
            ),
        }
    }

    /// What the guest is told.
    pub(crate) fn to_guest(&self) -> String {
        match self {
            IdentityError::Missing | IdentityError::Unsafe(_) | IdentityError::Malformed(_) => {
                "cannot tell which guest you are; the admin needs to check the sshd setup".into()
            }
            IdentityError::NoPublicKey => "log in with your SSH key".into(),
            IdentityError::Config(_) => {
                "pairshell cannot read its configuration; the admin has been told".into()
            }
            IdentityError::UnknownKey(k) => format!(
                "your key ({}) is not registered with pairshell on this host",
                k.fingerprint
            ),
            IdentityError::Expired(g, _) => format!("access for {g} has expired"),
            IdentityError::Conflict(..) => "keys of more than one guest were used".into(),
            IdentityError::UnknownPrincipal(_) => {
                "your certificate names no guest registered with pairshell on this host".into()
            }
        }
    }

    /// The key concerned, when there was one, for the audit line.
    pub(crate) fn key(&self) -> Option<&PresentedKey> {
        match self {
            IdentityError::UnknownKey(k)
            | IdentityError::Expired(_, k)
            | IdentityError::UnknownPrincipal(k) => Some(k),
            _ => None,
        }
    }
}

/// Read and parse the file named by `SSH_USER_AUTH`.
pub(crate) fn read_auth_info(
    path: Option<&Path>,
    pair_uid: Uid,
) -> Result<Vec<PresentedKey>, IdentityError> {
    let path = path.ok_or(IdentityError::Missing)?;
    let text = trust::read_trusted(path, Owner::Exactly(pair_uid), MAX_AUTH_INFO)
        .map_err(IdentityError::Unsafe)?;
    parse_auth_info(&text)
}

/// Parse `SSH_USER_AUTH` text. Lines for other methods (`password`,
/// `keyboard-interactive`) are allowed alongside keys but prove nothing.
pub(crate) fn parse_auth_info(text: &str) -> Result<Vec<PresentedKey>, IdentityError> {
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (method, rest) = line.split_once(' ').unwrap_or((line, ""));
        match method {
            "publickey" => keys.push(parse_key(rest.trim()).map_err(|why| {
                IdentityError::Malformed(format!("{why}: {}", crate::audit::escape(line)))
            })?),
            "password"
            | "keyboard-interactive"
            | "hostbased"
            | "gssapi-with-mic"
            | "gssapi-keyex"
            | "none" => {}
            _ if method.starts_with("keyboard-interactive/") => {}
            _ => return Err(IdentityError::Malformed(crate::audit::escape(line))),
        }
    }
    if keys.is_empty() {
        return Err(IdentityError::NoPublicKey);
    }
    Ok(keys)
}

fn parse_key(text: &str) -> Result<PresentedKey, String> {
    let key_type = text.split(' ').next().unwrap_or_default();
    if key_type.ends_with("-cert-v01@openssh.com") {
        let cert = parse_certificate(text)?;
        let key = PublicKey::from(cert.public_key().clone());
        let mut p = presented(&key).ok_or("not a public key")?;
        p.certificate = Some(CertInfo {
            key_id: cert.key_id().to_string(),
            serial: cert.serial(),
            principals: cert.valid_principals().to_vec(),
            cert: Box::new(cert),
        });
        Ok(p)
    } else {
        PublicKey::from_openssh(text)
            .ok()
            .and_then(|k| presented(&k))
            .ok_or_else(|| "not a public key".to_string())
    }
}

/// Parse an OpenSSH certificate. The ssh-key crate (0.6) cannot represent
/// the "valid forever" expiry `ssh-keygen -s` writes without `-V`; such a
/// certificate is refused with that said, so the admin can re-sign it with
/// a validity interval.
pub(crate) fn parse_certificate(text: &str) -> Result<Certificate, String> {
    Certificate::from_openssh(text).map_err(|e| match e {
        ssh_key::Error::Time => "certificate is valid forever, which pairshell cannot read; \
                                 sign it with a validity interval (ssh-keygen -s CA -V …)"
            .to_string(),
        // escape_debug: the error may quote bytes of the line (a bad
        // key-type label), which must not reach a log or a terminal raw.
        e => format!("not a certificate: {}", e.to_string().escape_debug()),
    })
}

fn presented(key: &PublicKey) -> Option<PresentedKey> {
    let openssh = key.to_openssh().ok()?;
    let mut words = openssh.split(' ');
    let key_type = words.next()?.to_string();
    let base64 = words.next()?.to_string();
    Some(PresentedKey {
        key_type,
        base64,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        certificate: None,
    })
}

/// Map the presented keys to one current guest.
///
/// A certificate signed by a CA in `cas` (the admin's
/// `trusted_user_ca_keys`) is looked up by its principals; any other key,
/// or a certificate no trusted CA signed, by the plain public key.
pub(crate) fn identify(
    config: &Config,
    keys: &[PresentedKey],
    cas: &[PublicKey],
    now: Timestamp,
) -> Result<Identity, IdentityError> {
    let mut found: Option<(&str, &PresentedKey, Option<&str>)> = None;
    for key in keys {
        let trusted_cert = key.certificate.as_ref().filter(|c| c.trusted(cas, now));
        let (owner, principal) = match trusted_cert {
            Some(cert) => match policy::guest_for_principals(config, &cert.principals, now) {
                (KeyOwner::Unknown, _) => {
                    match policy::guest_for_key(config, &key.key_type, &key.base64, now) {
                        KeyOwner::Unknown => {
                            return Err(IdentityError::UnknownPrincipal(Box::new(key.clone())))
                        }
                        owner => (owner, None),
                    }
                }
                found => found,
            },
            None => (
                policy::guest_for_key(config, &key.key_type, &key.base64, now),
                None,
            ),
        };
        let name = match owner {
            KeyOwner::Current(name, _) => name,
            KeyOwner::Expired(name, _) => {
                return Err(IdentityError::Expired(
                    name.to_string(),
                    Box::new(key.clone()),
                ))
            }
            KeyOwner::Shared(a, b) => {
                return Err(IdentityError::Conflict(a.to_string(), b.to_string()))
            }
            KeyOwner::Unknown => return Err(IdentityError::UnknownKey(Box::new(key.clone()))),
        };
        match found {
            Some((first, _, _)) if first != name => {
                return Err(IdentityError::Conflict(first.to_string(), name.to_string()))
            }
            Some(_) => {}
            None => found = Some((name, key, principal)),
        }
    }
    let (guest, key, principal) = found.ok_or(IdentityError::NoPublicKey)?;
    Ok(Identity {
        guest: guest.to_string(),
        fingerprint: key.fingerprint.clone(),
        key_type: key.key_type.clone(),
        base64: key.base64.clone(),
        principal: principal.map(str::to_string),
        cert: key
            .certificate
            .as_ref()
            .map(|c| (c.key_id.clone(), c.serial)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_main;

    const ED: &str = include_str!("../testdata/keys/ed25519.pub");
    const RSA: &str = include_str!("../testdata/keys/rsa.pub");
    const ECDSA: &str = include_str!("../testdata/keys/ecdsa.pub");
    const CERT: &str = include_str!("../testdata/keys/ed25519-cert.pub");

    fn fp(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/keys/{name}.fp",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .trim()
        .to_string()
    }

    fn line(key: &str) -> String {
        format!("publickey {}\n", key.trim())
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        for (key, name) in [(ED, "ed25519"), (RSA, "rsa"), (ECDSA, "ecdsa")] {
            let keys = parse_auth_info(&line(key)).unwrap();
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0].fingerprint, fp(name), "{name}");
            assert_eq!(keys[0].key_type, key.split(' ').next().unwrap());
            assert_eq!(keys[0].base64, key.split(' ').nth(1).unwrap());
        }
    }

    #[test]
    fn certificate_line_yields_the_certified_key_and_its_identity() {
        let keys = parse_auth_info(&line(CERT)).unwrap();
        let k = &keys[0];
        assert_eq!(k.key_type, "ssh-ed25519");
        assert_eq!(k.base64, ED.split(' ').nth(1).unwrap());
        assert_eq!(k.fingerprint, fp("ed25519"));
        let cert = k.certificate.as_ref().unwrap();
        assert_eq!(cert.key_id, "alice-id");
        assert_eq!(cert.serial, 42);
        assert_eq!(cert.principals, vec!["alice", "bob"]);
    }

    #[test]
    fn several_lines_and_other_methods() {
        let text = format!("{}password\n{}", line(ED), line(RSA));
        let keys = parse_auth_info(&text).unwrap();
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn password_only_login_has_no_identity() {
        assert!(matches!(
            parse_auth_info("password\n"),
            Err(IdentityError::NoPublicKey)
        ));
        assert!(matches!(
            parse_auth_info(""),
            Err(IdentityError::NoPublicKey)
        ));
    }

    #[test]
    fn junk_is_refused_without_panicking() {
        for junk in [
            "publickey\n",
            "publickey ssh-ed25519\n",
            "publickey ssh-ed25519 !!!!\n",
            "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n",
            "publickey ssh-ed25519-cert-v01@openssh.com AAAA\n",
            "hello world\n",
            "publickey ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHHmH87JMx9IK02wyyeWgGNAarghUgFgSh18V9rHoAPA\n",
        ] {
            assert!(
                matches!(parse_auth_info(junk), Err(IdentityError::Malformed(_))),
                "{junk:?}"
            );
        }
    }

    fn config() -> Config {
        parse_main(
            Path::new("/c"),
            &format!(
                "pair_user = \"pair\"\n[guests.alice]\nkeys = [\"{}\"]\n[guests.bob]\nkeys = [\"{}\"]\n[guests.old]\nkeys = [\"{}\"]\nexpires = 2020-01-01T00:00:00Z\n",
                ED.trim(),
                RSA.trim(),
                ECDSA.trim()
            ),
        )
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn key_identifies_guest() {
        let keys = parse_auth_info(&line(ED)).unwrap();
        let id = identify(&config(), &keys, &[], now()).unwrap();
        assert_eq!(id.guest, "alice");
        assert_eq!(id.fingerprint, fp("ed25519"));
    }

    #[test]
    fn certificate_of_a_registered_key_identifies_its_guest() {
        let keys = parse_auth_info(&line(CERT)).unwrap();
        assert_eq!(
            identify(&config(), &keys, &[], now()).unwrap().guest,
            "alice"
        );
    }

    #[test]
    fn keys_of_two_guests_are_refused() {
        let keys = parse_auth_info(&format!("{}{}", line(ED), line(RSA))).unwrap();
        assert!(matches!(
            identify(&config(), &keys, &[], now()),
            Err(IdentityError::Conflict(..))
        ));
    }

    #[test]
    fn expired_guest_is_refused() {
        let keys = parse_auth_info(&line(ECDSA)).unwrap();
        let err = identify(&config(), &keys, &[], now()).unwrap_err();
        assert_eq!(err.code(), "expired-guest");
    }

    #[test]
    fn unknown_key_is_refused() {
        let c = parse_main(Path::new("/c"), "pair_user = \"pair\"\n").unwrap();
        let keys = parse_auth_info(&line(ED)).unwrap();
        let err = identify(&c, &keys, &[], now()).unwrap_err();
        assert_eq!(err.code(), "unknown-key");
        assert!(err.to_guest().contains(&fp("ed25519")));
    }

    const CAROL_CERT: &str = include_str!("../testdata/keys/carol-ca-cert.pub");
    const CAROL_SELF_SIGNED: &str = include_str!("../testdata/keys/carol-self-signed-cert.pub");
    const USER_CA: &str = include_str!("../testdata/keys/user-ca.pub");

    fn cert_config(guests: &str) -> Config {
        parse_main(Path::new("/c"), &format!("pair_user = \"pair\"\n{guests}")).unwrap()
    }

    fn ca() -> Vec<PublicKey> {
        vec![PublicKey::from_openssh(USER_CA.trim()).unwrap()]
    }

    fn cert_keys(line: &str) -> Vec<PresentedKey> {
        parse_auth_info(&format!("publickey {}\n", line.trim())).unwrap()
    }

    #[test]
    fn certificate_from_a_trusted_ca_identifies_the_guest_its_principal_names() {
        let c = cert_config("[guests.carol]\nprincipals = [\"carol@team\"]\n");
        let id = identify(&c, &cert_keys(CAROL_CERT), &ca(), now()).unwrap();
        assert_eq!(id.guest, "carol");
        assert_eq!(id.principal.as_deref(), Some("carol@team"));
        assert_eq!(id.cert, Some(("carol-laptop".to_string(), 42)));
    }

    #[test]
    fn self_signed_certificate_naming_another_guests_principal_identifies_nobody() {
        // carol signs her own key with bob's principal: no trusted CA did,
        // so only her plain key counts, and it is not registered.
        let c = cert_config("[guests.bob]\nprincipals = [\"bob@team\"]\n");
        let err = identify(&c, &cert_keys(CAROL_SELF_SIGNED), &ca(), now()).unwrap_err();
        assert_eq!(err.code(), "unknown-key");
        // Without any CA configured, the same.
        let err = identify(&c, &cert_keys(CAROL_SELF_SIGNED), &[], now()).unwrap_err();
        assert_eq!(err.code(), "unknown-key");
    }

    #[test]
    fn certificate_from_an_untrusted_ca_falls_back_to_its_plain_key() {
        let carol_key = include_str!("../testdata/keys/carol.pub");
        let c = cert_config(&format!(
            "[guests.carol]\nkeys = [\"{}\"]\n[guests.ops]\nprincipals = [\"ops\"]\n",
            carol_key.trim()
        ));
        let id = identify(&c, &cert_keys(CAROL_CERT), &[], now()).unwrap();
        assert_eq!(id.guest, "carol");
        assert_eq!(id.principal, None);
    }

    #[test]
    fn trusted_certificate_with_an_unknown_principal_is_refused() {
        let c = cert_config("[guests.dave]\nprincipals = [\"dave\"]\n");
        let err = identify(&c, &cert_keys(CAROL_CERT), &ca(), now()).unwrap_err();
        assert_eq!(err.code(), "unknown-principal");
    }

    #[test]
    fn certificate_whose_principals_name_two_guests_identifies_nobody() {
        let c = cert_config(
            "[guests.carol]\nprincipals = [\"carol@team\"]\n[guests.ops]\nprincipals = [\"ops\"]\n",
        );
        let err = identify(&c, &cert_keys(CAROL_CERT), &ca(), now()).unwrap_err();
        assert_eq!(err.code(), "conflicting-keys");
    }

    #[test]
    fn certificate_valid_forever_is_refused_saying_to_sign_with_a_validity_interval() {
        let forever = include_str!("../testdata/keys/carol-forever-cert.pub");
        let err = parse_auth_info(&format!("publickey {}\n", forever.trim())).unwrap_err();
        assert_eq!(err.code(), "malformed-auth-info");
        assert!(
            err.detail().contains("ssh-keygen -s CA -V"),
            "{}",
            err.detail()
        );
    }

    #[test]
    fn certificate_of_an_expired_guest_is_refused_as_expired() {
        let c = cert_config(
            "[guests.carol]\nprincipals = [\"carol@team\"]\nexpires = 2020-01-01T00:00:00Z\n",
        );
        let err = identify(&c, &cert_keys(CAROL_CERT), &ca(), now()).unwrap_err();
        assert_eq!(err.code(), "expired-guest");
    }

    #[test]
    fn certificate_whose_error_quotes_a_control_character_never_puts_it_in_the_detail() {
        // Found by the ssh_user_auth fuzz target: a certificate whose
        // signature key has a type label with byte 0x15 in it; ssh-key's
        // error quoted the label, control byte and all.
        let line =
            include_str!("../fuzz/corpus/ssh_user_auth/regression-control-char-in-cert-error");
        let err = parse_auth_info(line).unwrap_err();
        assert_eq!(err.code(), "malformed-auth-info");
        assert!(
            !err.detail().chars().any(char::is_control),
            "{:?}",
            err.detail()
        );
    }
}
