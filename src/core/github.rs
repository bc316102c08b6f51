//! What a GitHub login and a keys URL template look like.

/// `github_keys_url` when the config does not say.
pub(crate) const DEFAULT_KEYS_URL: &str = "https://github.com/{user}.keys";

/// Check `login` is a GitHub login: letters, digits and single hyphens, at
/// most 39, not starting or ending with a hyphen.
pub(crate) fn check_login(login: &str) -> Result<(), String> {
    let ok = !login.is_empty()
        && login.len() <= 39
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{login:?} is not a GitHub login (letters, digits and single hyphens, at most 39)"
        ))
    }
}

/// Check a `github_keys_url`: it names `{user}`, and is `https://`, or
/// `http://` to 127.0.0.1, ::1 or localhost.
pub(crate) fn check_url_template(template: &str) -> Result<(), String> {
    if !template.contains("{user}") {
        return Err(format!(
            "github_keys_url {template:?} must contain {{user}}, e.g. {DEFAULT_KEYS_URL:?}"
        ));
    }
    let url = template.replace("{user}", "user");
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("github_keys_url {template:?} is not a URL: {e}"))?;
    let host = uri.host().unwrap_or("");
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "github_keys_url {template:?}: plain http is allowed only to 127.0.0.1, ::1 or localhost; use https"
        )),
        _ => Err(format!(
            "github_keys_url {template:?} must start with https://"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

/// The URL of `login`'s keys.
pub(crate) fn keys_url(template: &str, login: &str) -> String {
    template.replace("{user}", login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_logins() {
        for ok in ["a", "octocat", "a-b-c", "A1", &"x".repeat(39)] {
            assert!(check_login(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "a/b",
            "../x",
            "a b",
            &"x".repeat(40),
        ] {
            assert!(check_login(bad).is_err(), "{bad}");
        }
    }
    #[test]
    fn url_templates() {
        for ok in [
            DEFAULT_KEYS_URL,
            "https://ghe.example.com/{user}.keys",
            "http://127.0.0.1:8080/{user}.keys",
            "http://localhost/{user}.keys",
            "http://[::1]:9/{user}.keys",
        ] {
            assert!(check_url_template(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://github.com/alice.keys",
            "http://github.com/{user}.keys",
            "http://127.0.0.1.example.com/{user}.keys",
            "ftp://x/{user}",
            "file:///{user}",
            "{user}",
        ] {
            assert!(check_url_template(bad).is_err(), "{bad}");
        }
    }
}
