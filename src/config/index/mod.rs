//! The lookup index: the main config's guests, findable by key or principal
//! without reading the whole config (README's Architecture says why).
//! `<config>.index` holds the config's settings and each guest's own table as
//! TOML text, and a sorted table of SHA-256 digests, one per key (`TYPE
//! BASE64`, exactly as the config compares them) and per certificate
//! principal, each pointing at its guest's text ([`format`]). A lookup
//! binary-searches the table with `pread` and parses only the settings and
//! the matched guests' tables with the config's own deserializer, so every
//! rule in `policy` runs unchanged on the result. [`Index::open`] says when
//! an index is believed; [`build`] writes one.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::FlockArg;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml_edit::{DocumentMut, Item, Table};

#[cfg(test)]
use super::KeyText;
use super::{check_main, parse_main, Config, Guest, GuestName, MAX_MAIN};
use crate::core::error::Error;
use crate::sys::trust::{self, Owner};

mod build;
mod format;
pub(crate) mod hosts;
mod stale;

pub(crate) use build::build;
use build::*;
pub(crate) use format::Stamp;
use format::*;

/// The index file for the config at `config` (an absolute path).
pub(crate) fn path_for(config: &Path) -> PathBuf {
    let mut name = config.file_name().unwrap_or_default().to_os_string();
    name.push(".index");
    config.with_file_name(name)
}

/// Why an index was not used.
#[derive(Debug)]
pub(crate) enum Unused {
    /// There is none (`pairshell index` was never run): not a problem.
    Missing(PathBuf),
    /// There is one, but it is stale, untrusted or malformed.
    Unusable(String),
}

/// An open index that matched its config.
pub(crate) struct Index {
    file: File,
    path: PathBuf,
    content: [u8; 32],
    len: u64,
    entries_off: u64,
    entries: u64,
    settings: String,
}

impl Index {
    /// Open the index for the config whose checked metadata is `config`;
    /// `Err` says why it cannot be used (then read the whole config).
    ///
    /// **Freshness.** Guards against: a stale index granting what the config no
    /// longer grants (a removed guest, a removed key, a shortened expiry). The
    /// index records the config's identity (device, inode, size, modification
    /// and change times to the nanosecond); a lookup compares it with the
    /// config it has opened and checked, and any difference means the whole
    /// config is read instead. The change time (ctime) is the guard that cannot
    /// be forged: the kernel sets it on every write, rename, chmod or chown,
    /// and no user can set it (only the clock decides it). What remains:
    /// - a write in the same clock tick as the one the index saw would keep the
    ///   ctime. [`build`] waits until the ctime is more than a second old before
    ///   it reads (git's "racily clean" problem), and checks the stamp again by
    ///   name just before it renames the index into place, so any later write
    ///   gets a later ctime;
    /// - a clock set back could repeat a ctime. The index records when it was
    ///   built and is not used while the clock reads earlier than that; but an
    ///   in-place edit made while the clock was behind, landing on the very
    ///   tick the index recorded, with the same size and mtime, would match
    ///   again once the clock has caught up. So the index also records a
    ///   SHA-256 of the config's text, which `pairshell check` compares with
    ///   the file (a login cannot afford to read it all), and a clock set back
    ///   calls for `pairshell index` (documented in pairshell.toml(5)). File
    ///   systems whose ctime is not the kernel's (NFS, FUSE) are out of scope,
    ///   as for the config's other checks.
    ///
    /// **Trust.** Guards against: a forged index naming an attacker's key as a
    /// guest's. The index is believed only under the same rules as the config:
    /// a regular file (not a symlink) owned by root, not writable by group or
    /// other, beside the root-owned config. Anything else means the whole config
    /// is read, and so does damage a lookup can see (regions out of bounds, a
    /// guest's text that does not parse, a guest returned that does not hold
    /// the key asked for). An entry damaged into another valid-looking digest
    /// would find nobody: a refusal, never a grant.
    pub(crate) fn open(config_abs: &Path, config: &Metadata) -> Result<Index, Unused> {
        let path = path_for(config_abs);
        let (file, len, header) = open_root_index::<{ HEADER_LEN as usize }>(&path)?;
        let stale = |why: &str| unusable(&path, why);
        let h = Header::decode(&header).ok_or_else(|| stale("not an index of this version"))?;
        if h.built_by != built_by() {
            return Err(stale("from another version of pairshell"));
        }
        if h.stamp != Stamp::of(config) {
            return Err(stale("not for the config as it is now"));
        }
        if built_in_the_future(h.built_at) {
            return Err(stale("from the future (was the clock set back?)"));
        }
        if !h.fits(len) {
            return Err(stale("malformed"));
        }
        let mut settings = vec![0u8; h.settings_len as usize];
        file.read_exact_at(&mut settings, h.strings_off)
            .map_err(|_| stale("unreadable"))?;
        let settings = String::from_utf8(settings).map_err(|_| stale("malformed"))?;
        Ok(Index {
            file,
            path,
            content: h.content,
            len: h.len,
            entries_off: h.entries_off,
            entries: h.entries,
            settings,
        })
    }

    /// Whether the index was built from exactly this config text (for
    /// `check`, which reads the config anyway; see "Freshness" at [`Index::open`]).
    pub(crate) fn built_from(&self, text: &str) -> bool {
        self.content == content_digest(text)
    }

    /// The config's settings, as TOML text without `[guests]`.
    pub(crate) fn settings(&self) -> &str {
        &self.settings
    }

    /// The guests holding any of these keys (`(type, base64)`) or
    /// principals, parsed from their own tables.
    pub(crate) fn guests_for(
        &self,
        keys: &[(&str, &str)],
        principals: &[&str],
    ) -> Result<BTreeMap<GuestName, Guest>, String> {
        let digests = keys
            .iter()
            .map(|(t, b)| key_digest(t, b))
            .chain(principals.iter().map(|p| principal_digest(p)));
        let mut texts: Vec<(u64, u32)> = Vec::new();
        for digest in digests {
            self.find(&digest, &mut texts)?;
        }
        texts.sort_unstable();
        texts.dedup();
        let mut guests = BTreeMap::new();
        for (off, len) in texts {
            let mut buf = vec![0u8; len as usize];
            self.file
                .read_exact_at(&mut buf, off)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            let text = String::from_utf8(buf).map_err(|_| self.malformed())?;
            let parsed = parse_guests(&self.path, &text).map_err(|e| e.to_string())?;
            // An entry pointing at the wrong table is damage, not an answer.
            let holds = |g: &Guest| {
                g.all_keys()
                    .any(|k| keys.contains(&(k.key_type.as_str(), k.base64.as_str())))
                    || g.principals
                        .iter()
                        .any(|p| principals.contains(&p.as_str()))
            };
            if parsed.len() != 1 || !parsed.values().all(holds) {
                return Err(self.malformed());
            }
            guests.extend(parsed);
        }
        Ok(guests)
    }

    fn malformed(&self) -> String {
        format!(
            "{} is malformed; run `pairshell index`",
            self.path.display()
        )
    }

    /// Add every entry filed under `digest` to `out`.
    fn find(&self, digest: &[u8; 32], out: &mut Vec<(u64, u32)>) -> Result<(), String> {
        // The first entry not less than `digest`.
        let (mut lo, mut hi) = (0u64, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (d, _, _) = self.entry(mid)?;
            if d < *digest {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut i = lo;
        while i < self.entries {
            let (d, off, len) = self.entry(i)?;
            if d != *digest {
                break;
            }
            if u64::from(len) > MAX_MAIN
                || off
                    .checked_add(u64::from(len))
                    .is_none_or(|end| end > self.len)
            {
                return Err(self.malformed());
            }
            out.push((off, len));
            i += 1;
        }
        Ok(())
    }

    fn entry(&self, i: u64) -> Result<([u8; 32], u64, u32), String> {
        let mut buf = [0u8; ENTRY_LEN as usize];
        self.file
            .read_exact_at(&mut buf, self.entries_off + i * ENTRY_LEN)
            .map_err(|_| self.malformed())?;
        let digest: [u8; 32] = buf[..32].try_into().unwrap();
        let off = u64::from_le_bytes(buf[32..40].try_into().unwrap());
        let len = u32::from_le_bytes(buf[40..44].try_into().unwrap());
        Ok((digest, off, len))
    }
}

/// Open the index at `path` under the trust rules both indexes share (see
/// [`Index::open`]: a regular file owned by root that nobody else can
/// write) and read its `N`-byte header. Returns the file, its length and
/// the header.
fn open_root_index<const N: usize>(path: &Path) -> Result<(File, u64, [u8; N]), Unused> {
    let (file, meta) = match trust::open_trusted(path, Owner::Root) {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => return Err(Unused::Missing(path.to_path_buf())),
        Err(e) => return Err(Unused::Unusable(format!("{e}; not using it"))),
    };
    let mut header = [0u8; N];
    file.read_exact_at(&mut header, 0)
        .map_err(|_| unusable(path, "too short"))?;
    Ok((file, meta.len(), header))
}

/// The index at `path` cannot be used, for `why`.
fn unusable(path: &Path, why: &str) -> Unused {
    Unused::Unusable(format!(
        "{} is {why}; not using it (run `pairshell index`)",
        path.display()
    ))
}

/// Whether an index built at `built_at` (seconds since the epoch) was built
/// later than the clock now says: the clock was set back, and a change time
/// could repeat (see [`Index::open`]).
fn built_in_the_future(built_at: i64) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    now < built_at
}

/// An ed25519 key line unlike any other: `i` and then `fill` bytes.
#[cfg(test)]
fn numbered_key(i: u32, fill: u8) -> String {
    let mut blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x20".to_vec();
    let mut raw = [fill; 32];
    raw[..4].copy_from_slice(&i.to_le_bytes());
    blob.extend_from_slice(&raw);
    ssh_key::PublicKey::from_bytes(&blob)
        .unwrap()
        .to_openssh()
        .unwrap()
}

/// The main config as a command needs it: from the index when one matches
/// the config, restricted to the guests asked for; or read whole.
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) config: Config,
    index: Option<Index>,
    /// Why an index that exists was not used, for the admin (sshd's log).
    pub(crate) index_note: Option<String>,
    /// The config file as opened and checked, read only if the index fails.
    file: File,
    /// That file's version, for [`Loaded::index_note_once`].
    stamp: Stamp,
    /// Without an index: the config's text, checked whole and cut into
    /// settings and guests, from which [`Loaded::add_guests_for`] builds
    /// the guests asked for ([`stale`]).
    pending: Option<(String, stale::Layout)>,
}

impl Loaded {
    /// Open and check the main config (root-owned, in root's directories)
    /// and its index; read the whole config only when the index cannot be
    /// used. Until [`Loaded::add_guests_for`] is called, an indexed config
    /// has no guests.
    pub(crate) fn load(path: &Path) -> Result<Loaded, Error> {
        let (abs, mut file, meta) = trust::open_root_file(path)?;
        if meta.len() > MAX_MAIN {
            return Err(Error::untrusted(
                &abs,
                format!("is larger than {MAX_MAIN} bytes"),
            ));
        }
        let note = match Index::open(&abs, &meta) {
            Ok(index) => match parse_main(&abs, index.settings()) {
                Ok(config) => {
                    return Ok(Loaded {
                        path: abs,
                        config,
                        index: Some(index),
                        index_note: None,
                        file,
                        stamp: Stamp::of(&meta),
                        pending: None,
                    })
                }
                Err(e) => Some(format!("{}: {e}; not using it", index.path.display())),
            },
            Err(Unused::Missing(_)) => None,
            Err(Unused::Unusable(note)) => Some(note),
        };
        // No index to use: check the whole file's syntax but build only its
        // settings now, and later only the guests asked for; a file this
        // path does not take (see `stale`) is parsed whole, as before.
        let text = read_text(&abs, &mut file, meta.len())?;
        let (config, pending) = match stale::scan(&text) {
            Some(layout) => {
                let config = layout.parse(&abs, &text, &layout.no_guests())?;
                (config, Some((text, layout)))
            }
            None => (parse_main(&abs, &text)?, None),
        };
        Ok(Loaded {
            path: abs,
            config,
            index: None,
            index_note: note,
            file,
            stamp: Stamp::of(&meta),
            pending,
        })
    }

    /// The note about an unused index, for the trail, at most once per
    /// version of the config (and reason): `None` when this login need not
    /// write it. Every login after a hand edit finds the same stale index,
    /// and one line says all there is to say; `pairshell check` reports it
    /// for as long as it lasts.
    ///
    /// What was last written is remembered in `dir/.index-unused` (`dir` is
    /// the pair account's roster directory, which hosts can read but not
    /// write), in a file believed only when it is a regular file of this
    /// process's user. Guards against: a host, or anyone, silencing the
    /// note; a file that cannot be trusted or written means the note is
    /// written, as before.
    pub(crate) fn index_note_once(&self, dir: &Path) -> Option<String> {
        let note = self.index_note.as_ref()?;
        let line = version_line(&self.stamp, note);
        if remember_once(&dir.join(".index-unused"), &line) {
            Some(note.clone())
        } else {
            None
        }
    }

    /// The config, closing the files behind it (a login keeps its config
    /// for the whole session; the index and config files need not stay open).
    pub(crate) fn into_config(self) -> Config {
        self.config
    }

    /// Bring in the guests that hold any of these keys or principals: after
    /// this, the config answers every question about them exactly as the
    /// whole config would. A config read whole already has every guest.
    /// Keys are `(type, base64)`, compared as text like the config does.
    ///
    /// Without an index, the guests whose tables may hold them are parsed
    /// from the config's text (a superset: see `stale` for what guards
    /// what); an error in one of them, or in the settings, refuses.
    pub(crate) fn add_guests_for(
        &mut self,
        keys: &[(&str, &str)],
        principals: &[&str],
    ) -> Result<(), Error> {
        if let Some((text, layout)) = &self.pending {
            let keep = layout.keeps(text, keys, principals);
            let found = layout.parse(&self.path, text, &keep)?;
            self.config.guests.extend(found.guests);
            return Ok(());
        }
        let Some(index) = &self.index else {
            return Ok(());
        };
        match index.guests_for(keys, principals) {
            Ok(guests) => {
                self.config.guests.extend(guests);
                Ok(())
            }
            // A damaged index never refuses what the config allows: read
            // the config itself, the very file the index was checked against.
            Err(why) => {
                let len = self
                    .file
                    .metadata()
                    .map_err(|e| Error::io(&self.path, e))?
                    .len();
                self.config = read_whole(&self.path, &mut self.file, len)?;
                self.index = None;
                self.index_note = Some(why);
                Ok(())
            }
        }
    }
}

/// What a login without a usable index makes of `text` for these keys and
/// principals ([`stale`]): `None` when it parses the file whole. For the
/// fuzz target that compares it with the whole parse.
pub(crate) fn stale_load(
    file: &Path,
    text: &str,
    keys: &[(&str, &str)],
    principals: &[&str],
) -> Option<Result<Config, Error>> {
    let layout = stale::scan(text)?;
    Some(
        layout
            .parse(file, text, &layout.no_guests())
            .and_then(|mut config| {
                let found = layout.parse(file, text, &layout.keeps(text, keys, principals))?;
                config.guests = found.guests;
                Ok(config)
            }),
    )
}

/// One line naming a config version and a reason: the stamp and a digest of
/// the note, in hex.
fn version_line(stamp: &Stamp, note: &str) -> String {
    let mut bytes = Vec::with_capacity(56);
    stamp.encode(&mut bytes);
    let digest = Sha256::digest(note.as_bytes());
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!("{} {}\n", hex(&bytes), hex(&digest[..16]))
}

/// Whether `line` is news: it is not what `path` holds (then it is written
/// there). Any doubt about the file (missing directory, not a regular file
/// of ours, too large, unwritable) answers `true`.
fn remember_once(path: &Path, line: &str) -> bool {
    use std::io::{Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let file = crate::sys::fs::no_follow()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .ok()
        .filter(|f| {
            f.metadata()
                .is_ok_and(|m| trust::is_own_file(&m) && m.len() < 4096)
        });
    let Some(mut file) = file else {
        return true;
    };
    let _lock = trust::lock_briefly(
        &file,
        FlockArg::LockExclusiveNonblock,
        Duration::from_millis(100),
    );
    let mut old = String::new();
    let _ = (&file).take(4096).read_to_string(&mut old);
    if old == line {
        return false;
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(line.as_bytes());
    true
}

/// The whole config, from its opened and checked file.
fn read_whole(path: &Path, file: &mut File, len: u64) -> Result<Config, Error> {
    parse_main(path, &read_text(path, file, len)?)
}

/// The config's text, from its opened and checked file.
fn read_text(path: &Path, file: &mut File, len: u64) -> Result<String, Error> {
    use std::io::{Seek, SeekFrom};
    let mut text = String::with_capacity(len.min(MAX_MAIN) as usize);
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    file.take(MAX_MAIN)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY";
    const BOB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBz4V3l5q1BUz1nO0b9H4WZkWn7oYqg0lq6pQX3kzKvB";
    const CAROL: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKq2bbI0DSvzVmnDRu3v1Vw2OKVh2gV0JaqjRJ3iGBr1";

    fn stamp() -> Stamp {
        Stamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        }
    }

    fn config_text() -> String {
        format!(
            r#"# the admin's comment
pair_user = "pair"
hosts_dir = "/etc/pairshell/hosts.d"

[audit]
required = false

[guests.alice]
keys = ["ssh-ed25519 {ALICE} alice@laptop"]
expires = 2030-01-01T00:00:00Z

[guests.bob]
keys = ["ssh-ed25519 {BOB}"]
github = "bob-gh"
github_keys = ["ssh-ed25519 {CAROL}"]
principals = ["bob@example"]

[guests]
dora = {{ keys = ["ssh-ed25519 {ALICE}"] }}
"#
        )
    }

    /// An index written to a scratch file, and opened as a lookup would.
    fn scratch(text: &str) -> (Index, Built, PathBuf) {
        let (bytes, built) = encode(Path::new("/c.toml"), text, stamp(), UNIX_EPOCH).unwrap();
        let (index, dir) = scratch_bytes(&bytes);
        (index, built, dir)
    }

    /// An index of these bytes, opened past the file checks.
    fn scratch_bytes(bytes: &[u8]) -> (Index, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "pairshell-index-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pairshell.toml.index");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0).unwrap();
        let h = Header::decode(&header).unwrap();
        assert_eq!(h.stamp, stamp());
        let mut settings = vec![0u8; h.settings_len as usize];
        file.read_exact_at(&mut settings, h.strings_off).unwrap();
        let index = Index {
            file,
            path: path.clone(),
            content: h.content,
            len: h.len,
            entries_off: h.entries_off,
            entries: h.entries,
            settings: String::from_utf8(settings).unwrap(),
        };
        (index, dir)
    }

    #[test]
    fn lookups_give_exactly_what_the_whole_config_says() {
        let text = config_text();
        let whole = parse_main(Path::new("/c.toml"), &text).unwrap();
        let (index, built, dir) = scratch(&text);
        assert_eq!((built.guests, built.keys, built.principals), (3, 4, 1));

        let settings = parse_main(Path::new("/c.toml"), index.settings()).unwrap();
        assert!(settings.guests.is_empty());
        let mut bare = whole.clone();
        bare.guests.clear();
        assert_eq!(settings, bare);

        let bob = index.guests_for(&[("ssh-ed25519", BOB)], &[]).unwrap();
        assert_eq!(bob.keys().map(|g| g.as_str()).collect::<Vec<_>>(), ["bob"]);
        assert_eq!(bob["bob"], whole.guests["bob"]);
        // GitHub's keys and principals find their guest too.
        let by_github = index.guests_for(&[("ssh-ed25519", CAROL)], &[]).unwrap();
        assert_eq!(by_github["bob"], whole.guests["bob"]);
        let by_principal = index.guests_for(&[], &["bob@example"]).unwrap();
        assert_eq!(by_principal["bob"], whole.guests["bob"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_key_listed_under_two_guests_brings_both_so_it_identifies_neither() {
        let text = config_text();
        let (index, _, dir) = scratch(&text);
        let both = index.guests_for(&[("ssh-ed25519", ALICE)], &[]).unwrap();
        assert_eq!(
            both.keys().map(|g| g.as_str()).collect::<Vec<_>>(),
            ["alice", "dora"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_key_or_same_base64_under_another_type_finds_nobody() {
        let (index, _, dir) = scratch(&config_text());
        assert!(index
            .guests_for(
                &[("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIAAAA")],
                &["nobody@x"]
            )
            .unwrap()
            .is_empty());
        assert!(index
            .guests_for(&[("ssh-rsa", BOB)], &["bob"])
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn many_guests_are_all_found() {
        let mut text = String::from("pair_user = \"pair\"\n");
        let key = |i: u32| numbered_key(i, 0);
        for i in 0..500 {
            text.push_str(&format!("[guests.g{i}]\nkeys = [\"{}\"]\n", key(i)));
        }
        let (index, built, dir) = scratch(&text);
        assert_eq!(built.keys, 500);
        for i in 0..500 {
            let k = KeyText::parse(&key(i)).unwrap();
            let found = index.guests_for(&[(&k.key_type, &k.base64)], &[]).unwrap();
            assert_eq!(
                found.keys().map(|g| g.as_str()).collect::<Vec<_>>(),
                [format!("g{i}")]
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dotted_guest_tables_are_indexed_as_written() {
        let text = format!(
            "pair_user = \"pair\"\nguests.erin.keys = [\"ssh-ed25519 {BOB}\"]\nguests.erin.expires = 2030-01-01T00:00:00Z\n"
        );
        let whole = parse_main(Path::new("/c.toml"), &text).unwrap();
        let (index, _, dir) = scratch(&text);
        let found = index.guests_for(&[("ssh-ed25519", BOB)], &[]).unwrap();
        assert_eq!(found["erin"], whole.guests["erin"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stamp_round_trips_and_every_field_counts() {
        // Every field of the stamp counts: a rewrite in place changes size,
        // mtime or ctime; a replacement changes the inode.
        let base = stamp();
        for changed in [
            Stamp { dev: 9, ..base },
            Stamp { ino: 9, ..base },
            Stamp { size: 9, ..base },
            Stamp {
                mtime: (4, 6),
                ..base
            },
            Stamp {
                ctime: (6, 8),
                ..base
            },
        ] {
            let mut bytes = Vec::new();
            changed.encode(&mut bytes);
            assert_ne!(Stamp::decode(&bytes), base);
        }
        let mut bytes = Vec::new();
        base.encode(&mut bytes);
        assert_eq!(Stamp::decode(&bytes), base);
    }

    /// Pins row 16: `Header::fits` itself, field by field. That `Index::open`
    /// asks it is `forged_index_header_whose_regions_lie_is_never_believed`.
    #[test]
    fn forged_header_with_entries_past_the_end_is_malformed_not_a_panic() {
        let (bytes, _) = encode(Path::new("/c.toml"), &config_text(), stamp(), UNIX_EPOCH).unwrap();
        let header = |b: &[u8]| Header::decode(b[..HEADER_LEN as usize].try_into().unwrap());
        let len = bytes.len() as u64;
        assert!(header(&bytes).unwrap().fits(len));
        // Truncated, or grown: the recorded length no longer matches.
        assert!(!header(&bytes).unwrap().fits(len - 1));
        for (at, value) in [
            (152, u64::MAX), // an entry count that wraps around
            (152, 1 << 40),  // entries past the end
            (168, len),      // settings past the end
            (144, 0),        // entries overlapping the header
        ] {
            let mut forged = bytes.clone();
            forged[at..at + 8].copy_from_slice(&value.to_le_bytes());
            assert!(!header(&forged).unwrap().fits(len), "{at}");
        }
        let mut forged = bytes.clone();
        forged[..16].copy_from_slice(b"not-an-index!!!\n");
        assert!(Header::decode(forged[..HEADER_LEN as usize].try_into().unwrap()).is_none());
    }

    /// A root-owned scratch directory under /tmp (root's sticky directory,
    /// which the trust checks accept), or `None` when not root: the
    /// ownership checks cannot be exercised without it. Under CI, not
    /// being root is a failure, not a skip.
    fn root_dir(name: &str) -> Option<PathBuf> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{name} needs root under CI"
            );
            eprintln!("SKIPPED: {name} needs root");
            return None;
        }
        let dir = Path::new("/tmp").join(format!("pairshell-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        Some(dir)
    }

    const MALLORY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIM4110rYmaL1c10usK3yKeyOfMa11oryXXXXXXXXXXXX";

    fn with_mallory() -> String {
        format!(
            "{}\n[guests.mallory]\nkeys = [\"ssh-ed25519 {MALLORY}\"]\n",
            config_text()
        )
    }

    fn guests_for_mallory(config: &Path) -> (Loaded, bool) {
        let mut loaded = Loaded::load(config).unwrap();
        loaded
            .add_guests_for(&[("ssh-ed25519", MALLORY)], &[])
            .unwrap();
        let found = loaded.config.guests.contains_key("mallory");
        (loaded, found)
    }

    /// Pins row 16: the index's own trust check (`open_trusted(.., Owner::Root)`
    /// in `Index::open`): an index not root's, writable by others, or reached
    /// through a symlink is not believed, though its bytes would be.
    #[test]
    fn forged_index_not_owned_by_root_is_not_believed() {
        let Some(dir) = root_dir("forged") else {
            return;
        };
        let config = dir.join("pairshell.toml");
        std::fs::write(&config, config_text()).unwrap();
        // An index that matches the config's identity but lists an
        // attacker's key as a guest's, as whoever could write it would.
        let meta = std::fs::metadata(&config).unwrap();
        let (forged, _) = encode(
            &config,
            &with_mallory(),
            Stamp::of(&meta),
            SystemTime::now(),
        )
        .unwrap();
        let index = path_for(&config);
        std::fs::write(&index, &forged).unwrap();
        std::fs::set_permissions(&index, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();

        // Root's own, the same bytes are believed: the checks below are
        // what stop the forgery, not something else in the setup.
        let (loaded, found) = guests_for_mallory(&config);
        assert!(found && loaded.index.is_some());

        std::os::unix::fs::chown(&index, Some(65534), None).unwrap();
        let (loaded, found) = guests_for_mallory(&config);
        assert!(!found, "an index owned by another user granted a key");
        assert!(loaded.index.is_none());
        assert!(loaded.index_note.as_deref().unwrap().contains("owned by"));

        std::os::unix::fs::chown(&index, Some(0), None).unwrap();
        std::fs::set_permissions(&index, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        let (_, found) = guests_for_mallory(&config);
        assert!(!found, "an index others can write granted a key");

        std::fs::remove_file(&index).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), &index).unwrap();
        std::fs::write(dir.join("elsewhere"), &forged).unwrap();
        let (_, found) = guests_for_mallory(&config);
        assert!(!found, "an index reached through a symlink granted a key");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Pins row 16's header check (`Header::fits` inside `Index::open`):
    /// an index that is root's and matches the config's stamp, but whose
    /// header says its regions lie elsewhere (past the end of the file,
    /// overlapping the header or each other, wrapping around), is not
    /// believed. `Loaded::load` reads the whole config instead: no panic
    /// (a settings length of `u64::MAX` would be an allocation of that
    /// size), and no grant the config does not make.
    ///
    /// Positive control: the same index with its header untouched is
    /// believed, and grants mallory, whom the config does not list, so a
    /// forged header that got past the check would show as a wrong grant.
    #[test]
    fn forged_index_header_whose_regions_lie_is_never_believed() {
        let Some(dir) = root_dir("header") else {
            return;
        };
        let config = dir.join("pairshell.toml");
        std::fs::write(&config, config_text()).unwrap();
        let meta = std::fs::metadata(&config).unwrap();
        let (bytes, _) = encode(
            &config,
            &with_mallory(),
            Stamp::of(&meta),
            SystemTime::now(),
        )
        .unwrap();
        let index = path_for(&config);
        let len = bytes.len() as u64;
        let field = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let (entries_off, entries, strings_off) = (field(144), field(152), field(160));
        assert_eq!(entries_off, HEADER_LEN);

        // Control: untouched, the index is believed, and would grant mallory.
        std::fs::write(&index, &bytes).unwrap();
        let (loaded, found) = guests_for_mallory(&config);
        assert!(
            found && loaded.index.is_some(),
            "control: {:?}",
            loaded.index_note
        );

        // (offset in the header, value): len 136, entries_off 144,
        // entries 152, strings_off 160, settings_len 168.
        let forgeries: &[(&str, &[(usize, u64)])] = &[
            ("a length past the end of the file", &[(136, len + 4096)]),
            ("a length short of the file", &[(136, len - 1)]),
            ("entries overlapping the header", &[(144, 0)]),
            (
                "entries overlapping the header, the rest consistent",
                &[(144, 0), (160, entries * ENTRY_LEN)],
            ),
            ("an entry count past the end", &[(152, entries + (1 << 40))]),
            ("an entry count that wraps around", &[(152, u64::MAX)]),
            (
                "settings overlapping the entries",
                &[(160, strings_off - ENTRY_LEN)],
            ),
            ("settings past the end", &[(168, len)]),
            ("a settings length that wraps around", &[(168, u64::MAX)]),
            (
                "settings starting where they wrap around",
                &[(160, u64::MAX - 7), (168, 16)],
            ),
        ];
        for (what, fields) in forgeries {
            let mut forged = bytes.clone();
            for &(at, value) in fields.iter() {
                forged[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
            std::fs::write(&index, &forged).unwrap();
            let mut loaded = Loaded::load(&config).unwrap();
            assert!(
                loaded.index.is_none(),
                "{what}: the index was believed ({:?})",
                loaded.index_note
            );
            // Read whole: every guest of the config is there before any
            // lookup, and the trail's note says the index was not used.
            assert!(loaded.config.guests.contains_key("alice"), "{what}");
            assert!(
                loaded
                    .index_note
                    .as_deref()
                    .is_some_and(|n| n.contains("not using it")),
                "{what}: {:?}",
                loaded.index_note
            );
            loaded
                .add_guests_for(&[("ssh-ed25519", MALLORY)], &[])
                .unwrap();
            assert!(
                !loaded.config.guests.contains_key("mallory"),
                "{what}: a forged header granted a key the config does not list"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Pins row 16: the stamp check in `Index::open` (device, inode, size,
    /// mtime, ctime): a config rewritten in place after the index was built
    /// makes the index unused, and the whole config answers.
    #[test]
    fn stale_index_never_grants_a_key_the_config_no_longer_lists() {
        let Some(dir) = root_dir("stale") else { return };
        let config = dir.join("pairshell.toml");
        std::fs::write(&config, with_mallory()).unwrap();
        let built = build(&config).unwrap();
        assert_eq!(built.path, path_for(&config));
        let (loaded, found) = guests_for_mallory(&config);
        assert!(found && loaded.index.is_some(), "{:?}", loaded.index_note);

        // Rewritten in place, the same size, right after the index was
        // built: only the key's owner changes, to a guest nobody has.
        let text = with_mallory().replace("[guests.mallory]", "[guests.mallorz]");
        std::fs::write(&config, text).unwrap();
        let (loaded, found) = guests_for_mallory(&config);
        assert!(!found, "a stale index granted a removed guest's key");
        assert!(loaded.config.guests.contains_key("mallorz"));
        assert!(loaded
            .index_note
            .unwrap()
            .contains("not for the config as it is now"));

        // Rebuilt, it is used again, and says what the config says now.
        build(&config).unwrap();
        let mut loaded = Loaded::load(&config).unwrap();
        assert!(loaded.index.is_some());
        assert!(loaded.config.guests.is_empty());
        loaded
            .add_guests_for(&[("ssh-ed25519", MALLORY)], &[])
            .unwrap();
        assert_eq!(
            loaded
                .config
                .guests
                .keys()
                .map(|g| g.as_str())
                .collect::<Vec<_>>(),
            ["mallorz"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Pins row 16's fallback: a damaged index makes `add_guests_for` read the
    /// whole config, so it never refuses a guest the config lists.
    #[test]
    fn damaged_index_never_refuses_a_guest_the_config_lists() {
        let Some(dir) = root_dir("damaged") else {
            return;
        };
        let config = dir.join("pairshell.toml");
        std::fs::write(&config, with_mallory()).unwrap();
        build(&config).unwrap();
        // Root's own index, matching the config, but a guest's text broken.
        let index = path_for(&config);
        let mut bytes = std::fs::read(&index).unwrap();
        let at = memchr::memmem::find(&bytes, b"[guests.mallory]").unwrap();
        bytes[at + 15] = b'!';
        std::fs::write(&index, &bytes).unwrap();
        let (loaded, found) = guests_for_mallory(&config);
        assert!(found, "a damaged index refused a guest the config lists");
        assert!(loaded.index.is_none());
        assert!(loaded.config.guests.contains_key("alice"));
        assert!(loaded.index_note.is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Pins row 16: an entry pointing past the end of the file, or at another
    /// guest's table, is an error (`find`'s bounds, `guests_for`'s check that the
    /// table holds the key asked for), never an answer.
    #[test]
    fn damaged_entries_are_errors_never_another_guests_table() {
        let text = config_text();
        let (bytes, _) = encode(Path::new("/c.toml"), &text, stamp(), UNIX_EPOCH).unwrap();
        let entries = u64::from_le_bytes(bytes[152..160].try_into().unwrap()) as usize;
        let entry = |i: usize| HEADER_LEN as usize + i * ENTRY_LEN as usize;
        let bob = key_digest("ssh-ed25519", BOB);
        let i = (0..entries)
            .find(|&i| bytes[entry(i)..entry(i) + 32] == bob)
            .unwrap();
        // An entry for some other guest's table (bob has three entries).
        let off = |i: usize| &bytes[entry(i) + 32..entry(i) + 40];
        let other = (0..entries).find(|&j| off(j) != off(i)).unwrap();

        // Bob's entry pointing past the end of the file.
        let mut past = bytes.clone();
        past[entry(i) + 32..entry(i) + 40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        let (index, dir) = scratch_bytes(&past);
        assert!(index.guests_for(&[("ssh-ed25519", BOB)], &[]).is_err());
        std::fs::remove_dir_all(dir).unwrap();

        // Bob's entry pointing at another guest's table.
        let mut swapped = bytes.clone();
        let (a, b) = (entry(i) + 32, entry(other) + 32);
        let theirs = bytes[b..b + 12].to_vec();
        swapped[a..a + 12].copy_from_slice(&theirs);
        let (index, dir) = scratch_bytes(&swapped);
        assert!(index.guests_for(&[("ssh-ed25519", BOB)], &[]).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unused_index_is_noted_once_per_config_version_and_reason() {
        let dir = std::env::temp_dir().join(format!("pairshell-once-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".index-unused");
        let v1 = version_line(&stamp(), "stale");
        assert!(remember_once(&file, &v1), "first login after the edit");
        assert!(!remember_once(&file, &v1), "second login, same version");
        let mut other = stamp();
        other.ctime.1 += 1;
        let v2 = version_line(&other, "stale");
        assert!(remember_once(&file, &v2), "the config changed again");
        assert!(!remember_once(&file, &v2));
        assert!(remember_once(&file, &version_line(&other, "not root's")));
        // A file that is not ours, or not a file, is no memory: noisy.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/dev/null", &file).unwrap();
        assert!(remember_once(&file, &v1));
        assert!(remember_once(&file, &v1));
        std::fs::remove_file(&file).unwrap();
        assert!(remember_once(&dir.join("missing/.index-unused"), &v1));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
