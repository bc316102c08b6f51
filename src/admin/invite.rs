//! `pairshell invite LOGIN DURATION`: a host adds a GitHub user as a guest
//! for a while, with root's rights lent by sudo for exactly this.
//!
//! A host's `share SESSION --rw @LOGIN --for 2h` runs it as
//! `sudo -n pairshell --config PATH invite LOGIN DURATION` when no guest
//! has `github = "LOGIN"` yet (`host::invite`); the drop-in
//! `contrib/sudoers.d/pairshell-invite` lets the socket group run that,
//! and nothing else, as root.
//!
//! Guards against: a host using the delegation for more than an invite.
//! sudoers' `*` matches spaces, so the drop-in's `invite *` would also let
//! through `--key …`, a second `--config`, another guest's name or any
//! other word. So this command reads its own argv and takes exactly two
//! shapes (`core::invite::shape`); LOGIN must be a GitHub login (the
//! guest's name too), the guest must not exist yet under that name,
//! DURATION is capped by the admin's `invite_max`, and the caller
//! (`SUDO_USER`) must be a host.

use std::path::Path;

use jiff::Timestamp;

use crate::config;
use crate::core::error::{failure, Failure};
use crate::core::invite::{shape, REFUSED};
use crate::core::time::parse_duration;

/// `pairshell invite LOGIN DURATION`, as root through sudo.
pub(crate) fn run(config_path: Option<&Path>) -> Result<(), Failure> {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.into_string().map_err(|_| Failure::from(REFUSED)))
        .collect::<Result<_, _>>()?;
    let (login, duration) = shape(&argv).ok_or_else(|| Failure::from(REFUSED))?;
    crate::core::github::check_login(login).map_err(Failure::from)?;
    if !nix::unistd::geteuid().is_root() {
        return Err(failure!(
            "invite runs as root through sudo; a host runs `pairshell share SESSION --rw @{login} --for {duration}`"
        ));
    }
    let path = config::main_path(config_path);
    let (_, config) = config::load_main(&path).map_err(Failure::from)?;
    let by = calling_host(&config)?;
    let wanted = parse_duration(duration).map_err(|e| failure!("invite: {e}"))?;
    let cap = parse_duration(&config.invite_max)
        .map_err(|e| failure!("invite_max in {}: {e}", path.display()))?;
    if wanted > cap {
        return Err(failure!(
            "an invite lasts at most {} here (invite_max); {duration} is longer",
            config.invite_max
        ));
    }
    if let Some(guest) = config.guests.get(login) {
        if guest.github.as_ref().map(|l| l.as_str()) != Some(login) {
            return Err(failure!(
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
        return Err(failure!(
            "GitHub user {login} is already guest {name}; share with {name}"
        ));
    }
    let ends = Timestamp::now()
        .checked_add(wanted)
        .map_err(|e| failure!("invite: {e}"))?;
    super::guests::add(
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
    let not_a_host =
        || Failure::from("invite is for hosts, through sudo (SUDO_USER names no host)");
    let name = std::env::var("SUDO_USER").map_err(|_| not_a_host())?;
    let uid: u32 = std::env::var("SUDO_UID")
        .ok()
        .and_then(|u| u.parse().ok())
        .ok_or_else(not_a_host)?;
    let user = crate::sys::accounts::user(&name)
        .filter(|u| u.uid.as_raw() == uid && !u.uid.is_root() && u.name != config.pair_user)
        .ok_or_else(not_a_host)?;
    match config::load_host(&config.hosts_dir, &user.name) {
        Ok(_) => Ok(user.name),
        Err(_) => Err(failure!(
            "{} is not set up as a pairshell host, so they cannot invite",
            user.name
        )),
    }
}
