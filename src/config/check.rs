//! `pairshell check`: load everything the way a login would, decode every key,
//! and report each problem with its file, line and column.

use std::path::Path;
use std::process::ExitCode;

use ssh_key::PublicKey;

use crate::cli;
use crate::config::{self, Config};

pub fn run(config_path: Option<&Path>) -> ExitCode {
    let path = cli::config_path(config_path);
    let (abs, config) = match config::load_main(&path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("pairshell: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut problems = key_problems(&config);
    match config::host_logins(&config.hosts_dir) {
        Ok(logins) => {
            for login in logins {
                if let Err(e) = config::load_host(&config.hosts_dir, &login) {
                    problems.push(e.to_string());
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    if nix::unistd::User::from_name(&config.pair_user)
        .ok()
        .flatten()
        .is_none()
    {
        problems.push(format!(
            "{}: pair_user {:?} does not exist on this system",
            abs.display(),
            config.pair_user
        ));
    }
    // Landlock: without it a read-write client could exec a shell.
    let mut notes = Vec::new();
    match (
        crate::sandbox::landlock_available(),
        config.allow_unconfined_read_write,
    ) {
        (Ok(()), _) => notes.push("Landlock: available; tmux clients run confined".to_string()),
        (Err(e), false) => problems.push(format!(
            "Landlock is not available ({e}): read-write joins are refused; use a kernel with \
             Landlock (5.13 or later, lsm=landlock), or set allow_unconfined_read_write = true \
             in {} to let read-write guests in unconfined",
            abs.display()
        )),
        (Err(e), true) => notes.push(format!(
            "Landlock is not available ({e}): read-write guests join UNCONFINED \
             (allow_unconfined_read_write = true); they can run programs as {}",
            config.pair_user
        )),
    }
    for n in &notes {
        println!("pairshell: {n}");
    }
    for p in &problems {
        eprintln!("pairshell: {p}");
    }
    if problems.is_empty() {
        println!(
            "{}: ok ({} guests, {} keys)",
            abs.display(),
            config.guests.len(),
            config
                .guests
                .values()
                .map(|g| g.all_keys().count())
                .sum::<usize>()
        );
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Keys that do not decode, and keys listed under two guests.
fn key_problems(config: &Config) -> Vec<String> {
    let mut seen = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (name, guest) in &config.guests {
        for key in guest.all_keys() {
            let text = format!("{} {}", key.key_type, key.base64);
            if PublicKey::from_openssh(&text).is_err() {
                problems.push(format!("guest {name}: key {} does not decode", key.base64));
            }
            if let Some(other) = seen.insert(key.base64.as_str(), name.as_str()) {
                if other != name.as_str() {
                    problems.push(format!("guests {other} and {name} share a key"));
                }
            }
        }
    }
    problems
}
