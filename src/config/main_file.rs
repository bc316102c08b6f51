//! Edits to the main config (`guest add`, `guest remove`, `guest sync`) that
//! keep the admin's comments, order and layout.
//!
//! Unlike a host file, the main config lives in a root-owned directory and is
//! edited by root, so it is replaced atomically: the edited text is checked
//! against the real schema, written to a temporary file beside it with the
//! same owner and mode, synced, and renamed over it. A login reads the old
//! file or the new one, never half of either. Two admin commands are kept
//! apart by an exclusive `flock` on the config, taken again on the new file
//! when the one waited for was replaced meanwhile.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use nix::fcntl::{Flock, FlockArg};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::{parse_main, Config, MAX_MAIN};
use crate::core::error::Error;
use crate::sys::trust;

/// How long an admin command waits for another one editing the same config.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The main config opened for editing, locked until saved or dropped.
pub(crate) struct MainEdit {
    path: PathBuf,
    meta: Metadata,
    _lock: Flock<File>,
    doc: DocumentMut,
    config: Config,
}

/// The main config checked, locked against the other admin commands, and
/// read, whether its text parses or not.
fn lock_main(path: &Path) -> Result<(PathBuf, Metadata, Flock<File>, String), Error> {
    for _ in 0..5 {
        let (abs, file, meta) = trust::open_root_file(path)?;
        let Some(lock) = trust::lock_briefly(&file, FlockArg::LockExclusiveNonblock, LOCK_WAIT)
        else {
            return Err(Error::Invalid {
                path: abs,
                message: "another pairshell command is editing it; try again".into(),
            });
        };
        // Replaced by the command we waited for: lock the new file.
        let now = std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
        if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
            continue;
        }
        let mut text = String::new();
        (&*lock)
            .take(MAX_MAIN)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(&abs, e))?;
        return Ok((abs, meta, lock, text));
    }
    Err(Error::Invalid {
        path: path.to_path_buf(),
        message: "it keeps being replaced; try again".into(),
    })
}

/// Replace the config at `path` with `text`, atomically, with the owner,
/// group and mode of the file it replaces (`meta`), never writable by group
/// or other.
fn replace_like(path: &Path, meta: &Metadata, text: &str) -> Result<(), Error> {
    let (uid, gid, mode) = (meta.uid(), meta.gid(), meta.mode());
    crate::sys::fs::replace(path, uid, gid, mode & 0o7777 & !0o022, text.as_bytes())
        .map_err(|e| Error::io(path, e))
}

/// The main config as `pairshell edit` holds it: locked like every admin
/// command's edit for as long as the admin's editor is open (visudo's
/// shape), with the text it had then, parsed or not (an edit is the way to
/// repair a config that no longer parses).
pub(crate) struct LockedMain {
    path: PathBuf,
    meta: Metadata,
    _lock: Flock<File>,
    text: String,
}

impl LockedMain {
    /// Open, check, lock and read the main config at `path`.
    pub(crate) fn open(path: &Path) -> Result<LockedMain, Error> {
        let (path, meta, lock, text) = lock_main(path)?;
        Ok(LockedMain {
            path,
            meta,
            _lock: lock,
            text,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The text as it was when locked.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Replace the config with `text` atomically, with the same owner and
    /// mode; the caller has checked it. Refused when the text does not
    /// parse, and when the file changed since it was locked (an edit that
    /// ignored the lock, by hand or by config management): that edit would
    /// be lost without anyone having seen it.
    pub(crate) fn install(self, text: &str) -> Result<Config, Error> {
        let config = parse_main(&self.path, text)?;
        let now = std::fs::symlink_metadata(&self.path).map_err(|e| Error::io(&self.path, e))?;
        if super::index::Stamp::of(&now) != super::index::Stamp::of(&self.meta) {
            return Err(Error::Invalid {
                path: self.path.clone(),
                message: "it was changed by something else while you were editing it".into(),
            });
        }
        replace_like(&self.path, &self.meta, text)?;
        Ok(config)
    }
}

impl MainEdit {
    /// Open, check, lock and parse the main config at `path`.
    pub(crate) fn open(path: &Path) -> Result<MainEdit, Error> {
        let (abs, meta, lock, text) = lock_main(path)?;
        // The schema first: it gives the errors with line and column.
        let config = parse_main(&abs, &text)?;
        let doc = text.parse::<DocumentMut>().map_err(|e| Error::Invalid {
            path: abs.clone(),
            message: e.to_string(),
        })?;
        Ok(MainEdit {
            path: abs,
            meta,
            _lock: lock,
            doc,
            config,
        })
    }

    /// The config as it was when opened (and locked).
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `[guests.NAME]`, made if missing.
    fn guest(&mut self, name: &str) -> &mut dyn TableLike {
        let guests = self.doc.entry("guests").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        if guests.as_table_like().is_none() {
            let mut t = Table::new();
            t.set_implicit(true);
            *guests = Item::Table(t);
        }
        let guests = guests.as_table_like_mut().expect("made a table above");
        let inline = guests.get(name).is_none() && !guests.is_empty() && {
            // `[guests] bob = { … }`: add alice in the same style.
            guests.iter().all(|(_, item)| item.is_inline_table())
        };
        let guest = guests.entry(name).or_insert_with(|| {
            if inline {
                Item::Value(Value::InlineTable(InlineTable::new()))
            } else {
                let mut t = Table::new();
                t.decor_mut().set_prefix("\n");
                Item::Table(t)
            }
        });
        guest.as_table_like_mut().expect("a guest is a table")
    }

    /// Add `keys` (canonical texts) to the guest's own `keys`, making the
    /// guest if needed. The caller has left out keys the guest already has.
    pub(crate) fn add_keys(&mut self, name: &str, keys: &[String]) {
        let guest = self.guest(name);
        let list = array_mut(guest, "keys");
        for key in keys {
            push_line(list, key);
        }
    }

    /// Make the guest (with no keys) if it does not exist.
    pub(crate) fn ensure_guest(&mut self, name: &str) {
        self.guest(name);
    }

    /// Set or clear the guest's `expires`.
    pub(crate) fn set_expires(&mut self, name: &str, expires: Option<Timestamp>) {
        let guest = self.guest(name);
        match expires {
            Some(t) => {
                let t = t.round(jiff::Unit::Second).unwrap_or(t);
                let dt: toml_edit::Datetime = t
                    .to_string()
                    .parse()
                    .expect("a jiff timestamp is a TOML offset date-time");
                insert_value(guest, "expires", Value::from(dt));
            }
            None => {
                guest.remove("expires");
            }
        }
    }

    /// Record the guest's GitHub login and make `github_keys` exactly
    /// `keys`, keeping the entries (and their comments) that stay.
    pub(crate) fn set_github(&mut self, name: &str, login: &str, keys: &[String]) {
        let guest = self.guest(name);
        insert_value(guest, "github", Value::from(login));
        let list = array_mut(guest, "github_keys");
        list.retain(|v| v.as_str().is_some_and(|s| keys.iter().any(|k| k == s)));
        tidy_first(list);
        let have: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        for key in keys.iter().filter(|k| !have.contains(k)) {
            push_line(list, key);
        }
    }

    /// Remove `[guests.NAME]`. Returns whether it was there. Comments right
    /// above it go with it; a paragraph of comments separated from it by a
    /// blank line (about the guests in general, say) stays.
    pub(crate) fn remove_guest(&mut self, name: &str) -> bool {
        let Some(guests) = self.doc.get_mut("guests").and_then(Item::as_table_like_mut) else {
            return false;
        };
        let Some(removed) = guests.remove(name) else {
            return false;
        };
        if let Item::Table(t) = &removed {
            let prefix = t.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
            let kept = paragraphs_above(prefix);
            if !kept.trim().is_empty() {
                self.keep_comment(t.position(), kept);
            }
        }
        true
    }

    /// Put `comment` above whatever table came after position `after`, or
    /// at the end of the file.
    fn keep_comment(&mut self, after: Option<isize>, comment: &str) {
        let comment = format!("{}\n", comment.trim_end());
        let mut tables = Vec::new();
        collect_tables(self.doc.as_table(), &mut Vec::new(), &mut tables);
        let next = after.and_then(|after| {
            tables
                .into_iter()
                .filter(|(pos, _)| *pos > after)
                .min_by_key(|(pos, _)| *pos)
        });
        match next {
            Some((_, path)) => {
                let mut table = self.doc.as_table_mut();
                for key in &path {
                    table = table[key.as_str()]
                        .as_table_mut()
                        .expect("collected as a table");
                }
                let old = table
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_string();
                let old = if old.starts_with('\n') {
                    old
                } else {
                    format!("\n{old}")
                };
                table.decor_mut().set_prefix(format!("{comment}{old}"));
            }
            None => {
                let old = self.doc.trailing().as_str().unwrap_or("").to_string();
                self.doc.set_trailing(format!("{comment}{old}"));
            }
        }
    }

    /// Check the edited text against the schema and replace the file with
    /// it atomically. Returns the new config.
    pub(crate) fn save(self) -> Result<Config, Error> {
        let text = self.doc.to_string();
        let config = parse_main(&self.path, &text)?;
        replace_like(&self.path, &self.meta, &text)?;
        Ok(config)
    }

    #[cfg(test)]
    fn text(&self) -> String {
        self.doc.to_string()
    }
}

/// The part of a table's leading decor that is not attached to it: up to
/// and including its last blank line.
fn paragraphs_above(prefix: &str) -> &str {
    let mut end = 0;
    let mut at = 0;
    for line in prefix.split_inclusive('\n') {
        at += line.len();
        if line.trim().is_empty() {
            end = at;
        }
    }
    &prefix[..end]
}

/// Every header table below `table` with its position and key path.
fn collect_tables(table: &Table, path: &mut Vec<String>, out: &mut Vec<(isize, Vec<String>)>) {
    for (key, item) in table.iter() {
        if let Item::Table(t) = item {
            path.push(key.to_string());
            if let (Some(pos), false, false) = (t.position(), t.is_implicit(), t.is_dotted()) {
                out.push((pos, path.clone()));
            }
            collect_tables(t, path, out);
            path.pop();
        }
    }
}

fn insert_value(table: &mut dyn TableLike, key: &str, value: Value) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        // Keep the comment after the old value.
        Some(old) => {
            let suffix = old.decor().suffix().cloned();
            *old = value;
            if let Some(s) = suffix {
                old.decor_mut().set_suffix(s);
            }
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

fn array_mut<'t>(table: &'t mut dyn TableLike, key: &str) -> &'t mut Array {
    let item = table
        .entry(key)
        .or_insert_with(|| toml_edit::value(Array::new()));
    if item.as_array().is_none() {
        *item = toml_edit::value(Array::new());
    }
    item.as_array_mut().expect("made an array above")
}

fn prefix_of(v: &Value) -> &str {
    v.decor().prefix().and_then(|p| p.as_str()).unwrap_or("")
}

/// Append `text` in the array's own layout: on its own line in a
/// multi-line array (a single-line array of one key becomes multi-line, as
/// keys are long), after `, ` otherwise.
fn push_line(list: &mut Array, text: &str) {
    const INDENT: &str = "    ";
    let plain = |s: &str| s.trim().is_empty();
    let trailing = list.trailing().as_str().unwrap_or("").to_string();
    let multiline = list.iter().any(|v| prefix_of(v).contains('\n'));
    if !multiline && list.len() == 1 && plain(&trailing) {
        let first = list.get_mut(0).expect("one element");
        if plain(prefix_of(first))
            && first
                .decor()
                .suffix()
                .and_then(|s| s.as_str())
                .is_none_or(plain)
        {
            first.decor_mut().set_prefix(format!("\n{INDENT}"));
            first.decor_mut().set_suffix("");
            list.set_trailing("\n");
            list.set_trailing_comma(true);
            return push_line(list, text);
        }
    }
    let mut value = Value::from(text);
    if multiline {
        let last = list.iter().last().map(prefix_of).unwrap_or("\n");
        let indent = last.rsplit('\n').next().unwrap_or(INDENT).to_string();
        // A comment after the last key's comma stays on that key's line.
        let (comment, closing) = match trailing.rfind('\n') {
            Some(i) => (&trailing[..i], &trailing[i..]),
            None => ("", trailing.as_str()),
        };
        value.decor_mut().set_prefix(format!("{comment}\n{indent}"));
        value.decor_mut().set_suffix("");
        let closing = if closing.starts_with('\n') {
            closing.to_string()
        } else {
            format!("\n{closing}")
        };
        list.set_trailing(closing);
        list.set_trailing_comma(true);
    } else if list.is_empty() {
        value.decor_mut().set_prefix("");
    } else {
        value.decor_mut().set_prefix(" ");
    }
    value.decor_mut().set_suffix("");
    list.push_formatted(value);
}

/// `["a", "b"]` minus a should read `["b"]`, not `[ "b"]`.
fn tidy_first(list: &mut Array) {
    if let Some(first) = list.get_mut(0) {
        if prefix_of(first).trim().is_empty() && !prefix_of(first).contains('\n') {
            first.decor_mut().set_prefix("");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY a@x";
    const B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbdHVfsVHKw0rHUG3P6ro6hBqJ4Bi9X7Oq13Z3yAIVT";
    const C: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0ITpp3ni4qhJjz2AmQPbGJXyAhSRiUWy3FcxU2V8dd";

    /// A scratch config in a root-owned temporary directory. Without root
    /// there is none to be had: the test says SKIPPED, or fails under CI.
    use crate::sys::scratch::Scratch;

    /// A scratch directory holding a root-owned `pairshell.toml` with
    /// `text`, mode 0640; `None` (loudly) when not root, outside CI.
    fn with(name: &str, text: &str) -> Option<Scratch> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "main_file tests need root for a root-owned file, and CI is set: refusing to skip"
            );
            eprintln!("SKIPPED: main_file tests need root for a root-owned file");
            return None;
        }
        let s = Scratch::new("main-file", name);
        s.write("pairshell.toml", text, 0o640);
        Some(s)
    }

    fn path(s: &Scratch) -> PathBuf {
        s.0.join("pairshell.toml")
    }

    fn read_back(s: &Scratch) -> String {
        std::fs::read_to_string(path(s)).unwrap()
    }

    fn head() -> String {
        "# the pair account\npair_user = \"pair\" # keep\n\n[audit] # audit!\nrequired = false\n"
            .to_string()
    }

    #[test]
    fn add_to_a_config_without_guests_then_a_second_key() {
        let Some(s) = with("add", &head()) else {
            return;
        };
        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.add_keys("alice", &[A.to_string()]);
        e.set_expires("alice", Some("2030-01-01T00:00:00.5Z".parse().unwrap()));
        let c = e.save().unwrap();
        assert_eq!(c.guests["alice"].keys.len(), 1);
        let text = read_back(&s);
        assert!(text.starts_with(&head()), "{text}");
        assert!(
            text.ends_with(&format!(
                "\n[guests.alice]\nkeys = [\"{A}\"]\nexpires = 2030-01-01T00:00:01Z\n"
            )),
            "{text}"
        );
        let mode = std::fs::metadata(path(&s)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640, "the mode is kept");

        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.add_keys("alice", &[B.to_string(), C.to_string()]);
        e.save().unwrap();
        let text = read_back(&s);
        assert!(
            text.contains(&format!(
                "keys = [\n    \"{A}\",\n    \"{B}\",\n    \"{C}\",\n]\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn multiline_arrays_keep_their_comments() {
        let text = format!(
            "{}\n# alice\n[guests.alice] # she\nkeys = [\n  \"{A}\", # laptop\n] # end\n",
            head()
        );
        let Some(s) = with("multi", &text) else {
            return;
        };
        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.add_keys("alice", &[B.to_string()]);
        e.save().unwrap();
        assert_eq!(
            read_back(&s),
            format!(
                "{}\n# alice\n[guests.alice] # she\nkeys = [\n  \"{A}\", # laptop\n  \"{B}\",\n] # end\n",
                head()
            )
        );
    }

    #[test]
    fn github_keys_are_replaced_and_the_admins_keys_kept() {
        let text = format!("{}\n[guests.bob]\nkeys = [\"{A}\"]\n", head());
        let Some(s) = with("github", &text) else {
            return;
        };
        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.set_github("bob", "bob-gh", &[B.to_string(), C.to_string()]);
        e.save().unwrap();
        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.set_github("bob", "bob-gh", &[C.to_string()]);
        let c = e.save().unwrap();
        let bob = &c.guests["bob"];
        assert_eq!(bob.github.as_ref().unwrap().as_str(), "bob-gh");
        assert_eq!(bob.keys.len(), 1);
        assert_eq!(bob.github_keys.len(), 1);
        assert_eq!(
            format!(
                "{} {}",
                bob.github_keys[0].key_type, bob.github_keys[0].base64
            ),
            C
        );
        assert!(
            read_back(&s).contains(&format!("keys = [\"{A}\"]\n")),
            "{}",
            read_back(&s)
        );
    }

    #[test]
    fn remove_keeps_other_comments_and_drops_the_guests_own() {
        let text = format!(
            "{}\n# Guests: see the wiki.\n\n# alice, until June\n[guests.alice]\nkeys = [\"{A}\"]\n\n# bob\n[guests.bob]\nkeys = [\"{B}\"]\n# the end\n",
            head()
        );
        let Some(s) = with("remove", &text) else {
            return;
        };
        let mut e = MainEdit::open(&path(&s)).unwrap();
        assert!(e.remove_guest("alice"));
        assert!(!e.remove_guest("carol"));
        e.save().unwrap();
        assert_eq!(
            read_back(&s),
            format!(
                "{}\n# Guests: see the wiki.\n\n# bob\n[guests.bob]\nkeys = [\"{B}\"]\n# the end\n",
                head()
            )
        );
        let mut e = MainEdit::open(&path(&s)).unwrap();
        assert!(e.remove_guest("bob"));
        let c = e.save().unwrap();
        assert!(c.guests.is_empty());
        let text = read_back(&s);
        for kept in [
            "# the pair account",
            "# keep",
            "# audit!",
            "# Guests: see the wiki.",
            "# the end",
        ] {
            assert!(text.contains(kept), "lost {kept:?}:\n{text}");
        }
        assert!(!text.contains("# bob"), "{text}");
    }

    #[test]
    fn inline_guests_stay_inline() {
        let text = format!("{}\n[guests]\nbob = {{ keys = [\"{B}\"] }}\n", head());
        let Some(s) = with("inline", &text) else {
            return;
        };
        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.add_keys("alice", &[A.to_string()]);
        let c = e.save().unwrap();
        assert_eq!(c.guests.len(), 2);
        assert!(
            read_back(&s).contains(&format!("alice = {{ keys = [\"{A}\"] }}")),
            "{}",
            read_back(&s)
        );
    }

    #[test]
    fn an_edit_the_schema_refuses_is_never_written() {
        let Some(s) = with("refuse", &head()) else {
            return;
        };
        let mut e = MainEdit::open(&path(&s)).unwrap();
        e.add_keys("alice", &["not a key".to_string()]);
        assert!(e.text().contains("not a key"));
        let err = e.save().unwrap_err();
        assert!(err.to_string().contains("invalid key"), "{err}");
        assert_eq!(read_back(&s), head());
        let leftovers: Vec<_> = std::fs::read_dir(&s.0).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_group_writable_config_is_not_edited() {
        let Some(s) = with("perm", &head()) else {
            return;
        };
        std::fs::set_permissions(path(&s), std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = MainEdit::open(&path(&s)).err().unwrap();
        assert!(err.to_string().contains("writable by group"), "{err}");
    }

    #[test]
    fn attached_comments() {
        assert_eq!(paragraphs_above("\n# a\n\n# b\n"), "\n# a\n\n");
        assert_eq!(paragraphs_above("# b\n"), "");
        assert_eq!(paragraphs_above("\n"), "\n");
    }
}
