//! Edits to a host's file that keep the host's comments, order and layout.
//!
//! `share`, `grant`, `revoke` and `unshare` change a file the host may also
//! edit by hand, so they go through toml_edit rather than re-serializing the
//! schema. The file is rewritten in place (the host cannot create files in
//! the root-owned `hosts_dir`, so there is no rename to make it atomic)
//! under an exclusive `flock`, which readers wait for briefly (see
//! `trust::lock_briefly`: the lock is a courtesy, not a guarantee, since
//! anyone who can read the file can lock it). A reader that still catches a
//! half-written file fails to parse it and retries or refuses.
//!
//! Every edit is checked by parsing the result with the real schema before
//! it is written: a command never leaves behind a file pairshell would then
//! refuse.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use nix::fcntl::{Flock, FlockArg};

use nix::unistd::Uid;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::{parse_host, HostFile, MAX_HOST};
use crate::core::error::Error;
use crate::core::mode::Mode;
use crate::sys::trust::{self, Owner};

/// A host file opened for editing, locked until saved or dropped.
pub(crate) struct HostEdit {
    path: PathBuf,
    file: File,
    /// Held until the edit is saved or dropped.
    _lock: Option<Flock<File>>,
    doc: DocumentMut,
}

/// How long `share` waits for another writer of the same file.
const LOCK_WAIT_WRITE: std::time::Duration = std::time::Duration::from_secs(2);

/// What a change to the grants did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    /// The guest was already there in another mode, or with another expiry.
    Changed,
    Unchanged,
}

impl HostEdit {
    /// Open, check and lock `path`, which must belong to `owner`.
    pub(crate) fn open(path: &Path, owner: Uid) -> Result<HostEdit, Error> {
        let file = trust::open_trusted_rw(path, Owner::UserOrRoot(owner))?;
        // Another `share` of the same host finishes in milliseconds; a lock
        // held longer is someone else's, and is not waited for.
        let lock = trust::lock_briefly(&file, FlockArg::LockExclusiveNonblock, LOCK_WAIT_WRITE);
        let mut file = file;
        let mut text = String::new();
        (&mut file)
            .take(MAX_HOST)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        // The schema first: it gives the errors with line and column.
        parse_host(path, &text)?;
        let doc = text.parse::<DocumentMut>().map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(HostEdit {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            doc,
        })
    }

    /// The file as the schema sees it now.
    pub(crate) fn parsed(&self) -> Result<HostFile, Error> {
        parse_host(&self.path, &self.doc.to_string())
    }

    fn sessions(&mut self) -> &mut Table {
        let item = self.doc.entry("sessions").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        if !item.is_table() {
            // `sessions = {}` inline: turn it into a normal table.
            let inline = std::mem::take(item);
            *item = inline.into_table().map(Item::Table).unwrap_or_else(|_| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            });
        }
        item.as_table_mut().expect("made a table above")
    }

    fn session(&mut self, session: &str) -> Option<&mut Table> {
        self.sessions().get_mut(session)?.as_table_mut()
    }

    /// Make sure `[sessions.SESSION]` exists, with `socket` if it is new.
    /// Returns the socket the file names for it.
    pub(crate) fn ensure_session(&mut self, session: &str, socket: &Path) -> PathBuf {
        // Comments at the end of the file (all of them, in a new file made
        // by `host add`) belong above the new table, not below it.
        let is_new = self.session(session).is_none();
        let trailing = if is_new {
            let t = self.doc.trailing().as_str().unwrap_or("").to_string();
            self.doc.set_trailing("");
            t
        } else {
            String::new()
        };
        let table = self.sessions().entry(session).or_insert_with(|| {
            let mut t = Table::new();
            if !trailing.trim().is_empty() {
                let sep = if trailing.ends_with("\n\n") { "" } else { "\n" };
                t.decor_mut().set_prefix(format!("{trailing}{sep}"));
            }
            Item::Table(t)
        });
        if !table.is_table() {
            let inline = std::mem::take(table);
            *table = inline
                .into_table()
                .map(Item::Table)
                .unwrap_or_else(|_| Item::Table(Table::new()));
        }
        let table = table.as_table_mut().expect("made a table above");
        match table.get("socket").and_then(Item::as_str) {
            Some(existing) => PathBuf::from(existing),
            None => {
                table.insert(
                    "socket",
                    toml_edit::value(socket.to_string_lossy().as_ref()),
                );
                socket.to_path_buf()
            }
        }
    }

    /// Grant `guest` access in `mode`: add them to that list and take them
    /// off the other. `ends`: `None` keeps the guest's own end of access
    /// within this share as it is, `Some(None)` clears it, `Some(Some(t))`
    /// sets it.
    pub(crate) fn grant(
        &mut self,
        session: &str,
        guest: &str,
        mode: Mode,
        ends: Option<Option<Timestamp>>,
    ) -> Change {
        let table = self.session(session).expect("ensure_session first");
        let (add, drop) = match mode {
            Mode::ReadWrite => ("read_write", "read_only"),
            Mode::ReadOnly => ("read_only", "read_write"),
        };
        let moved = remove_from(table, drop, guest);
        let added = add_to(table, add, guest);
        let expiry_changed = ends.is_some_and(|ends| set_guest_expiry(table, guest, ends));
        if added && !moved {
            Change::Added
        } else if added || moved || expiry_changed {
            Change::Changed
        } else {
            Change::Unchanged
        }
    }

    /// Take `guest` off both lists of `session`. Returns whether they were on one.
    pub(crate) fn revoke(&mut self, session: &str, guest: &str) -> bool {
        let Some(table) = self.session(session) else {
            return false;
        };
        let a = remove_from(table, "read_write", guest);
        let b = remove_from(table, "read_only", guest);
        set_guest_expiry(table, guest, None);
        a || b
    }

    /// Set or clear the end of the whole share.
    pub(crate) fn set_share_expiry(&mut self, session: &str, ends: Option<Timestamp>) {
        let table = self.session(session).expect("ensure_session first");
        match ends {
            Some(t) => {
                table.insert("expires", toml_edit::value(datetime(t)));
            }
            None => {
                table.remove("expires");
            }
        }
    }

    /// `presence = "required"` for `session`, and what the guests get when
    /// the host leaves.
    pub(crate) fn set_presence(&mut self, session: &str, on_leave: super::OnHostLeave) {
        let table = self.session(session).expect("ensure_session first");
        table.insert("presence", toml_edit::value("required"));
        table.insert("on_host_leave", toml_edit::value(on_leave.as_str()));
    }

    /// Ask the host before each guest of `session` joins (`ask = true`).
    pub(crate) fn set_ask(&mut self, session: &str) {
        let table = self.session(session).expect("ensure_session first");
        table.insert("ask", toml_edit::value(true));
    }

    /// Remove `[sessions.SESSION]` entirely. Returns whether it was there.
    pub(crate) fn unshare(&mut self, session: &str) -> bool {
        self.sessions().remove(session).is_some()
    }

    /// Check the edited text against the schema and write it back in place.
    pub(crate) fn save(mut self) -> Result<HostFile, Error> {
        let text = self.doc.to_string();
        let parsed = parse_host(&self.path, &text)?;
        let write = |file: &mut File| -> std::io::Result<()> {
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.set_len(text.len() as u64)?;
            file.sync_data()
        };
        write(&mut self.file).map_err(|e| Error::io(&self.path, e))?;
        Ok(parsed)
    }
}

/// Rewrite a host's whole file with `after` (`pairshell edit`), under the
/// same lock as `share`, and only if it still holds `before`: a `share` or
/// `grant` made while the host's editor was open would otherwise be lost
/// unseen. The caller has checked `after`; the schema is checked again here.
pub(crate) fn replace_whole(
    path: &Path,
    owner: Uid,
    before: &str,
    after: &str,
) -> Result<HostFile, Error> {
    let parsed = parse_host(path, after)?;
    let mut file = trust::open_trusted_rw(path, Owner::UserOrRoot(owner))?;
    let _lock = trust::lock_briefly(&file, FlockArg::LockExclusiveNonblock, LOCK_WAIT_WRITE);
    let mut now = String::new();
    (&mut file)
        .take(MAX_HOST)
        .read_to_string(&mut now)
        .map_err(|e| Error::io(path, e))?;
    if now != before {
        return Err(Error::Invalid {
            path: path.to_path_buf(),
            message: "it was changed (by share, grant, revoke or unshare?) while you were \
                      editing it"
                .into(),
        });
    }
    let write = |file: &mut File| -> std::io::Result<()> {
        file.seek(SeekFrom::Start(0))?;
        file.write_all(after.as_bytes())?;
        file.set_len(after.len() as u64)?;
        file.sync_data()
    };
    write(&mut file).map_err(|e| Error::io(path, e))?;
    Ok(parsed)
}

fn datetime(t: Timestamp) -> toml_edit::Datetime {
    let t = t.round(jiff::Unit::Second).unwrap_or(t);
    t.to_string()
        .parse()
        .expect("a jiff timestamp is a TOML offset date-time")
}

fn list_mut<'t>(table: &'t mut Table, key: &str) -> &'t mut Array {
    let item = table
        .entry(key)
        .or_insert_with(|| toml_edit::value(Array::new()));
    if item.as_array().is_none() {
        *item = toml_edit::value(Array::new());
    }
    item.as_array_mut().expect("made an array above")
}

fn contains(array: &Array, guest: &str) -> bool {
    array.iter().any(|v| v.as_str() == Some(guest))
}

fn add_to(table: &mut Table, key: &str, guest: &str) -> bool {
    let list = list_mut(table, key);
    if contains(list, guest) {
        return false;
    }
    list.push(guest);
    true
}

fn remove_from(table: &mut Table, key: &str, guest: &str) -> bool {
    let Some(list) = table.get_mut(key).and_then(Item::as_array_mut) else {
        return false;
    };
    let before = list.len();
    list.retain(|v: &Value| v.as_str() != Some(guest));
    // `["alice", "carol"]` minus alice should read `["carol"]`, not `[ "carol"]`.
    if let Some(first) = list.get_mut(0) {
        let plain = first
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.trim().is_empty());
        if plain {
            first.decor_mut().set_prefix("");
        }
    }
    before != list.len()
}

fn set_guest_expiry(table: &mut Table, guest: &str, ends: Option<Timestamp>) -> bool {
    let current = table
        .get("guest_expires")
        .and_then(Item::as_inline_table)
        .and_then(|t| t.get(guest))
        .and_then(Value::as_datetime)
        .copied();
    match ends {
        Some(t) => {
            let want = datetime(t);
            let item = table
                .entry("guest_expires")
                .or_insert_with(|| toml_edit::value(toml_edit::InlineTable::new()));
            if item.as_inline_table().is_none() {
                *item = toml_edit::value(toml_edit::InlineTable::new());
            }
            let inline = item.as_inline_table_mut().expect("made above");
            let changed = current != Some(want);
            inline.insert(guest, Value::from(want));
            changed
        }
        None => {
            let Some(inline) = table
                .get_mut("guest_expires")
                .and_then(Item::as_inline_table_mut)
            else {
                return false;
            };
            let removed = inline.remove(guest).is_some();
            if inline.is_empty() {
                table.remove("guest_expires");
            }
            removed
        }
    }
}

/// The commented example `host add` puts in a new host file.
pub(crate) fn example(login: &str, sockets_dir: &Path) -> String {
    let socket = sockets_dir.join(login).join("api.sock");
    format!(
        "# pairshell: the tmux sessions {login} shares with guests.\n\
         # `pairshell share SESSION --rw GUEST --ro GUEST` edits this file for you\n\
         # (and keeps your comments); you may also edit it by hand.\n\
         #\n\
         # [sessions.api]                       # the tmux session \"api\"\n\
         # socket = \"{socket}\"\n\
         # read_write = [\"alice\"]               # may type: only people you would hand your keyboard\n\
         # read_only = [\"bob\"]                  # may watch\n\
         # expires = 2026-12-31T18:00:00Z       # optional: the share ends then\n\
         # guest_expires = {{ bob = 2026-12-01T18:00:00Z }}  # optional: one guest's access ends then\n\
         # allow_other_sessions = false         # serve guests even if the server holds other sessions\n\
         # ask = false                          # ask me before each guest joins (share --ask)\n\
         # presence = \"required\"                # guests only while I am attached (share --presence)\n\
         # on_host_leave = \"pause\"              # when I detach: \"pause\" the guests, or \"end\" their visit\n",
        socket = socket.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::scratch::Scratch;

    /// A scratch directory holding `maria.toml` with `text`, mode 0644.
    fn with(name: &str, text: &str) -> Scratch {
        let s = Scratch::new("host-file", name);
        s.write("maria.toml", text, 0o644);
        s
    }

    fn path(s: &Scratch) -> PathBuf {
        s.0.join("maria.toml")
    }

    fn read_back(s: &Scratch) -> String {
        std::fs::read_to_string(path(s)).unwrap()
    }

    fn me() -> Uid {
        nix::unistd::geteuid()
    }

    const SOCK: &str = "/run/pairshell/maria/api.sock";

    #[test]
    fn share_into_the_commented_example_keeps_every_comment() {
        let example = example("maria", Path::new("/run/pairshell"));
        let s = with("example", &example);
        let mut e = HostEdit::open(&path(&s), me()).unwrap();
        e.ensure_session("api", Path::new(SOCK));
        assert_eq!(
            e.grant("api", "alice", Mode::ReadWrite, None),
            Change::Added
        );
        let parsed = e.save().unwrap();
        assert_eq!(parsed.sessions["api"].read_write[0].as_str(), "alice");
        let text = read_back(&s);
        assert!(text.starts_with(&example), "{text}");
        assert!(text.contains("[sessions.api]\nsocket = "), "{text}");
    }

    #[test]
    fn regrant_moves_between_lists_and_keeps_comments_and_order() {
        let s = with(
            "move",
            &format!(
                "# top\n[sessions.web]\nsocket = \"/s/web.sock\"\n\n[sessions.api] # api!\nsocket = \"{SOCK}\"\nread_write = [\"alice\", \"carol\"] # writers\nread_only = [] # watchers\n# keep me\n"
            ),
        );
        let mut e = HostEdit::open(&path(&s), me()).unwrap();
        assert_eq!(
            e.ensure_session("api", Path::new("/other")),
            PathBuf::from(SOCK)
        );
        assert_eq!(
            e.grant("api", "alice", Mode::ReadOnly, None),
            Change::Changed
        );
        assert_eq!(
            e.grant("api", "carol", Mode::ReadWrite, None),
            Change::Unchanged
        );
        e.save().unwrap();
        let text = read_back(&s);
        for kept in ["# top", "# api!", "# writers", "# watchers", "# keep me"] {
            assert!(text.contains(kept), "lost {kept:?}:\n{text}");
        }
        assert!(
            text.find("[sessions.web]") < text.find("[sessions.api]"),
            "{text}"
        );
        assert!(text.contains("read_write = [\"carol\"]"), "{text}");
        assert!(text.contains("read_only = [\"alice\"]"), "{text}");
    }

    #[test]
    fn expiries_are_written_as_toml_datetimes_and_cleared() {
        let s = with("expiry", "");
        let mut e = HostEdit::open(&path(&s), me()).unwrap();
        e.ensure_session("api", Path::new(SOCK));
        let t: Timestamp = "2026-11-21T18:00:00.25Z".parse().unwrap();
        e.grant("api", "bob", Mode::ReadOnly, Some(Some(t)));
        e.set_share_expiry("api", Some(t));
        let parsed = e.save().unwrap();
        let want: Timestamp = "2026-11-21T18:00:00Z".parse().unwrap();
        assert_eq!(parsed.sessions["api"].expires, Some(want));
        assert_eq!(parsed.sessions["api"].guest_expires["bob"].0, want);
        let mut e = HostEdit::open(&path(&s), me()).unwrap();
        assert_eq!(
            e.grant("api", "bob", Mode::ReadOnly, None),
            Change::Unchanged
        );
        assert_eq!(
            e.grant("api", "bob", Mode::ReadOnly, Some(None)),
            Change::Changed
        );
        e.set_share_expiry("api", None);
        let parsed = e.save().unwrap();
        assert!(parsed.sessions["api"].guest_expires.is_empty());
        assert_eq!(parsed.sessions["api"].expires, None);
        assert!(
            !read_back(&s).contains("guest_expires"),
            "{}",
            read_back(&s)
        );
    }

    #[test]
    fn revoke_and_unshare() {
        let s = with(
            "revoke",
            &format!("[sessions.api]\nsocket = \"{SOCK}\"\nread_write = [\"alice\"]\nread_only = [\"bob\"]\n"),
        );
        let mut e = HostEdit::open(&path(&s), me()).unwrap();
        assert!(e.revoke("api", "bob"));
        assert!(!e.revoke("api", "bob"));
        assert!(!e.revoke("web", "alice"));
        let parsed = e.save().unwrap();
        assert!(parsed.sessions["api"].read_only.is_empty());
        let mut e = HostEdit::open(&path(&s), me()).unwrap();
        assert!(e.unshare("api"));
        assert!(!e.unshare("api"));
        assert!(e.save().unwrap().sessions.is_empty());
    }

    #[test]
    fn a_file_that_does_not_parse_is_never_rewritten() {
        let s = with("broken", "[sessions.api]\nsocket = \"x\"\n");
        let err = HostEdit::open(&path(&s), me()).err().unwrap();
        assert!(err.to_string().contains(":2:"), "{err}");
        assert_eq!(read_back(&s), "[sessions.api]\nsocket = \"x\"\n");
    }
}
