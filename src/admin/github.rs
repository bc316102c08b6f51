//! A GitHub user's public keys, from `https://github.com/USER.keys` (or the
//! config's `github_keys_url`, for GitHub Enterprise and for tests).
//!
//! Only the admin's `guest add --github` and `guest sync` come here; a login
//! never touches the network. The answer decides who can log in, so it is
//! believed only whole: every line must be an SSH public key, or none is
//! used and the caller keeps the keys it had. Plain `http://` is refused
//! except to a loopback address (where a test server lives), so a config
//! cannot be downgraded to a fetch anyone on the path could answer.
//! Redirects are not followed, for the same reason.
//!
//! The client is ureq with rustls (ring): no OpenSSL, no C build beyond
//! ring's. Trust roots are the system's bundle (Debian's ca-certificates,
//! which carries a local CA an Enterprise server may use), else Mozilla's.

use std::time::Duration;

use ssh_key::PublicKey;

use crate::core::github::{check_login, check_url_template, keys_url};

/// The system's trust roots on Debian.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Largest answer read: a user with a hundred RSA-4096 keys fits.
const MAX_ANSWER: u64 = 1 << 20;

/// Fetch `login`'s keys and check every line. Returns the keys as canonical
/// `TYPE BASE64` text (GitHub gives no comments), without duplicates, in
/// GitHub's order; or why not, for a person to read.
pub(crate) fn fetch(template: &str, login: &str, timeout: Duration) -> Result<Vec<String>, String> {
    check_login(login)?;
    check_url_template(template)?;
    let url = keys_url(template, login);
    let body = get(&url, timeout)?;
    parse_answer(login, &url, &body)
}

fn get(url: &str, timeout: Duration) -> Result<String, String> {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(system_roots().unwrap_or(ureq::tls::RootCerts::WebPki))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout))
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .user_agent(concat!("pairshell/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut answer = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Timeout(_) => format!("{url}: no answer within {} s", timeout.as_secs()),
        e => format!("{url}: {e}"),
    })?;
    let status = answer.status();
    if status == 404 {
        return Err(format!("{url}: HTTP 404: no such GitHub user"));
    }
    if status.is_redirection() {
        return Err(format!(
            "{url}: HTTP {} (redirects are not followed; set github_keys_url to the final address)",
            status.as_u16()
        ));
    }
    if !status.is_success() {
        return Err(format!("{url}: HTTP {}", status.as_u16()));
    }
    answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                format!(
                    "{url}: the answer did not finish within {} s",
                    timeout.as_secs()
                )
            }
            e => format!("{url}: malformed answer: {e}"),
        })
}

/// The system's CA bundle, when there is one with certificates in it.
fn system_roots() -> Option<ureq::tls::RootCerts> {
    let pem = std::fs::read(SYSTEM_ROOTS).ok()?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    (!certs.is_empty()).then(|| ureq::tls::RootCerts::new_with_certs(&certs))
}

/// GitHub's answer: one public key per line. An empty answer means the user
/// has no keys; any line that is not a key makes the whole answer malformed.
pub(crate) fn parse_answer(login: &str, url: &str, body: &str) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let key = PublicKey::from_openssh(line).map_err(|_| {
            format!(
                "{url}: malformed answer: line {} is not an SSH public key: {}",
                n + 1,
                shorten(line)
            )
        })?;
        let mut key = key;
        key.set_comment("");
        let text = key
            .to_openssh()
            .map_err(|e| format!("{url}: line {}: {e}", n + 1))?;
        if !keys.contains(&text) {
            keys.push(text);
        }
    }
    if keys.is_empty() {
        return Err(format!("{login} has no keys on GitHub ({url} is empty)"));
    }
    Ok(keys)
}

/// At most 60 characters of `text`, printable, for an error message.
fn shorten(text: &str) -> String {
    let mut s: String = text
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY";

    #[test]
    fn answers() {
        let url = "https://github.com/a.keys";
        let two = format!("{KEY}\n{KEY}\r\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDD\n");
        // The RSA line is truncated: the whole answer is refused.
        let err = parse_answer("a", url, &two).unwrap_err();
        assert!(err.contains("malformed answer: line 4"), "{err}");
        assert_eq!(
            parse_answer("a", url, &format!("{KEY}\n{KEY} comment\n")).unwrap(),
            [KEY]
        );
        let err = parse_answer("a", url, "\n").unwrap_err();
        assert!(err.contains("a has no keys on GitHub"), "{err}");
        let err = parse_answer("a", url, "<html>Not Found</html>").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
