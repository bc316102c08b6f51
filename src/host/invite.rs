//! `share --rw @LOGIN --for D`: a GitHub user named by login, added as a
//! guest through `sudo pairshell invite LOGIN D` when no guest has that
//! login yet (the root side is `admin::invite`; the drop-in is
//! `contrib/sudoers.d/pairshell-invite`).

use super::Caller;
use crate::config;
use crate::core::error::{failure, Failure};

/// `names` with each `@LOGIN` replaced by the guest whose `github` is
/// LOGIN, who is first added through `sudo pairshell invite LOGIN D` when
/// there is none (D: the share's `--for`, which the guest's expiry
/// follows; `--until` is refused, not converted).
pub(super) fn invitees(
    host: &mut Caller,
    names: &[String],
    invite_for: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let Some(login) = name.strip_prefix('@') else {
            out.push(name.clone());
            continue;
        };
        crate::core::github::check_login(login).map_err(Failure::from)?;
        let existing = |host: &Caller| {
            host.config
                .guests
                .iter()
                .find(|(_, g)| g.github.as_ref().map(|l| l.as_str()) == Some(login))
                .map(|(n, _)| n.to_string())
        };
        if let Some(guest) = existing(host) {
            out.push(guest);
            continue;
        }
        let Some(duration) = invite_for else {
            return Err(failure!(
                "inviting GitHub user {login} needs --for DURATION: the invite lasts as long as the share"
            ));
        };
        let exe = std::env::current_exe().map_err(|e| failure!("cannot find this program: {e}"))?;
        let ran = std::process::Command::new("sudo")
            .arg("-n")
            .arg(&exe)
            .arg("--config")
            .arg(&host.config_path)
            .args(["invite", login, duration])
            .stdin(std::process::Stdio::null())
            .output();
        let said = match &ran {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        match ran {
            Ok(o) if o.status.success() => {}
            // pairshell's own refusal, through sudo: it says why.
            Ok(_) if said.starts_with("pairshell:") => {
                return Err(Failure::from(said.replacen("pairshell: ", "", 1)))
            }
            _ => {
                return Err(failure!(
                    "inviting GitHub user {login} needs the admin's leave, which this host does not have \
                     (sudo: {said}); an admin allows it for the socket group with: {}",
                    crate::core::invite::admin_fix(
                        &host.config.socket_group,
                        &exe,
                        &host.config_path
                    )
                ))
            }
        }
        host.config = config::load_main(&host.config_path)
            .map_err(Failure::from)?
            .1;
        out.push(existing(host).ok_or_else(|| failure!("GitHub user {login} was not added"))?);
    }
    Ok(out)
}
