//! The admin's guest commands: `guest add`, `guest remove`, `guest list` and
//! `guest sync`.
//!
//! They edit the main config through [`MainEdit`] (comments and order kept,
//! the result checked against the schema, the file replaced atomically), and
//! only as root, who owns it. Every key is decoded with ssh-key before it is
//! written, and stored in its canonical `TYPE BASE64 [COMMENT]` form, so the
//! login path's text comparison finds it.
//!
//! One key, one guest: a key that another guest already holds is refused,
//! naming both, because a login with it could not say who it is (the login
//! path refuses such a key outright).
//!
//! The network is touched only to fetch GitHub keys, and always before the
//! config is locked, so a slow server never holds up another admin command.
//! A fetch that fails in any way changes nothing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use ssh_key::{HashAlg, PublicKey};

use crate::admin::github;
use crate::audit::{Audit, Event};
use crate::config::main_file::MainEdit;
use crate::config::{self, Config, KeyText};
use crate::core::error::{failure, Failure};
use crate::core::request::is_guest_name;
use crate::policy;

/// Largest key file read.
const MAX_KEY_FILE: u64 = 1 << 20;

/// A key checked by ssh-key, in canonical form.
#[derive(Clone, Debug)]
struct NewKey {
    /// `TYPE BASE64 [COMMENT]`, as stored.
    text: String,
    key_type: String,
    base64: String,
    fingerprint: String,
}

impl NewKey {
    /// Decode one `TYPE BASE64 [COMMENT]` line; `origin` says where it came
    /// from, for the message.
    fn parse(line: &str, origin: &str) -> Result<NewKey, Failure> {
        let line = line.trim();
        if line.chars().any(char::is_control) {
            return Err(failure!(
                "{origin}: a key line cannot hold control characters"
            ));
        }
        let key = PublicKey::from_openssh(line).map_err(|e| {
            format!(
                "{origin}: not an SSH public key ({e}); expected 'TYPE BASE64 [COMMENT]', \
                 one line of a .pub file"
            )
        })?;
        let text = key
            .to_openssh()
            .map_err(|e| format!("{origin}: cannot encode the key: {e}"))?;
        let mut words = text.split_ascii_whitespace();
        let (Some(key_type), Some(base64)) = (words.next(), words.next()) else {
            return Err(failure!("{origin}: cannot encode the key"));
        };
        Ok(NewKey {
            key_type: key_type.to_string(),
            base64: base64.to_string(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            text,
        })
    }

    fn id(&self) -> (&str, &str) {
        (&self.key_type, &self.base64)
    }
}

/// `SHA256:…` of a key from the config, or why not.
fn fingerprint(key: &KeyText) -> String {
    PublicKey::from_openssh(&format!("{} {}", key.key_type, key.base64))
        .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
        .unwrap_or_else(|_| "(does not decode)".to_string())
}

fn need_root(what: &str) -> Result<(), Failure> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(failure!(
            "{what} needs root (sudo): it edits the main config"
        ))
    }
}

/// Which guest holds each key: (type, base64) → guest.
fn key_owners(config: &Config) -> HashMap<(String, String), String> {
    let mut owners = HashMap::new();
    for (name, guest) in &config.guests {
        for key in guest.all_keys() {
            owners
                .entry((key.key_type.clone(), key.base64.clone()))
                .or_insert_with(|| name.to_string());
        }
    }
    owners
}

/// The first of `keys` another guest than `name` holds, as a message.
fn held_by_another(
    owners: &HashMap<(String, String), String>,
    name: &str,
    keys: &[NewKey],
) -> Option<String> {
    keys.iter().find_map(|k| {
        let owner = owners.get(&(k.key_type.clone(), k.base64.clone()))?;
        (owner != name).then(|| {
            format!(
                "key {} already belongs to guest {owner}, so it cannot be {name}'s too: \
                 a key must identify one guest",
                k.fingerprint
            )
        })
    })
}

/// Fetch `login`'s keys with the config's URL and timeout, checked.
fn fetch(config: &Config, login: &str) -> Result<Vec<NewKey>, Failure> {
    let timeout = Duration::from_secs(config.github_timeout_s);
    let url = crate::core::github::keys_url(&config.github_keys_url, login);
    github::fetch(&config.github_keys_url, login, timeout)?
        .iter()
        .enumerate()
        .map(|(i, line)| NewKey::parse(line, &format!("{url}: line {}", i + 1)))
        .collect()
}

/// The keys in `path`: one per line, blank lines and `#` comments skipped.
fn read_key_file(path: &Path) -> Result<Vec<NewKey>, Failure> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(|e| format!("{shown}: {e}"))?;
    if text.contains("PRIVATE KEY") {
        return Err(failure!(
            "{shown} is a private key; give the public one ({shown}.pub)"
        ));
    }
    let keys = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| NewKey::parse(l, &format!("{shown}:{}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(failure!("{shown} holds no public keys"));
    }
    Ok(keys)
}

/// `--key TEXT`, shortened for a message.
fn key_origin(text: &str) -> String {
    let short: String = text.chars().take(24).collect();
    if short.len() < text.len() {
        format!("--key '{short}…'")
    } else {
        format!("--key '{short}'")
    }
}

fn fingerprints(keys: &[&NewKey]) -> String {
    keys.iter()
        .map(|k| k.fingerprint.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 key".to_string()
    } else {
        format!("{n} keys")
    }
}

/// `pairshell guest add NAME …`
pub(crate) fn add(
    config_path: Option<&Path>,
    name: &str,
    keys: &[String],
    key_files: &[PathBuf],
    github_login: Option<&str>,
    expires: Option<&str>,
    by: &str,
) -> Result<(), Failure> {
    need_root("guest add")?;
    if !is_guest_name(name) {
        return Err(failure!(
            "{name:?} is not a guest name: use letters, digits, '_', '.' and '-', \
             starting with a letter, digit or '_'"
        ));
    }
    let now = Timestamp::now();
    let expires = expires
        .map(|t| crate::core::time::parse_expires(t, now))
        .transpose()?;
    if let Some(login) = github_login {
        crate::core::github::check_login(login)?;
    }

    // Every key is checked before anything is fetched or written.
    let mut given: Vec<NewKey> = Vec::new();
    for text in keys {
        given.push(NewKey::parse(text, &key_origin(text))?);
    }
    for path in key_files {
        given.extend(read_key_file(path)?);
    }
    let mut seen = Vec::new();
    given.retain(|k| {
        let id = (k.key_type.clone(), k.base64.clone());
        let new = !seen.contains(&id);
        seen.push(id);
        new
    });

    let path = config::main_path(config_path);
    let fetched = match github_login {
        Some(login) => {
            let (_, config) = config::load_main(&path).map_err(Failure::from)?;
            let keys = fetch(&config, login).map_err(|e| {
                format!("cannot add {name} from GitHub user {login}: {e}; nothing changed")
            })?;
            Some((login, keys))
        }
        None => None,
    };

    let mut edit = MainEdit::open(&path).map_err(Failure::from)?;
    let config = edit.config();
    let existing = config.guests.get(name);
    if let (Some(old), Some((login, _))) = (existing.and_then(|g| g.github.as_ref()), &fetched) {
        if old.as_str() != *login {
            return Err(failure!(
                "{name} already takes keys from GitHub user {old}; to switch to {login}, \
                 `pairshell guest remove {name}` and add them again"
            ));
        }
    }
    let owners = key_owners(config);
    let fetched_keys = fetched.as_ref().map_or(&[][..], |(_, k)| k.as_slice());
    if let Some(why) = held_by_another(&owners, name, &given)
        .or_else(|| held_by_another(&owners, name, fetched_keys))
    {
        return Err(Failure::from(why));
    }
    let holds = |k: &NewKey| {
        existing.is_some_and(|g| {
            g.all_keys()
                .any(|have| (have.key_type.as_str(), have.base64.as_str()) == k.id())
        })
    };
    let new_inline: Vec<&NewKey> = given.iter().filter(|k| !holds(k)).collect();
    let new_github: Vec<&NewKey> = fetched_keys.iter().filter(|k| !holds(k)).collect();
    let already = given.len() - new_inline.len();
    let expiry_changes = expires.is_some() && expires != existing.and_then(|g| g.expires);
    let github_changes = match (&fetched, existing) {
        (Some((_, keys)), Some(g)) => {
            g.github.is_none() || g.github_keys.len() != keys.len() || !new_github.is_empty()
        }
        (Some(_), None) => true,
        (None, _) => false,
    };
    let existed = existing.is_some();

    if existed && new_inline.is_empty() && !expiry_changes && !github_changes {
        println!(
            "{name} already has {}; nothing changed",
            count(given.len() + fetched_keys.len())
        );
        return Ok(());
    }

    edit.ensure_guest(name);
    edit.add_keys(
        name,
        &new_inline
            .iter()
            .map(|k| k.text.clone())
            .collect::<Vec<_>>(),
    );
    if let Some((login, keys)) = &fetched {
        edit.set_github(
            name,
            login,
            &keys.iter().map(|k| k.text.clone()).collect::<Vec<_>>(),
        );
    }
    if let Some(t) = expires {
        edit.set_expires(name, Some(t));
    }
    let file = edit.path().to_path_buf();
    let saved = edit.save().map_err(Failure::from)?;
    crate::admin::hosts::reindex(&file);
    let guest = &saved.guests[name];
    let total = guest.all_keys().count();

    let added: Vec<&NewKey> = new_inline.iter().chain(&new_github).copied().collect();
    Audit::new(&saved.audit.syslog_socket, false).write_best_effort(
        Event::new("guest-add")
            .field("by", by)
            .field("guest", name)
            .field("added", added.len().to_string())
            .opt(
                "fingerprints",
                (!added.is_empty()).then(|| fingerprints(&added)),
            )
            .opt("github", fetched.as_ref().map(|(l, _)| *l))
            .opt("expires", guest.expires.map(|t| t.to_string()))
            .field("keys", total.to_string()),
    );

    let mut out = String::new();
    let from_github = fetched
        .as_ref()
        .map(|(login, keys)| format!("{} from GitHub user {login}", count(keys.len())));
    if existed {
        let _ = write!(
            out,
            "{name} already existed: added {}",
            count(new_inline.len())
        );
        if already > 0 {
            let _ = write!(out, " ({already} already there)");
        }
        if let Some(g) = &from_github {
            let _ = write!(out, ", {g}");
        }
        let _ = write!(out, "; {} in all", count(total));
    } else {
        let mut parts = Vec::new();
        if !new_inline.is_empty() {
            parts.push(count(new_inline.len()));
        }
        parts.extend(from_github);
        let _ = write!(out, "added guest {name}: {}", parts.join(" and "));
    }
    if let Some(t) = guest.expires {
        let _ = write!(out, ", until {t}");
    }
    println!("{out} ({})", file.display());
    for k in &added {
        println!("  {}", k.fingerprint);
    }
    Ok(())
}

/// `pairshell guest remove NAME`
pub(crate) fn remove(config_path: Option<&Path>, name: &str) -> Result<(), Failure> {
    need_root("guest remove")?;
    let path = config::main_path(config_path);
    let mut edit = MainEdit::open(&path).map_err(Failure::from)?;
    let keys = edit.config().guests.get(name).map(|g| g.all_keys().count());
    let Some(keys) = keys else {
        let known: Vec<&str> = edit.config().guests.keys().map(|g| g.as_str()).collect();
        return Err(failure!(
            "there is no guest {name} in {} (guests: {})",
            edit.path().display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    if !edit.remove_guest(name) {
        return Err(failure!(
            "guest {name} is not a table of its own in {}; remove it by hand",
            edit.path().display()
        ));
    }
    let file = edit.path().to_path_buf();
    let saved = edit.save().map_err(Failure::from)?;
    crate::admin::hosts::reindex(&file);
    Audit::new(&saved.audit.syslog_socket, false).write_best_effort(
        Event::new("guest-remove")
            .field("by", "root")
            .field("guest", name)
            .field("keys", keys.to_string()),
    );
    println!(
        "removed guest {name} ({}); connected sessions end within 30 s",
        count(keys)
    );
    Ok(())
}

/// `pairshell guest list`
pub(crate) fn list(config_path: Option<&Path>) -> Result<(), Failure> {
    let (abs, config) =
        config::load_main(&config::main_path(config_path)).map_err(Failure::from)?;
    let now = Timestamp::now();
    let rows: Vec<[String; 5]> = config
        .guests
        .iter()
        .map(|(name, g)| {
            let mut source = Vec::new();
            if !g.keys.is_empty() {
                source.push("inline".to_string());
            }
            if let Some(login) = &g.github {
                source.push(format!("github:{login}"));
            }
            let expires = match g.expires {
                None => "never".to_string(),
                Some(t) if policy::is_current(Some(t), now) => t.to_string(),
                Some(t) => format!("{t} (expired)"),
            };
            let prints: Vec<String> = g.all_keys().map(fingerprint).collect();
            [
                name.to_string(),
                g.all_keys().count().to_string(),
                if source.is_empty() {
                    "-".into()
                } else {
                    source.join(",")
                },
                expires,
                if prints.is_empty() {
                    "-".into()
                } else {
                    prints.join(" ")
                },
            ]
        })
        .collect();
    print!(
        "{}",
        crate::core::text::table(
            &["GUEST", "KEYS", "SOURCE", "EXPIRES", "FINGERPRINTS"],
            &rows
        )
    );
    if rows.is_empty() {
        eprintln!("pairshell: {} declares no guests", abs.display());
    }
    Ok(())
}

/// What `guest sync` did for one guest.
enum Synced {
    Unchanged(usize),
    Changed {
        added: Vec<NewKey>,
        removed: usize,
        total: usize,
        keys: Vec<String>,
    },
    /// Why, and how many keys the guest keeps.
    Failed(String, usize),
}

/// `pairshell guest sync [NAME]`
pub(crate) fn sync(config_path: Option<&Path>, only: Option<&str>) -> Result<(), Failure> {
    need_root("guest sync")?;
    let path = config::main_path(config_path);
    let (_, config) = config::load_main(&path).map_err(Failure::from)?;
    let targets: Vec<(String, String)> = match only {
        Some(name) => {
            let guest = config
                .guests
                .get(name)
                .ok_or_else(|| format!("there is no guest {name}"))?;
            let login = guest.github.as_ref().ok_or_else(|| {
                format!("{name} was not added with --github; there is nothing to sync")
            })?;
            vec![(name.to_string(), login.to_string())]
        }
        None => config
            .guests
            .iter()
            .filter_map(|(n, g)| Some((n.to_string(), g.github.as_ref()?.to_string())))
            .collect(),
    };
    if targets.is_empty() {
        println!("no guest takes keys from GitHub; nothing to sync");
        return Ok(());
    }
    // The network first, with nothing locked.
    let fetched: Vec<Result<Vec<NewKey>, Failure>> = targets
        .iter()
        .map(|(_, login)| fetch(&config, login))
        .collect();

    let mut edit = MainEdit::open(&path).map_err(Failure::from)?;
    let mut owners = key_owners(edit.config());
    let mut outcomes = Vec::new();
    for ((name, login), result) in targets.iter().zip(fetched) {
        let current = edit.config().guests.get(name.as_str());
        let kept = current.map_or(0, |g| g.github_keys.len());
        let outcome = match (current, result) {
            (None, _) => Synced::Failed("removed while its keys were fetched".into(), 0),
            (Some(g), _) if g.github.as_ref().map(|l| l.as_str()) != Some(login.as_str()) => {
                Synced::Failed("changed while its keys were fetched".into(), kept)
            }
            (Some(_), Err(why)) => Synced::Failed(why.to_string(), kept),
            (Some(g), Ok(keys)) => match held_by_another(&owners, name, &keys) {
                Some(why) => Synced::Failed(why, kept),
                None => {
                    let old: Vec<(String, String)> = g
                        .github_keys
                        .iter()
                        .map(|k| (k.key_type.clone(), k.base64.clone()))
                        .collect();
                    let is_old =
                        |k: &NewKey| old.iter().any(|o| (o.0.as_str(), o.1.as_str()) == k.id());
                    let added: Vec<NewKey> = keys.iter().filter(|k| !is_old(k)).cloned().collect();
                    let removed = old
                        .iter()
                        .filter(|o| !keys.iter().any(|k| k.id() == (o.0.as_str(), o.1.as_str())))
                        .count();
                    // Later guests in this run see these keys as this guest's.
                    owners.retain(|id, owner| {
                        owner != name
                            || g.keys
                                .iter()
                                .any(|k| (&k.key_type, &k.base64) == (&id.0, &id.1))
                    });
                    for k in &keys {
                        owners
                            .entry((k.key_type.clone(), k.base64.clone()))
                            .or_insert_with(|| name.clone());
                    }
                    if added.is_empty() && removed == 0 {
                        Synced::Unchanged(g.all_keys().count())
                    } else {
                        Synced::Changed {
                            added,
                            removed,
                            total: g.keys.len() + keys.len(),
                            keys: keys.iter().map(|k| k.text.clone()).collect(),
                        }
                    }
                }
            },
        };
        outcomes.push(outcome);
    }
    let changed = outcomes.iter().any(|o| matches!(o, Synced::Changed { .. }));
    for ((name, login), outcome) in targets.iter().zip(&outcomes) {
        if let Synced::Changed { keys, .. } = outcome {
            edit.set_github(name, login, keys);
        }
    }
    let audit_socket = edit.config().audit.syslog_socket.clone();
    if changed {
        let file = edit.path().to_path_buf();
        edit.save().map_err(Failure::from)?;
        crate::admin::hosts::reindex(&file);
    } else {
        drop(edit);
    }

    let mut audit = Audit::new(&audit_socket, false);
    let mut failed = 0;
    for ((name, login), outcome) in targets.iter().zip(&outcomes) {
        let event = Event::new("guest-sync")
            .field("by", "root")
            .field("guest", name)
            .field("github", login);
        let (event, line) = match outcome {
            Synced::Unchanged(total) => (
                event.field("result", "unchanged"),
                format!("unchanged ({} in all)", count(*total)),
            ),
            Synced::Changed {
                added,
                removed,
                total,
                ..
            } => (
                event
                    .field("result", "changed")
                    .field("added", added.len().to_string())
                    .field("removed", removed.to_string())
                    .opt(
                        "fingerprints",
                        (!added.is_empty())
                            .then(|| fingerprints(&added.iter().collect::<Vec<_>>())),
                    ),
                format!(
                    "{} added, {removed} removed ({} in all)",
                    added.len(),
                    count(*total)
                ),
            ),
            Synced::Failed(why, kept) => {
                failed += 1;
                (
                    event.field("result", "failed").field("reason", why),
                    format!("failed: {why} (kept the old {})", count(*kept)),
                )
            }
        };
        audit.write_best_effort(event);
        println!("{name} (github:{login}): {line}");
    }
    if failed > 0 {
        return Err(failure!(
            "{failed} of {} GitHub fetches failed; those guests kept their old keys",
            targets.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY alice@laptop";

    #[test]
    fn keys_are_decoded_and_stored_canonically() {
        let k = NewKey::parse(&format!("  {KEY}  "), "--key").unwrap();
        assert_eq!(k.text, KEY);
        assert_eq!(k.key_type, "ssh-ed25519");
        assert!(k.fingerprint.starts_with("SHA256:"), "{}", k.fingerprint);
        for bad in [
            "garbage",
            "ssh-ed25519 AAAA",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vV",
            "restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY",
        ] {
            let err = NewKey::parse(bad, "--key 'x'").unwrap_err();
            assert!(err.to_string().starts_with("--key 'x': not an SSH public key"), "{err}");
        }
        assert!(NewKey::parse(&format!("{KEY}\u{1b}[2J"), "k").is_err());
    }

    #[test]
    fn a_key_of_another_guest_is_named_with_both_guests() {
        let config = config::parse_main(
            Path::new("/c.toml"),
            &format!("pair_user = \"pair\"\n[guests.bob]\ngithub_keys = [\"{KEY}\"]\n"),
        )
        .unwrap();
        let owners = key_owners(&config);
        let k = NewKey::parse(KEY, "--key").unwrap();
        let why = held_by_another(&owners, "alice", std::slice::from_ref(&k)).unwrap();
        assert!(why.contains("guest bob") && why.contains("alice"), "{why}");
        assert!(held_by_another(&owners, "bob", &[k]).is_none());
    }
}
