//! The pure half of an invite (`pairshell invite LOGIN DURATION`, run as
//! root through sudo): the one argv shape it takes, and the sudoers line an
//! admin installs to allow it. The host's `share --rw @LOGIN` names
//! [`admin_fix`] when sudo refuses; `admin::invite` checks [`shape`].

use std::path::Path;

/// The one-line fix an admin runs to allow invites on this machine: the
/// shipped drop-in's rule, with this binary, config and socket group,
/// written through `visudo` (which checks it before installing it).
pub(crate) fn admin_fix(socket_group: &str, exe: &Path, config: &Path) -> String {
    format!(
        "echo '%{socket_group} ALL=(root) NOPASSWD: {} --config {} invite *' | sudo EDITOR='tee' visudo -f /etc/sudoers.d/pairshell-invite",
        exe.display(),
        config.display()
    )
}

/// Why an invite's argv is refused.
pub(crate) const REFUSED: &str = "invite takes exactly a GitHub login and a duration \
     (`pairshell invite octocat 2h`), and nothing else";

/// The login and duration of an invite's argv (`argv[0]` included), or
/// `None` for any other shape.
///
/// Guards against: a host using the delegation for more than an invite.
/// sudoers' `*` matches spaces, so the drop-in's `invite *` would also let
/// through `--key …`, a second `--config`, another word: exactly
/// `invite LOGIN DURATION` and `--config PATH invite LOGIN DURATION` pass.
pub(crate) fn shape(argv: &[String]) -> Option<(&str, &str)> {
    let words: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    let rest = match words.as_slice() {
        ["invite", rest @ ..] => rest,
        ["--config", _, "invite", rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        [login, duration] if !login.starts_with('-') && !duration.starts_with('-') => {
            Some((login, duration))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        std::iter::once("pairshell")
            .chain(words.iter().copied())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn only_a_login_and_a_duration_get_through() {
        assert_eq!(
            shape(&argv(&["invite", "octocat", "2h"])).unwrap(),
            ("octocat", "2h")
        );
        assert_eq!(
            shape(&argv(&[
                "--config",
                "/etc/p.toml",
                "invite",
                "octocat",
                "2h"
            ]))
            .unwrap(),
            ("octocat", "2h")
        );
        for bad in [
            &["invite", "octocat"][..],
            &["invite", "octocat", "2h", "--key", "ssh-ed25519 AAAA"],
            &["invite", "--config", "/tmp/mine.toml", "octocat", "2h"],
            &["invite", "octocat", "--config", "/tmp/mine.toml"],
            &[
                "--config", "/a", "--config", "/b", "invite", "octocat", "2h",
            ],
            &["--config=/tmp/x", "invite", "octocat", "2h"],
            &["guest", "add", "octocat", "--github", "octocat"],
            &["invite", "-octocat", "2h"],
        ] {
            assert!(shape(&argv(bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_fix_names_this_machine() {
        let fix = admin_fix(
            "pairshell",
            Path::new("/usr/bin/pairshell"),
            Path::new("/etc/pairshell/config.toml"),
        );
        assert!(fix.contains("%pairshell ALL=(root) NOPASSWD: /usr/bin/pairshell --config /etc/pairshell/config.toml invite *"), "{fix}");
    }
}
