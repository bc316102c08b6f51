//! `pairshell replay FILE | GUEST | HOST/SESSION [--since T] [--speed N]
//! [--idle-limit S]`: play recordings in this terminal with their timing
//! (`asciinema play FILE` plays the same files), and `replay --prune DAYS`,
//! the retention: recordings older than DAYS days are removed.
//!
//! Retention is a command rather than a config key applied by a timer:
//! the admin runs it from cron or a systemd timer, and sees what it
//! removed. Both read `recordings_dir`, which only root (and the pair
//! account, which never runs commands) can read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::core::error::{failure, Failure};
use crate::record::{self, Cast};

/// What `replay` was asked to play.
pub(crate) struct Options<'a> {
    pub(crate) target: &'a str,
    pub(crate) since: Option<&'a str>,
    pub(crate) speed: f64,
    pub(crate) idle_limit: Option<f64>,
}

/// `pairshell replay …`
pub(crate) fn run(config_path: Option<&Path>, o: &Options<'_>) -> Result<(), Failure> {
    if !(o.speed.is_finite() && o.speed > 0.0) {
        return Err(failure!("--speed {}: give a number above 0", o.speed));
    }
    if o.idle_limit.is_some_and(|s| !(s.is_finite() && s >= 0.0)) {
        return Err("--idle-limit: give seconds, 0 or more".into());
    }
    let now = Timestamp::now();
    let since = o
        .since
        .map(|s| crate::core::time::parse_since(s, now))
        .transpose()?;
    let files = resolve(config_path, o.target)?;
    if files.is_empty() {
        return Err(failure!("no recordings of {}", o.target));
    }
    let mut out = std::io::stdout().lock();
    for file in files {
        let cast = Cast::read(&file)?;
        if since.is_some_and(|s| cast.end() < s) {
            continue;
        }
        eprintln!(
            "pairshell: {} — {}@{}/{} ({}), {}, {}x{}",
            cast.path.display(),
            cast.guest,
            cast.host,
            cast.session,
            cast.mode,
            cast.start,
            cast.width,
            cast.height
        );
        let mut last = 0.0;
        for e in cast.events.iter().filter(|e| e.code == "o") {
            let mut gap = (e.t - last).max(0.0);
            if let Some(limit) = o.idle_limit {
                gap = gap.min(limit);
            }
            last = e.t;
            if gap > 0.0 {
                let _ = out.flush();
                std::thread::sleep(Duration::from_secs_f64(gap / o.speed));
            }
            if out.write_all(e.data.as_bytes()).is_err() {
                return Ok(());
            }
        }
        let _ = out.flush();
    }
    Ok(())
}

/// A file, a guest's recordings, or a session's.
fn resolve(config_path: Option<&Path>, target: &str) -> Result<Vec<PathBuf>, Failure> {
    let as_path = Path::new(target);
    if as_path.is_file() {
        return Ok(vec![as_path.to_path_buf()]);
    }
    let (_, config) =
        crate::config::load_main(&crate::config::main_path(config_path)).map_err(Failure::from)?;
    let dir = &config.recordings_dir;
    let err = |e: std::io::Error| crate::admin::typed::recordings_error(dir, &e);
    if let Some((host, session)) = target.split_once('/') {
        if crate::core::request::is_login_name(host)
            && crate::core::request::is_session_name(session)
        {
            return record::list(dir, Some(host), Some(session)).map_err(|e| Failure::from(err(e)));
        }
        return Err(failure!("{target}: no such file, and not HOST/SESSION"));
    }
    if !crate::core::request::is_guest_name(target) {
        return Err(failure!("{target}: no such file, and not a guest's name"));
    }
    let mut files: Vec<PathBuf> = record::list(dir, None, None)
        .map_err(err)?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(record::guest_of)
                == Some(target)
        })
        .collect();
    // In time order across sessions: the name starts with the date.
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// `pairshell replay --prune DAYS`
pub(crate) fn prune(config_path: Option<&Path>, days: u32) -> Result<(), Failure> {
    if !nix::unistd::geteuid().is_root() {
        return Err("replay --prune needs root (sudo): recordings are root's to manage".into());
    }
    let (_, config) =
        crate::config::load_main(&crate::config::main_path(config_path)).map_err(Failure::from)?;
    let dir = &config.recordings_dir;
    let cutoff = std::time::SystemTime::now()
        .checked_sub(Duration::from_secs(u64::from(days) * 86_400))
        .unwrap_or(std::time::UNIX_EPOCH);
    let files = record::list(dir, None, None)
        .map_err(|e| crate::admin::typed::recordings_error(dir, &e))?;
    let mut removed = 0;
    for f in &files {
        let old = std::fs::symlink_metadata(f)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old {
            match std::fs::remove_file(f) {
                Ok(()) => removed += 1,
                Err(e) => eprintln!("pairshell: {}: {e}", f.display()),
            }
        }
    }
    // Empty SESSION and HOST directories go too (the next join makes them
    // again); a directory still in use is not empty and stays.
    for f in &files {
        for d in f.ancestors().skip(1).take(2) {
            let _ = std::fs::remove_dir(d);
        }
    }
    crate::audit::Audit::new(&config.audit.syslog_socket, false).write_best_effort(
        crate::audit::Event::new("record-prune")
            .field("by", "root")
            .field("days", days.to_string())
            .field("removed", removed.to_string()),
    );
    println!(
        "pairshell: removed {removed} of {} recordings older than {days} days in {}",
        files.len(),
        dir.display()
    );
    Ok(())
}
