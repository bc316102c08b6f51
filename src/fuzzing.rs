//! Entry points for the fuzz targets in `fuzz/`, and for nothing else.
//!
//! Not an API: hidden from the docs, free to change with the fuzz targets.
//! Each function takes raw bytes, as a guest, sshd or a careless edit could
//! supply them, runs the same parser a login runs, and hands back plain
//! values so a target can check properties of what was accepted. The
//! modules themselves stay private.

use std::path::{Path, PathBuf};

use crate::config;
use crate::core::error::Error;
use crate::core::request;
use crate::identity::{self, IdentityError};

/// What the request grammar made of a guest's bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Choose,
    List,
    Help,
    Join {
        host: Option<String>,
        session: String,
    },
}

/// Parse a guest's request; an error is the audit line's `reason`.
pub fn request(raw: &[u8]) -> Result<Request, &'static str> {
    Ok(
        match request::parse(raw).map_err(request::RequestError::code)? {
            request::Request::Choose => Request::Choose,
            request::Request::List => Request::List,
            request::Request::Help => Request::Help,
            request::Request::Join(t) => Request::Join {
                host: t.host,
                session: t.session,
            },
        },
    )
}

/// Escape a value for an audit line, as the request is logged.
pub fn escape(raw: &[u8]) -> String {
    crate::audit::escape_bytes(raw)
}

/// A key accepted from `SSH_USER_AUTH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub key_type: String,
    pub base64: String,
    pub fingerprint: String,
    /// `(key id, serial, principals)` for a certificate line.
    pub certificate: Option<(String, u64, Vec<String>)>,
}

/// Parse an `SSH_USER_AUTH` file's bytes. Bytes that are not UTF-8 are
/// refused, as `read_auth_info` refuses them; an error is the audit line's
/// `(reason, detail)`.
pub fn ssh_user_auth(raw: &[u8]) -> Result<Vec<Key>, (&'static str, String)> {
    let text = std::str::from_utf8(raw).map_err(|e| ("not-text", e.to_string()))?;
    let keys =
        identity::parse_auth_info(text).map_err(|e: IdentityError| (e.code(), e.detail()))?;
    Ok(keys
        .into_iter()
        .map(|k| Key {
            key_type: k.key_type,
            base64: k.base64,
            fingerprint: k.fingerprint,
            certificate: k.certificate.map(|c| (c.key_id, c.serial, c.principals)),
        })
        .collect())
}

/// Why a config file was refused: its message, and where it points for a
/// syntax or schema error.
#[derive(Debug)]
pub struct ConfigError {
    pub message: String,
    /// One-based `(line, column)`, the column counted in characters.
    pub at: Option<(usize, usize)>,
}

impl From<Error> for ConfigError {
    fn from(e: Error) -> ConfigError {
        let at = match &e {
            Error::Parse { line, column, .. } => Some((*line, *column)),
            _ => None,
        };
        ConfigError {
            message: e.to_string(),
            at,
        }
    }
}

/// The file's text; bytes that are not UTF-8 fail as `read_to_string`
/// fails them when a config is loaded.
fn text<'a>(file: &Path, raw: &'a [u8]) -> Result<&'a str, ConfigError> {
    std::str::from_utf8(raw).map_err(|e| {
        Error::io(
            file,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
        .into()
    })
}

/// What a main config that loaded says, as plain values.
#[derive(Debug)]
pub struct MainConfig {
    pub pair_user: String,
    pub socket_group: String,
    /// `tmux`, `hosts_dir`, `sockets_dir`, `tmpfiles`, `audit.syslog_socket`.
    pub paths: Vec<PathBuf>,
    /// Each guest's name and keys as `(type, base64)`.
    pub guests: Vec<(String, Vec<(String, String)>)>,
}

/// Parse a main config's bytes (no file checks), as `load_main` does.
pub fn config_main(raw: &[u8]) -> Result<MainConfig, ConfigError> {
    let file = Path::new("/etc/pairshell/pairshell.toml");
    let c = config::parse_main(file, text(file, raw)?)?;
    Ok(MainConfig {
        pair_user: c.pair_user,
        socket_group: c.socket_group,
        paths: vec![
            c.tmux,
            c.hosts_dir,
            c.sockets_dir,
            c.tmpfiles,
            c.audit.syslog_socket,
        ],
        guests: c
            .guests
            .into_iter()
            .map(|(name, g)| {
                let keys = g.keys.into_iter().map(|k| (k.key_type, k.base64));
                (name.as_str().to_string(), keys.collect())
            })
            .collect(),
    })
}

/// The stale-index path (a login's config without a usable index) against
/// the whole parse, for a config the whole parse accepts: for each guest's
/// keys and principals, the same settings, and exactly the guests that hold
/// them, each as the whole config has it; never a guest it lacks. Panics on
/// a difference; anything the whole parse refuses is not compared (another
/// guest's schema error is allowed to pass, pairshell.toml(5)).
pub fn config_stale_agrees(raw: &[u8]) {
    let file = Path::new("/etc/pairshell/pairshell.toml");
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    let Ok(whole) = config::parse_main(file, text) else {
        return;
    };
    let mut settings = whole.clone();
    settings.guests.clear();
    for guest in whole.guests.values() {
        let keys: Vec<(&str, &str)> = guest
            .all_keys()
            .map(|k| (k.key_type.as_str(), k.base64.as_str()))
            .collect();
        let principals: Vec<&str> = guest.principals.iter().map(|p| p.as_str()).collect();
        let Some(got) = config::index::stale_load(file, text, &keys, &principals) else {
            continue;
        };
        let mut got = got.expect("the stale path refused a config the whole parse accepts");
        for (name, g) in &whole.guests {
            let holds = g
                .all_keys()
                .any(|k| keys.contains(&(k.key_type.as_str(), k.base64.as_str())))
                || g.principals
                    .iter()
                    .any(|p| principals.contains(&p.as_str()));
            if holds {
                assert_eq!(got.guests.get(name), Some(g), "{name} is missing");
            }
        }
        for (name, g) in &got.guests {
            assert_eq!(whole.guests.get(name), Some(g), "{name} differs");
        }
        got.guests.clear();
        assert_eq!(got, settings, "the settings differ");
    }
}

/// One session of a host file that loaded.
#[derive(Debug)]
pub struct Session {
    pub name: String,
    pub socket: PathBuf,
    /// Every guest the session names: `read_write`, `read_only` and the
    /// keys of `guest_expires`.
    pub guests: Vec<String>,
}

/// Parse a host file's bytes (no file checks), as `load_host` does.
pub fn config_host(raw: &[u8]) -> Result<Vec<Session>, ConfigError> {
    let file = Path::new("/etc/pairshell/hosts.d/maria.toml");
    let f = config::parse_host(file, text(file, raw)?)?;
    Ok(f.sessions
        .into_iter()
        .map(|(name, s)| {
            let guests = s.read_write.iter().chain(&s.read_only);
            let guests = guests.chain(s.guest_expires.keys());
            Session {
                name: name.as_str().to_string(),
                socket: s.socket,
                guests: guests.map(|g| g.as_str().to_string()).collect(),
            }
        })
        .collect())
}

/// Decode a guest's input as `pairshell typed` does, each chunk in turn
/// (chunks split at 0xfe bytes here, never valid UTF-8, so a paste can span chunks), and
/// render it: the text `typed` would print.
pub fn typed(raw: &[u8]) -> String {
    let mut decoder = crate::admin::typed::Decoder::default();
    let mut keys = Vec::new();
    for chunk in raw.split(|b| *b == 0xfe) {
        keys.extend(decoder.feed(&String::from_utf8_lossy(chunk)));
    }
    keys.extend(decoder.finish());
    crate::admin::typed::render(&keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target's property over its committed seeds and the
    /// repository's example configs, so a plain `cargo test` runs it too.
    #[test]
    fn fuzz_seeds_and_examples_agree_with_the_whole_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for dir in ["fuzz/corpus/config", "examples", "testdata"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(raw) = std::fs::read(entry.path()) {
                    let main = raw.split(|&b| b == 0).next().unwrap_or_default();
                    config_stale_agrees(main);
                    seen += 1;
                }
            }
        }
        assert!(seen > 0);
    }
}
