//! `pairshell authorized-keys USER TYPE BASE64`, for sshd's
//! `AuthorizedKeysCommand … %u %t %k`.
//!
//! sshd runs this for every key a client *offers*, before the client proves
//! it holds the private key. So it must not log, write, or otherwise act: a
//! key that is only offered is not a login. It prints one authorized_keys
//! line for a current guest's key when USER is the pair account, and nothing
//! otherwise. Errors go to stderr, which sshd logs.

use std::path::Path;

use jiff::Timestamp;

use crate::config;
use crate::core::error::Exit;
use crate::policy::{self, KeyOwner};

pub(crate) fn run(config: Option<&Path>, user: &str, key_type: &str, base64: &str) -> Exit {
    let (abs, config) = match config_for(config, user, &[(key_type, base64)], &[]) {
        Ok(Some(found)) => found,
        Ok(None) => return Exit::Done,
        Err(()) => return Exit::Failed,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("pairshell: cannot find this program's path: {e}");
            return Exit::Failed;
        }
    };
    match line(&config, &exe, &abs, key_type, base64, Timestamp::now()) {
        Ok(Some(line)) => {
            println!("{line}");
            Exit::Done
        }
        Ok(None) => Exit::Done,
        Err(e) => {
            eprintln!("pairshell: {e}");
            Exit::Failed
        }
    }
}

/// The main config's path and the config, through its index, holding the
/// guests who have these keys or principals; `None` when USER is not the
/// pair account. Problems go to stderr, which is sshd's log: `Err` when the
/// config cannot be read, a note when an index exists but was not used.
fn config_for(
    config: Option<&Path>,
    user: &str,
    keys: &[(&str, &str)],
    principals: &[&str],
) -> Result<Option<(std::path::PathBuf, config::Config)>, ()> {
    let report = |e: &dyn std::fmt::Display| eprintln!("pairshell: {e}");
    let mut loaded =
        config::index::Loaded::load(&config::main_path(config)).map_err(|e| report(&e))?;
    if let Some(note) = &loaded.index_note {
        report(note);
    }
    if user != loaded.config.pair_user {
        return Ok(None);
    }
    // Only a well-formed key is looked up (`line` checks it again).
    let keys: Vec<(&str, &str)> = keys
        .iter()
        .copied()
        .filter(|(t, b)| config::KeyText::parse(&format!("{t} {b}")).is_ok())
        .collect();
    loaded
        .add_guests_for(&keys, principals)
        .map_err(|e| report(&e))?;
    Ok(Some((loaded.path.clone(), loaded.into_config())))
}

/// The authorized_keys line for this key, if it belongs to a current guest.
pub(crate) fn line(
    config: &config::Config,
    exe: &Path,
    config_path: &Path,
    key_type: &str,
    base64: &str,
    now: Timestamp,
) -> Result<Option<String>, String> {
    // Only a well-formed key reaches the output: the line is parsed by sshd,
    // so nothing from argv may add options or a second key to it.
    if config::KeyText::parse(&format!("{key_type} {base64}")).is_err() {
        return Ok(None);
    }
    let guest = match policy::guest_for_key(config, key_type, base64, now) {
        KeyOwner::Current(_, guest) => guest,
        KeyOwner::Expired(..) | KeyOwner::Shared(..) | KeyOwner::Unknown => return Ok(None),
    };
    let options = options(guest, exe, config_path)?;
    Ok(Some(format!("{options} {key_type} {base64}")))
}

/// The options every line carries: no forwarding, a pty, pairshell's
/// `login` as the forced command, and the guest's expiry for sshd.
fn options(guest: &config::Guest, exe: &Path, config_path: &Path) -> Result<String, String> {
    let exe = quotable(exe)?;
    let config_path = quotable(config_path)?;
    let mut options = format!("restrict,pty,command=\"{exe} --config {config_path} login\"");
    if let Some(expires) = guest.expires {
        let utc = expires.to_zoned(jiff::tz::TimeZone::UTC);
        options.push_str(&format!(
            ",expiry-time=\"{}\"",
            utc.strftime("%Y%m%d%H%M%SZ")
        ));
    }
    Ok(options)
}

/// `pairshell authorized-principals USER TYPE BASE64`, for sshd's
/// `AuthorizedPrincipalsCommand … %u %t %k`: one `OPTIONS PRINCIPAL` line
/// for each principal of the offered certificate that names a current
/// guest, when USER is the pair account and a CA in `trusted_user_ca_keys`
/// signed the certificate. Like `authorized-keys`, it runs for offered
/// certificates too, so it never logs or acts.
pub(crate) fn run_principals(
    config: Option<&Path>,
    user: &str,
    cert_type: &str,
    base64: &str,
) -> Exit {
    // Every principal the certificate names may be a guest's; which of them
    // count is decided below, after the CA check, as without an index.
    let cert = crate::identity::parse_certificate(&format!("{cert_type} {base64}")).ok();
    let names: Vec<&str> = cert
        .iter()
        .flat_map(|c| c.valid_principals().iter().map(String::as_str))
        .collect();
    let (abs, config) = match config_for(config, user, &[], &names) {
        Ok(Some(found)) => found,
        Ok(None) => return Exit::Done,
        Err(()) => return Exit::Failed,
    };
    let Some(ca_path) = &config.trusted_user_ca_keys else {
        eprintln!(
            "pairshell: {}: trusted_user_ca_keys is not set, so no certificate identifies a guest",
            abs.display()
        );
        return Exit::Done;
    };
    let cas = match config::load_ca_keys(ca_path) {
        Ok(cas) => cas,
        Err(e) => {
            eprintln!("pairshell: {e}");
            return Exit::Failed;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("pairshell: cannot find this program's path: {e}");
            return Exit::Failed;
        }
    };
    match principal_lines(
        &config,
        &exe,
        &abs,
        cert_type,
        base64,
        &cas,
        Timestamp::now(),
    ) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            Exit::Done
        }
        Err(e) => {
            eprintln!("pairshell: {e}");
            Exit::Failed
        }
    }
}

/// The authorized_principals lines for this certificate.
pub(crate) fn principal_lines(
    config: &config::Config,
    exe: &Path,
    config_path: &Path,
    cert_type: &str,
    base64: &str,
    cas: &[ssh_key::PublicKey],
    now: Timestamp,
) -> Result<Vec<String>, String> {
    if !cert_type.ends_with("-cert-v01@openssh.com")
        || !base64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return Ok(Vec::new());
    }
    let cert = match crate::identity::parse_certificate(&format!("{cert_type} {base64}")) {
        Ok(cert) => cert,
        Err(why) => {
            // For the admin, in sshd's log; the guest only sees a refusal.
            eprintln!("pairshell: offered certificate refused: {why}");
            return Ok(Vec::new());
        }
    };
    let info = crate::identity::CertInfo {
        key_id: cert.key_id().to_string(),
        serial: cert.serial(),
        principals: cert.valid_principals().to_vec(),
        cert: Box::new(cert),
    };
    if !info.trusted(cas, now) {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for principal in &info.principals {
        // Only a principal that is also a valid config principal reaches
        // the output: sshd parses the line, so it must not add options.
        if !config::is_principal(principal) {
            continue;
        }
        if let (KeyOwner::Current(_, guest), _) =
            policy::guest_for_principals(config, std::slice::from_ref(principal), now)
        {
            lines.push(format!("{} {principal}", options(guest, exe, config_path)?));
        }
    }
    Ok(lines)
}

/// A path that can stand inside `command="…"` unquoted: no quotes,
/// backslashes, whitespace or control characters.
fn quotable(path: &Path) -> Result<&str, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    {
        return Err(format!(
            "{s:?} cannot be used in an authorized_keys command; choose a path without spaces or quotes"
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_main;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHHmH87JMx9IK02wyyeWgGNAarghUgFgSh18V9rHoAPA";

    fn config(expires: &str) -> config::Config {
        parse_main(
            Path::new("/c"),
            &format!("pair_user = \"pair\"\n[guests.alice]\nkeys = [\"ssh-ed25519 {KEY} a@b\"]\n{expires}"),
        )
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    fn get(c: &config::Config, t: &str, k: &str) -> Option<String> {
        line(
            c,
            Path::new("/usr/local/bin/pairshell"),
            Path::new("/etc/pairshell/pairshell.toml"),
            t,
            k,
            now(),
        )
        .unwrap()
    }

    #[test]
    fn guest_key_gets_the_forced_command_line() {
        assert_eq!(
            get(&config(""), "ssh-ed25519", KEY).unwrap(),
            format!("restrict,pty,command=\"/usr/local/bin/pairshell --config /etc/pairshell/pairshell.toml login\" ssh-ed25519 {KEY}")
        );
    }

    #[test]
    fn expiry_becomes_expiry_time_in_utc() {
        let c = config("expires = 2026-12-31T19:00:00+01:00\n");
        let l = get(&c, "ssh-ed25519", KEY).unwrap();
        assert!(
            l.contains(",expiry-time=\"20261231180000Z\" ssh-ed25519 "),
            "{l}"
        );
    }

    #[test]
    fn expired_or_unknown_key_gets_nothing() {
        let c = config("expires = 2026-01-01T00:00:00Z\n");
        assert_eq!(get(&c, "ssh-ed25519", KEY), None);
        assert_eq!(get(&config(""), "ssh-rsa", KEY), None);
        assert_eq!(
            get(&config(""), "ssh-ed25519", "AAAAAAAAAAAAAAAAAAAA"),
            None
        );
    }

    #[test]
    fn option_injection_through_key_arguments_is_refused() {
        // sshd passes %t and %k from the client's offer; they must not be able
        // to smuggle options or a second key into the printed line.
        let c = config("");
        assert_eq!(get(&c, "ssh-ed25519 AAAA,command=\"sh\"", KEY), None);
        assert_eq!(
            get(&c, "ssh-ed25519", &format!("{KEY}\nssh-ed25519 {KEY}")),
            None
        );
        assert_eq!(get(&c, "", ""), None);
    }

    #[test]
    fn unquotable_paths_are_refused() {
        let c = config("");
        let r = line(
            &c,
            Path::new("/opt/pair shell/pairshell"),
            Path::new("/etc/p.toml"),
            "ssh-ed25519",
            KEY,
            now(),
        );
        assert!(r.is_err());
    }

    #[test]
    fn principals_line_for_a_trusted_certificate_names_only_current_guests_principals() {
        let cert = include_str!("../testdata/keys/carol-ca-cert.pub");
        let ca = vec![ssh_key::PublicKey::from_openssh(
            include_str!("../testdata/keys/user-ca.pub").trim(),
        )
        .unwrap()];
        let c = parse_main(
            Path::new("/c"),
            "pair_user = \"pair\"\n[guests.carol]\nprincipals = [\"carol@team\"]\n",
        )
        .unwrap();
        let mut words = cert.split_whitespace();
        let (t, k) = (words.next().unwrap(), words.next().unwrap());
        let exe = Path::new("/usr/local/bin/pairshell");
        let lines = principal_lines(&c, exe, Path::new("/c"), t, k, &ca, now()).unwrap();
        assert_eq!(
            lines,
            vec!["restrict,pty,command=\"/usr/local/bin/pairshell --config /c login\" carol@team"]
        );
        // No trusted CA: nothing.
        assert!(principal_lines(&c, exe, Path::new("/c"), t, k, &[], now())
            .unwrap()
            .is_empty());
        // A plain key offered as a certificate type: nothing.
        assert!(
            principal_lines(&c, exe, Path::new("/c"), t, KEY, &ca, now())
                .unwrap()
                .is_empty()
        );
    }
}
