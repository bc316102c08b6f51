//! The admin's commands (run as root): enabling and disabling hosts, and
//! rebuilding the lookup index.
//!
//! `host add LOGIN` sets up, idempotently, everything a host needs before
//! `pairshell share` can work as that host alone:
//! - `hosts_dir/LOGIN.toml`, owned by LOGIN, with a commented example (the
//!   directory is root's, so only root can create it);
//! - LOGIN and the pair account in `socket_group`;
//! - `sockets_dir/LOGIN/`, owned by LOGIN and that group, mode 2750: the
//!   pair account can reach sockets in it but not create anything there
//!   (the guest flow refuses sockets in directories it could write), and
//!   set-group-id, so every socket the host makes there gets the group
//!   without the host having to log in again first;
//! - `sockets_dir/.clients/`, owned by the pair account and the group, mode
//!   2750: the guest flow's records of who is behind each client, readable
//!   by hosts and by nobody else;
//! - the `tmpfiles` file, so those directories come back after a reboot
//!   (`/run` is emptied at boot).

use std::fs::DirBuilder;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::audit::{Audit, Event};
use crate::config::{self, host_file, Config};
use crate::core::error::{failure, Error, Failure};
use crate::core::request::is_login_name;
use crate::sys::trust;

/// `pairshell index`: rebuild the main config's lookup index, then the
/// hosts index (the host files' stamps and each guest's sessions).
pub(crate) fn index(config_path: Option<&Path>) -> Result<(), Failure> {
    if !nix::unistd::geteuid().is_root() {
        return Err("index needs root (sudo): it writes beside the main config".into());
    }
    let path = config::main_path(config_path);
    let built = config::index::build(&path).map_err(Failure::from)?;
    println!(
        "pairshell: indexed {} guests, {} keys and {} principals in {} ({} bytes)",
        built.guests,
        built.keys,
        built.principals,
        built.path.display(),
        built.bytes
    );
    // The main index stands either way; without a hosts index logins read
    // the host files themselves (`check` says so).
    let hosts = match reindex_hosts(&path) {
        Ok(hosts) => hosts,
        Err(e) => {
            eprintln!("pairshell: warning: the hosts index was not rebuilt: {e}");
            return Ok(());
        }
    };
    println!(
        "pairshell: indexed {} host files in {} ({} bytes)",
        hosts.hosts,
        hosts.path.display(),
        hosts.bytes
    );
    for why in &hosts.left_out {
        println!("pairshell: not indexed (logins read it themselves): {why}");
    }
    Ok(())
}

/// Rebuild the hosts index of the config at `config_path`.
fn reindex_hosts(config_path: &Path) -> Result<config::index::hosts::BuiltHosts, Error> {
    let loaded = config::index::Loaded::load(config_path)?;
    config::index::hosts::build_hosts(&loaded.path, &loaded.config.hosts_dir)
}

/// After an admin command rewrote the main config: rebuild its index, or
/// say why not. The edit itself stands either way; a stale index is never
/// used, so logins stay right, only slower until `pairshell index` works.
pub(crate) fn reindex(config_path: &Path) {
    if let Err(e) = config::index::build(config_path) {
        eprintln!(
            "pairshell: warning: the lookup index was not rebuilt: {e}; \
             logins read the whole config until `pairshell index` succeeds"
        );
    }
}

/// The config, the host's account and the pair account, checked.
struct Setup {
    config: Config,
    host: User,
    pair: User,
}

fn setup(config_path: Option<&Path>, login: &str) -> Result<Setup, Failure> {
    if !nix::unistd::geteuid().is_root() {
        return Err("host add and host remove need root (sudo)".into());
    }
    let (_, config) = config::load_main(&config::main_path(config_path)).map_err(Failure::from)?;
    if !is_login_name(login) {
        return Err(Failure::user(login, "not a login name"));
    }
    let host = crate::sys::accounts::user(login)
        .ok_or_else(|| Failure::user(login, "no such user on this system"))?;
    if host.uid.is_root() || login == config.pair_user {
        return Err(Failure::user(
            login,
            "cannot be a host: a host is a person's own account",
        ));
    }
    let pair = crate::sys::accounts::user(&config.pair_user).ok_or_else(|| {
        Failure::user(
            &config.pair_user,
            "the pair account does not exist; create it first",
        )
    })?;
    Ok(Setup { config, host, pair })
}

/// `pairshell host add LOGIN`
pub(crate) fn host_add(config_path: Option<&Path>, login: &str) -> Result<(), Failure> {
    let s = setup(config_path, login)?;
    let c = &s.config;
    let group = ensure_group(&c.socket_group)?;
    for user in [login, c.pair_user.as_str()] {
        run(Command::new("usermod").args(["-a", "-G", &c.socket_group, user]))?;
    }

    root_dir(&c.hosts_dir)?;
    trust::check_root_path(&c.hosts_dir).map_err(Failure::from)?;
    let file = config::host_path(&c.hosts_dir, login);
    let created = create_host_file(&file, &s.host, &c.sockets_dir)?;

    root_dir(&c.sockets_dir)?;
    // Listable by hosts (the group), not by every local user; each record
    // in it is readable by its own host alone (an ACL entry, see roster.rs).
    owned_dir(&roster_dir(c), s.pair.uid, group, 0o2750)?;
    owned_dir(&c.sockets_dir.join(login), s.host.uid, group, 0o2750)?;
    // Recordings: the pair account's alone, in root's directories.
    if c.record != config::RecordMode::Off {
        if let Some(parent) = c.recordings_dir.parent() {
            root_dir(parent)?;
        }
        owned_dir(&c.recordings_dir, s.pair.uid, s.pair.gid, 0o700)?;
    }
    write_tmpfiles(c)?;

    Audit::new(&c.audit.syslog_socket, false).write_best_effort(
        Event::new("host-add")
            .field("by", "root")
            .field("host", login),
    );
    println!(
        "{login} may now share sessions: {} {}; sockets in {}",
        file.display(),
        if created { "created" } else { "kept as it was" },
        c.sockets_dir.join(login).display()
    );
    println!("{login} runs, for example: pairshell share api --ro GUEST");
    Ok(())
}

/// `pairshell host remove LOGIN`
pub(crate) fn host_remove(config_path: Option<&Path>, login: &str) -> Result<(), Failure> {
    let s = setup(config_path, login)?;
    let c = &s.config;
    let file = config::host_path(&c.hosts_dir, login);
    let removed = match std::fs::remove_file(&file) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(failure!("{}: {e}", file.display())),
    };
    write_tmpfiles(c)?;
    // Not a member any more is fine: removal is idempotent.
    let _ = Command::new("gpasswd")
        .args(["-d", login, &c.socket_group])
        .output();
    let dir = c.sockets_dir.join(login);
    let kept_dir = std::fs::remove_dir(&dir).is_err() && dir.exists();
    Audit::new(&c.audit.syslog_socket, false).write_best_effort(
        Event::new("host-remove")
            .field("by", "root")
            .field("host", login),
    );
    println!(
        "{login} no longer shares sessions{}; connected guests are let go within 30 s",
        if removed {
            ""
        } else {
            " (there was no host file)"
        }
    );
    if kept_dir {
        println!(
            "{} still holds sockets of running tmux servers; it goes when they end or at reboot",
            dir.display()
        );
    }
    Ok(())
}

fn roster_dir(c: &Config) -> std::path::PathBuf {
    crate::roster::dir(&c.sockets_dir)
}

fn run(cmd: &mut Command) -> Result<(), Failure> {
    let out = cmd
        .output()
        .map_err(|e| failure!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failure!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ensure_group(name: &str) -> Result<Gid, Failure> {
    if let Some(g) = crate::sys::accounts::group(name) {
        return Ok(g.gid);
    }
    run(Command::new("groupadd").args(["--system", name]))?;
    crate::sys::accounts::group(name)
        .map(|g| g.gid)
        .ok_or_else(|| failure!("group {name} was created but cannot be found"))
}

/// Create a root-owned 0755 directory (and its parents) if missing.
fn root_dir(dir: &Path) -> Result<(), Failure> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| failure!("{}: {e}", dir.display()))?;
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(failure!(
            "{} must be a directory, not a symbolic link",
            dir.display()
        ));
    }
    trust::check_root_path(dir).map_err(|e| {
        failure!("{e}: it must be a directory owned by root and writable only by root")
    })
}

/// Create `dir` if missing and set its owner, group and mode. Refuses a
/// symlink in its place.
///
/// Guards against: a directory swapped for a symlink making root chown or
/// chmod something else.
fn owned_dir(dir: &Path, uid: Uid, gid: Gid, mode: u32) -> Result<(), Failure> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failure!("{}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| failure!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(failure!("{} exists and is not a directory", dir.display()));
    }
    nix::unistd::chown(dir, Some(uid), Some(gid))
        .map_err(|e| failure!("{}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| failure!("{}: {e}", dir.display()))
}

/// Create the host's file with the commented example, owned by the host.
/// An existing file is left as it is, if it belongs to the host. Returns
/// whether it was created.
fn create_host_file(path: &Path, host: &User, sockets_dir: &Path) -> Result<bool, Failure> {
    let opened = crate::sys::fs::no_follow()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path);
    match opened {
        Ok(mut file) => {
            file.write_all(host_file::example(&host.name, sockets_dir).as_bytes())
                .map_err(|e| failure!("{}: {e}", path.display()))?;
            nix::unistd::fchown(&file, Some(host.uid), Some(host.gid))
                .map_err(|e| failure!("{}: {e}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta =
                std::fs::symlink_metadata(path).map_err(|e| failure!("{}: {e}", path.display()))?;
            if !meta.is_file() || !trust::owned_as(&meta, trust::Owner::UserOrRoot(host.uid)) {
                return Err(failure!(
                    "{} exists but is not a file owned by {}; move it away first",
                    path.display(),
                    host.name
                ));
            }
            Ok(false)
        }
        Err(e) => Err(failure!("{}: {e}", path.display())),
    }
}

/// Rewrite the tmpfiles file from the hosts that have a file now.
fn write_tmpfiles(c: &Config) -> Result<(), Failure> {
    let logins = config::host_logins(&c.hosts_dir).map_err(Failure::from)?;
    let mut text = String::from(
        "# Written by `pairshell host add` and `host remove`: the runtime\n\
         # directories of pairshell's hosts, recreated at boot. Do not edit.\n",
    );
    text.push_str(&format!("d {} 0755 root root -\n", c.sockets_dir.display()));
    text.push_str(&format!(
        "d {} 2750 {} {} -\n",
        roster_dir(c).display(),
        c.pair_user,
        c.socket_group
    ));
    for login in logins {
        text.push_str(&format!(
            "d {} 2750 {login} {} -\n",
            c.sockets_dir.join(&login).display(),
            c.socket_group
        ));
    }
    if let Some(dir) = c.tmpfiles.parent() {
        root_dir(dir)?;
    }
    let tmp = c.tmpfiles.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| failure!("{}: {e}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| failure!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &c.tmpfiles).map_err(|e| failure!("{}: {e}", c.tmpfiles.display()))
}
