//! `pairshell invite LOGIN DURATION`: a host adds a GitHub user as a guest
//! for a while, with root's rights lent by sudo for exactly this.
//!
//! A host's `share SESSION --rw @LOGIN --for 2h` runs it as
//! `sudo -n pairshell --config PATH invite LOGIN 2h` when no guest has
//! `github = "LOGIN"` yet; the drop-in `contrib/sudoers.d/pairshell-invite`
//! lets the socket group run that, and nothing else, as root.
//!
//! Guards against: a host using the delegation for more than an invite.
//! sudoers' `*` matches spaces, so the drop-in's `invite *` would also let
//! through `--key …`, a second `--config`, another guest's name or any
//! other word. So this command reads its own argv and takes exactly two
//! shapes, `pairshell invite LOGIN DURATION` and `pairshell --config PATH
//! invite LOGIN DURATION`; LOGIN must be a GitHub login (the guest's name
//! too), the guest must not exist yet under that name, DURATION is capped
//! by the admin's `invite_max`, and the caller (`SUDO_USER`) must be a host.

use std::path::Path;

use jiff::Timestamp;
use nix::unistd::User;

use crate::cli;
use crate::config;
use crate::error::Failure;

/// The one-line fix an admin runs to allow invites on this machine: the
/// shipped drop-in's rule, with this binary, config and socket group,
/// written through `visudo` (which checks it before installing it).
pub fn admin_fix(socket_group: &str, exe: &Path, config: &Path) -> String {
    format!(
        "echo '%{socket_group} ALL=(root) NOPASSWD: {} --config {} invite *' | sudo EDITOR='tee' visudo -f /etc/sudoers.d/pairshell-invite",
        exe.display(),
        config.display()
    )
}

/// The login and duration of an invite's argv, or why the shape is refused.
fn shape(argv: &[String]) -> Result<(&str, &str), Failure> {
    let words: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    let rest = match words.as_slice() {
        ["invite", rest @ ..] => rest,
        ["--config", _, "invite", rest @ ..] => rest,
        _ => return Err(refused()),
    };
    match rest {
        [login, duration] if !login.starts_with('-') && !duration.starts_with('-') => {
            Ok((login, duration))
        }
        _ => Err(refused()),
    }
}

fn refused() -> Failure {
    "invite takes exactly a GitHub login and a duration (`pairshell invite octocat 2h`), \
     and nothing else"
        .to_string()
}

/// `pairshell invite LOGIN DURATION`, as root through sudo.
pub fn run(config_path: Option<&Path>) -> Result<(), Failure> {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.into_string().map_err(|_| refused()))
        .collect::<Result<_, _>>()?;
    let (login, duration) = shape(&argv)?;
    crate::github::check_login(login)?;
    if !nix::unistd::geteuid().is_root() {
        return Err(format!(
            "invite runs as root through sudo; a host runs `pairshell share SESSION --rw @{login} --for {duration}`"
        ));
    }
    let path = cli::config_path(config_path);
    let (_, config) = config::load_main(&path).map_err(|e| e.to_string())?;
    let by = calling_host(&config)?;
    let wanted = cli::parse_duration(duration).map_err(|e| format!("invite: {e}"))?;
    let cap = cli::parse_duration(&config.invite_max)
        .map_err(|e| format!("invite_max in {}: {e}", path.display()))?;
    if wanted > cap {
        return Err(format!(
            "an invite lasts at most {} here (invite_max); {duration} is longer",
            config.invite_max
        ));
    }
    if let Some(guest) = config.guests.get(login) {
        if guest.github.as_ref().map(|l| l.as_str()) != Some(login) {
            return Err(format!(
                "there is already a guest named {login} who is not GitHub user {login}; an admin can share with them by name"
            ));
        }
        println!("{login} is already a guest (github:{login}); nothing changed");
        return Ok(());
    }
    if let Some((name, _)) = config
        .guests
        .iter()
        .find(|(_, g)| g.github.as_ref().map(|l| l.as_str()) == Some(login))
    {
        return Err(format!(
            "GitHub user {login} is already guest {name}; share with {name}"
        ));
    }
    let ends = Timestamp::now()
        .checked_add(wanted)
        .map_err(|e| format!("invite: {e}"))?;
    crate::guest_admin::add(
        Some(&path),
        login,
        &[],
        &[],
        Some(login),
        Some(&ends.to_string()),
        &by,
    )
}

/// The host who ran sudo (`SUDO_USER`, checked against `SUDO_UID`): a
/// user with a host file, not root and not the pair account.
fn calling_host(config: &config::Config) -> Result<String, Failure> {
    let not_a_host = || "invite is for hosts, through sudo (SUDO_USER names no host)".to_string();
    let name = std::env::var("SUDO_USER").map_err(|_| not_a_host())?;
    let uid: u32 = std::env::var("SUDO_UID")
        .ok()
        .and_then(|u| u.parse().ok())
        .ok_or_else(not_a_host)?;
    let user = User::from_name(&name)
        .ok()
        .flatten()
        .filter(|u| u.uid.as_raw() == uid && !u.uid.is_root() && u.name != config.pair_user)
        .ok_or_else(not_a_host)?;
    match config::load_host(&config.hosts_dir, &user.name) {
        Ok(_) => Ok(user.name),
        Err(_) => Err(format!(
            "{} is not set up as a pairshell host, so they cannot invite",
            user.name
        )),
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
            assert!(shape(&argv(bad)).is_err(), "{bad:?}");
        }
    }
}
