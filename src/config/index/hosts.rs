//! The hosts index: for each host file in `hosts_dir`, its stamp and, for
//! each guest it names, the TOML text of only the sessions that name that
//! guest (README's Architecture says why). `<config>.hosts-index`, beside
//! the main config's index, is written by `pairshell index` as root.
//!
//! A login lists `hosts_dir` as before and looks at each host file with one
//! `lstat`: when the file's stamp is the one the index recorded, the guest's
//! part is taken from the index (or the file is skipped when the index says
//! it names the guest nowhere); otherwise the file itself is read, exactly
//! as without an index. The guest's part is parsed with the host file's own
//! deserializer ([`parse_host`]), so every rule in `policy` runs unchanged
//! on a file that holds only the sessions that name the guest, and those
//! are the only sessions `policy::grants` and the join look at.
//!
//! Layout: a header; the hosts' records (login, stamp, owner, mode), in
//! login order; entries (a digest of the guest's name, the host's record
//! number, the text's offset and length) sorted by digest then host, so one
//! guest's entries are one run found by a binary search; then the texts.

use nix::unistd::User;
use toml_edit::Item;

use super::*;
use crate::config::{host_logins, host_path, parse_host, Host, HostFile, MAX_HOST};

/// The hosts index for the config at `config` (an absolute path).
pub(crate) fn hosts_path_for(config: &Path) -> PathBuf {
    let mut name = config.file_name().unwrap_or_default().to_os_string();
    name.push(".hosts-index");
    config.with_file_name(name)
}

const MAGIC: &[u8; 16] = b"pairshell-hosts\n";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 136;
/// An entry: guest digest, host record number, text offset and length.
const ENTRY_LEN: u64 = 32 + 4 + 8 + 4;
/// The most host records an index may hold (a bound for a forged header).
const MAX_HOSTS: u64 = 1 << 20;

/// The digest a guest's entries are filed under.
fn guest_digest(guest: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"guest\0");
    h.update(guest.as_bytes());
    h.finalize().into()
}

/// The digest of the `hosts_dir` an index was built for.
fn dir_digest(hosts_dir: &Path) -> [u8; 32] {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Sha256::new();
    h.update(b"hosts_dir\0");
    h.update(hosts_dir.as_os_str().as_bytes());
    h.finalize().into()
}

/// The first [`HEADER_LEN`] bytes of a hosts index.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    built_at: i64,
    built_by: [u8; 16],
    /// Which `hosts_dir` the records are of.
    dir: [u8; 32],
    len: u64,
    hosts: u64,
    hosts_len: u64,
    entries_off: u64,
    entries: u64,
    strings_off: u64,
}

impl Header {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.built_at.to_le_bytes());
        out.extend_from_slice(&self.built_by);
        out.extend_from_slice(&self.dir);
        for v in [
            self.len,
            self.hosts,
            self.hosts_len,
            self.entries_off,
            self.entries,
            self.strings_off,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&[0u8; 8]);
        debug_assert_eq!((out.len() - start) as u64, HEADER_LEN);
    }

    fn decode(b: &[u8; HEADER_LEN as usize]) -> Option<Header> {
        if &b[..16] != MAGIC || u32::from_le_bytes(b[16..20].try_into().unwrap()) != VERSION {
            return None;
        }
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        Some(Header {
            built_at: i64::from_le_bytes(b[24..32].try_into().unwrap()),
            built_by: b[32..48].try_into().unwrap(),
            dir: b[48..80].try_into().unwrap(),
            len: u(80),
            hosts: u(88),
            hosts_len: u(96),
            entries_off: u(104),
            entries: u(112),
            strings_off: u(120),
        })
    }

    /// Whether the regions lie where they must within a file of `file_len`
    /// bytes: hosts right after the header, then entries, then texts.
    fn fits(&self, file_len: u64) -> bool {
        self.len == file_len
            && self.hosts <= MAX_HOSTS
            && self.hosts_len <= MAX_HOSTS * 512
            && HEADER_LEN.checked_add(self.hosts_len) == Some(self.entries_off)
            && self
                .entries
                .checked_mul(ENTRY_LEN)
                .and_then(|n| n.checked_add(self.entries_off))
                == Some(self.strings_off)
            && self.strings_off <= self.len
    }
}

/// What the index recorded of one host file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    login: String,
    stamp: Stamp,
    uid: u32,
    mode: u32,
}

impl Record {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.login.len() as u8);
        out.extend_from_slice(self.login.as_bytes());
        self.stamp.encode(out);
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&self.mode.to_le_bytes());
    }

    /// Read the records, in order, from the hosts region.
    fn decode_all(mut b: &[u8], count: u64) -> Option<Vec<Record>> {
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let n = *b.first()? as usize;
            let rest = b.get(1..)?;
            if rest.len() < n + 56 + 8 {
                return None;
            }
            let login = std::str::from_utf8(&rest[..n]).ok()?.to_string();
            let stamp = Stamp::decode(&rest[n..n + 56]);
            let u = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().unwrap());
            out.push(Record {
                login,
                stamp,
                uid: u(n + 56),
                mode: u(n + 60),
            });
            b = &rest[n + 64..];
        }
        // Sorted, no duplicates: a binary search finds each login.
        let sorted = out.windows(2).all(|w| w[0].login < w[1].login);
        (b.is_empty() && sorted).then_some(out)
    }
}

/// One host file as the builder read it: its record, and each guest's part.
#[derive(Debug)]
struct Indexed {
    record: Record,
    parts: BTreeMap<String, String>,
}

/// Each guest's part of a host file's `text`: the TOML text of only the
/// sessions whose lists (`read_write`, `read_only`) name that guest, each
/// checked to parse back to exactly what the whole file says of those
/// sessions.
fn guest_parts(file: &Path, text: &str) -> Result<BTreeMap<String, String>, Error> {
    let whole = parse_host(file, text)?;
    let doc = text.parse::<DocumentMut>().map_err(|e| Error::Invalid {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let mismatch = |what: String| Error::Invalid {
        path: file.to_path_buf(),
        message: format!("cannot be indexed: {what}"),
    };
    let sessions = doc.get("sessions").and_then(Item::as_table_like);
    let mut named: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (session, share) in &whole.sessions {
        let mut guests: Vec<&str> = share
            .read_write
            .iter()
            .chain(&share.read_only)
            .map(|g| g.as_str())
            .collect();
        guests.sort_unstable();
        guests.dedup();
        for g in guests {
            named.entry(g).or_default().push(session.as_str());
        }
    }
    let mut parts = BTreeMap::new();
    for (guest, names) in named {
        let mut table = Table::new();
        table.set_implicit(true);
        for name in &names {
            let item = sessions
                .and_then(|t| t.get(name))
                .ok_or_else(|| mismatch(format!("session {name} is not a table of [sessions]")))?;
            let mut item = item.clone();
            if let Some(t) = item.as_table_mut() {
                // A dotted `sessions.api.socket = …` becomes a table of its own.
                t.set_dotted(false);
                t.set_implicit(false);
            }
            table.insert(name, item);
        }
        let mut part = DocumentMut::new();
        part.insert("sessions", Item::Table(table));
        let part = part.to_string();
        // The part must say of each of its sessions exactly what the whole
        // file says, and hold nothing else.
        let parsed = parse_host(file, &part).map_err(|e| mismatch(e.to_string()))?;
        let same = parsed.sessions.len() == names.len()
            && names
                .iter()
                .all(|n| parsed.sessions.get(*n) == whole.sessions.get(*n));
        if !same {
            return Err(mismatch(format!(
                "{guest}'s sessions read differently alone"
            )));
        }
        parts.insert(guest.to_string(), part);
    }
    Ok(parts)
}

/// The index's bytes for these host files.
fn encode(hosts_dir: &Path, hosts: &[Indexed], built_at: SystemTime) -> Vec<u8> {
    let mut records = Vec::new();
    for h in hosts {
        h.record.encode(&mut records);
    }
    let mut strings = Vec::new();
    let mut entries: Vec<([u8; 32], u32, u64, u32)> = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        for (guest, part) in &h.parts {
            entries.push((
                guest_digest(guest),
                i as u32,
                strings.len() as u64,
                part.len() as u32,
            ));
            strings.extend_from_slice(part.as_bytes());
        }
    }
    entries.sort_unstable();
    let entries_off = HEADER_LEN + records.len() as u64;
    let strings_off = entries_off + entries.len() as u64 * ENTRY_LEN;
    let len = strings_off + strings.len() as u64;
    let mut out = Vec::with_capacity(len as usize);
    Header {
        built_at: built_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        built_by: built_by(),
        dir: dir_digest(hosts_dir),
        len,
        hosts: hosts.len() as u64,
        hosts_len: records.len() as u64,
        entries_off,
        entries: entries.len() as u64,
        strings_off,
    }
    .encode(&mut out);
    out.extend_from_slice(&records);
    for (digest, host, off, n) in &entries {
        out.extend_from_slice(digest);
        out.extend_from_slice(&host.to_le_bytes());
        out.extend_from_slice(&(strings_off + off).to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&strings);
    out
}

/// What [`build_hosts`] wrote.
#[derive(Debug)]
pub(crate) struct BuiltHosts {
    pub(crate) path: PathBuf,
    /// Host files indexed.
    pub(crate) hosts: usize,
    /// Host files left out (logins read them themselves), with why.
    pub(crate) left_out: Vec<String>,
    pub(crate) bytes: usize,
}

/// Read one host file as a login would trust it (`load_host`'s rules),
/// waiting for its change time to settle; `Err` says why it is left out.
fn index_one(hosts_dir: &Path, login: &str) -> Result<Indexed, String> {
    let path = host_path(hosts_dir, login);
    let user = User::from_name(login)
        .ok()
        .flatten()
        .ok_or_else(|| format!("there is no user {login:?}"))?;
    let (file, before) =
        trust::open_trusted(&path, Owner::UserOrRoot(user.uid)).map_err(|e| e.to_string())?;
    if before.len() > MAX_HOST {
        return Err(format!("is larger than {MAX_HOST} bytes"));
    }
    // The racily-clean wait, as for the main index: a later write cannot
    // share the change time this record keeps.
    settle(&path, &before).map_err(|e| e.to_string())?;
    let _lock = trust::lock_briefly(
        &file,
        FlockArg::LockSharedNonblock,
        Duration::from_millis(100),
    );
    let mut text = String::new();
    (&file)
        .take(MAX_HOST + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let after = file.metadata().map_err(|e| e.to_string())?;
    let named = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
    let stamp = Stamp::of(&before);
    if Stamp::of(&after) != stamp || Stamp::of(&named) != stamp {
        return Err("changed while it was read".into());
    }
    let parts = guest_parts(&path, &text).map_err(|e| e.to_string())?;
    Ok(Indexed {
        record: Record {
            login: login.to_string(),
            stamp,
            uid: before.uid(),
            mode: before.mode(),
        },
        parts,
    })
}

/// Build the hosts index for the config at `config_abs`, whose host files
/// are in `hosts_dir`, and replace the old one atomically. Run as root.
/// A host file that fails `load_host`'s checks, does not parse, or changes
/// while it is read is left out: logins read it themselves, as before.
pub(crate) fn build_hosts(config_abs: &Path, hosts_dir: &Path) -> Result<BuiltHosts, Error> {
    let logins = host_logins(hosts_dir)?;
    // One wait for all: the newest change time among the files.
    if let Some(newest) = logins
        .iter()
        .filter_map(|l| std::fs::symlink_metadata(host_path(hosts_dir, l)).ok())
        .max_by_key(|m| (m.ctime(), m.ctime_nsec()))
    {
        let _ = settle(hosts_dir, &newest);
    }
    let mut hosts = Vec::new();
    let mut left_out = Vec::new();
    for login in &logins {
        match index_one(hosts_dir, login) {
            Ok(h) => hosts.push(h),
            Err(why) => left_out.push(format!("{login}: {why}")),
        }
    }
    let bytes = encode(hosts_dir, &hosts, SystemTime::now());
    let path = hosts_path_for(config_abs);
    crate::sys::fs::replace(&path, 0, 0, 0o644, &bytes).map_err(|e| Error::io(&path, e))?;
    Ok(BuiltHosts {
        path,
        hosts: hosts.len(),
        left_out,
        bytes: bytes.len(),
    })
}

/// An open hosts index, for one `hosts_dir`.
pub(crate) struct HostsIndex {
    file: File,
    path: PathBuf,
    len: u64,
    records: Vec<Record>,
    entries_off: u64,
    entries: u64,
}

/// What the index says of one host file for one guest.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The file is as indexed and names the guest nowhere: it grants nothing.
    NamesNowhere,
    /// The file is as indexed; this is the host with the sessions that
    /// name the guest, checked as `load_host` checks the whole file.
    Names(Host),
    /// Not believed for this file (changed since, left out, damaged, or
    /// failing a check): read the file itself.
    ReadTheFile,
}

impl HostsIndex {
    /// Open the hosts index beside the config at `config_abs`, for the
    /// host files in `hosts_dir`; `Err` says why it cannot be used (then
    /// every host file is read, as without one).
    ///
    /// **Trust.** Guards against: a forged index granting a guest sessions
    /// no host's file grants them, or hiding a grant. It is believed only
    /// under the main index's rules: a regular file (not a symlink) owned by
    /// root, not writable by group or other, beside the root-owned config.
    /// Its header must be of this version and this pairshell (another one
    /// may have other checks), for this `hosts_dir`, with regions that lie
    /// within the file, and not built in the future (a clock set back could
    /// repeat a change time; see `Index::open`).
    ///
    /// **Freshness** is judged per file, by [`HostsIndex::lookup`].
    pub(crate) fn open(config_abs: &Path, hosts_dir: &Path) -> Result<HostsIndex, Unused> {
        let path = hosts_path_for(config_abs);
        let (file, len, header) = open_root_index::<{ HEADER_LEN as usize }>(&path)?;
        let stale = |why: &str| unusable(&path, why);
        let h = Header::decode(&header).ok_or_else(|| stale("not an index of this version"))?;
        if h.built_by != built_by() {
            return Err(stale("from another version of pairshell"));
        }
        if h.dir != dir_digest(hosts_dir) {
            return Err(stale("for another hosts_dir"));
        }
        if built_in_the_future(h.built_at) {
            return Err(stale("from the future (was the clock set back?)"));
        }
        if !h.fits(len) {
            return Err(stale("malformed"));
        }
        let mut region = vec![0u8; h.hosts_len as usize];
        file.read_exact_at(&mut region, HEADER_LEN)
            .map_err(|_| stale("unreadable"))?;
        let records = Record::decode_all(&region, h.hosts).ok_or_else(|| stale("malformed"))?;
        Ok(HostsIndex {
            file,
            path,
            len: h.len,
            records,
            entries_off: h.entries_off,
            entries: h.entries,
        })
    }

    /// This guest's entries: `(host record number, offset, length)`, in
    /// record order. `Err` is damage (then read every file).
    pub(crate) fn guest(&self, guest: &str) -> Result<GuestParts, String> {
        let digest = guest_digest(guest);
        let (mut lo, mut hi) = (0u64, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.0 < digest {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut parts = Vec::new();
        let mut i = lo;
        while i < self.entries {
            let (d, host, off, len) = self.entry(i)?;
            if d != digest {
                break;
            }
            let fits = u64::from(len) <= MAX_HOST
                && off
                    .checked_add(u64::from(len))
                    .is_some_and(|e| e <= self.len)
                && (host as usize) < self.records.len();
            if !fits || parts.last().is_some_and(|&(h, _, _)| h >= host) {
                return Err(self.malformed());
            }
            parts.push((host, off, len));
            i += 1;
        }
        Ok(GuestParts {
            guest: guest.to_string(),
            parts,
        })
    }

    fn malformed(&self) -> String {
        format!(
            "{} is malformed; run `pairshell index`",
            self.path.display()
        )
    }

    fn entry(&self, i: u64) -> Result<([u8; 32], u32, u64, u32), String> {
        let mut buf = [0u8; ENTRY_LEN as usize];
        self.file
            .read_exact_at(&mut buf, self.entries_off + i * ENTRY_LEN)
            .map_err(|_| self.malformed())?;
        let digest: [u8; 32] = buf[..32].try_into().unwrap();
        let host = u32::from_le_bytes(buf[32..36].try_into().unwrap());
        let off = u64::from_le_bytes(buf[36..44].try_into().unwrap());
        let len = u32::from_le_bytes(buf[44..48].try_into().unwrap());
        Ok((digest, host, off, len))
    }

    /// What the index says of `login`'s file for the guest of `parts`,
    /// from one `lstat` of the file.
    ///
    /// **Freshness.** Guards against: a stale entry granting what the file
    /// no longer grants (a revoked guest, an ended share), or hiding a new
    /// grant. The entry is believed only when the file's stamp (device,
    /// inode, size, modification and change times to the nanosecond) is the
    /// one recorded; the kernel sets the change time on every write, chmod,
    /// chown or rename, and nobody can set it back, so a host's in-place
    /// edit (`share`, `grant`, `revoke`, an editor) always reads the file
    /// itself. The builder waits until each file's change time is over a
    /// second old before reading it, so a later write cannot share its tick.
    ///
    /// **Trust.** Guards against: the index vouching for a file a login
    /// would refuse. The lstat must show what `load_host` requires of the
    /// opened file: a regular file (not a symlink to another host's),
    /// writable by nobody but its owner, with the owner and mode recorded
    /// (which a matching change time implies anyway). For a file that
    /// grants the guest something, the host must still exist as a Unix user
    /// (a passwd lookup, as `load_host` does: a removed account's file
    /// grants nothing) and own the file or be root's: otherwise the file is
    /// read, and `load_host` reports it. A file that names the guest nowhere
    /// is skipped unchecked, as the look at its bytes would skip it.
    /// Damage (a part that does not parse, or that holds a session not
    /// naming the guest) reads the file too, so a stale or damaged index can
    /// only ever cost time, never grant or refuse what the file would not.
    pub(crate) fn lookup(&self, hosts_dir: &Path, login: &str, parts: &GuestParts) -> Lookup {
        let Ok(at) = self
            .records
            .binary_search_by(|r| r.login.as_str().cmp(login))
        else {
            return Lookup::ReadTheFile;
        };
        let record = &self.records[at];
        let path = host_path(hosts_dir, login);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return Lookup::ReadTheFile;
        };
        let as_recorded = Stamp::of(&meta) == record.stamp
            && meta.uid() == record.uid
            && meta.mode() == record.mode
            && meta.is_file()
            && meta.len() <= MAX_HOST
            && meta.mode() & 0o022 == 0;
        if !as_recorded {
            return Lookup::ReadTheFile;
        }
        let Some(&(_, off, len)) = parts.parts.iter().find(|&&(h, _, _)| h as usize == at) else {
            return Lookup::NamesNowhere;
        };
        let Some(user) = User::from_name(login).ok().flatten() else {
            return Lookup::ReadTheFile;
        };
        if trust::check_file_meta(&path, &meta, Owner::UserOrRoot(user.uid)).is_err() {
            return Lookup::ReadTheFile;
        }
        let mut buf = vec![0u8; len as usize];
        if self.file.read_exact_at(&mut buf, off).is_err() {
            return Lookup::ReadTheFile;
        }
        let Ok(text) = String::from_utf8(buf) else {
            return Lookup::ReadTheFile;
        };
        match parse_part(&path, &text, &parts.guest) {
            Some(file) => Lookup::Names(Host {
                login: login.to_string(),
                uid: user.uid,
                file,
            }),
            None => Lookup::ReadTheFile,
        }
    }

    /// The host files `check` should know about: the logins in `hosts_dir`
    /// whose file is not as indexed (changed since, new, or left out).
    pub(crate) fn stale_files(&self, hosts_dir: &Path, logins: &[String]) -> Vec<String> {
        logins
            .iter()
            .filter(|login| {
                let Ok(at) = self
                    .records
                    .binary_search_by(|r| r.login.as_str().cmp(login.as_str()))
                else {
                    return true;
                };
                std::fs::symlink_metadata(host_path(hosts_dir, login))
                    .map_or(true, |m| Stamp::of(&m) != self.records[at].stamp)
            })
            .cloned()
            .collect()
    }
}

/// One guest's entries in a [`HostsIndex`].
pub(crate) struct GuestParts {
    guest: String,
    parts: Vec<(u32, u64, u32)>,
}

/// A guest's part, parsed; `None` when it is damage: it does not parse, or
/// holds a session whose lists do not name the guest.
fn parse_part(path: &Path, text: &str, guest: &str) -> Option<HostFile> {
    let file = parse_host(path, text).ok()?;
    let names = |s: &crate::config::Share| {
        s.read_write
            .iter()
            .chain(&s.read_only)
            .any(|g| g.as_str() == guest)
    };
    file.sessions.values().all(names).then_some(file)
}

/// Each guest's part of a host file's `text`, parsed as a login parses it
/// (for `policy`'s test that a part grants exactly what the whole file does).
#[cfg(test)]
pub(crate) fn parsed_parts(file: &Path, text: &str) -> BTreeMap<String, HostFile> {
    guest_parts(file, text)
        .unwrap()
        .into_iter()
        .map(|(guest, part)| {
            let parsed = parse_part(file, &part, &guest).expect("a part names its guest");
            (guest, parsed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ino: u64) -> Stamp {
        Stamp {
            dev: 1,
            ino,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        }
    }

    const FILE: &str = r#"# alice's sessions
sessions.ops.socket = "/run/pairshell/alice/ops"
sessions.ops.read_only = ["bob"]
sessions.db = { socket = "/run/pairshell/alice/db", read_write = ["dave"], ask = true }

[sessions.api]
socket = "/run/pairshell/alice/api"
read_write = ["bob"]
read_only = ["carol", "bob"]
guest_expires = { bob = 2030-01-01T00:00:00Z, dave = 2020-01-01T00:00:00Z }

[sessions.web]
socket = "/run/pairshell/alice/web"
read_only = ["carol"]
expires = 2020-01-01T00:00:00Z
presence = "required"
on_host_leave = "pause"
"#;

    #[test]
    fn the_index_reads_back_as_it_was_written() {
        let path = Path::new("/h/alice.toml");
        let hosts = vec![
            Indexed {
                record: Record {
                    login: "alice".into(),
                    stamp: stamp(2),
                    uid: 1000,
                    mode: 0o100644,
                },
                parts: guest_parts(path, FILE).unwrap(),
            },
            Indexed {
                record: Record {
                    login: "zed".into(),
                    stamp: stamp(3),
                    uid: 0,
                    mode: 0o100600,
                },
                parts: BTreeMap::new(),
            },
        ];
        let bytes = encode(Path::new("/h"), &hosts, UNIX_EPOCH);
        let header = Header::decode(bytes[..HEADER_LEN as usize].try_into().unwrap()).unwrap();
        assert!(header.fits(bytes.len() as u64));
        assert_eq!(header.dir, dir_digest(Path::new("/h")));
        assert_ne!(header.dir, dir_digest(Path::new("/h2")));
        let region = &bytes[HEADER_LEN as usize..header.entries_off as usize];
        let records = Record::decode_all(region, header.hosts).unwrap();
        assert_eq!(
            records,
            hosts.iter().map(|h| h.record.clone()).collect::<Vec<_>>()
        );
        // A count that does not match the region is not read.
        assert!(Record::decode_all(region, header.hosts + 1).is_none());
        assert!(Record::decode_all(region, header.hosts - 1).is_none());
        // Every guest's text is where its entry says.
        let parts = &hosts[0].parts;
        let mut found = BTreeMap::new();
        for i in 0..header.entries {
            let at = (header.entries_off + i * ENTRY_LEN) as usize;
            let e = &bytes[at..at + ENTRY_LEN as usize];
            let off = u64::from_le_bytes(e[36..44].try_into().unwrap()) as usize;
            let len = u32::from_le_bytes(e[44..48].try_into().unwrap()) as usize;
            let text = std::str::from_utf8(&bytes[off..off + len]).unwrap();
            let guest = parts.keys().find(|g| guest_digest(g) == e[..32]).unwrap();
            found.insert(guest.clone(), text.to_string());
        }
        assert_eq!(&found, parts);
        assert_eq!(
            parts.keys().map(String::as_str).collect::<Vec<_>>(),
            ["bob", "carol", "dave"]
        );
    }

    #[test]
    fn a_forged_header_whose_regions_lie_does_not_fit() {
        let bytes = encode(Path::new("/h"), &[], UNIX_EPOCH);
        let h = |b: &[u8]| Header::decode(b[..HEADER_LEN as usize].try_into().unwrap()).unwrap();
        let len = bytes.len() as u64;
        assert!(h(&bytes).fits(len));
        assert!(!h(&bytes).fits(len + 1));
        for (at, value) in [(88, u64::MAX), (96, 1 << 40), (112, u64::MAX), (104, 0)] {
            let mut forged = bytes.clone();
            forged[at..at + 8].copy_from_slice(&value.to_le_bytes());
            assert!(!h(&forged).fits(len), "{at}");
        }
        let mut other = bytes.clone();
        other[16] ^= 1;
        assert!(Header::decode(other[..HEADER_LEN as usize].try_into().unwrap()).is_none());
    }

    #[test]
    fn a_part_holding_a_session_that_does_not_name_the_guest_is_damage() {
        let path = Path::new("/h/alice.toml");
        let parts = guest_parts(path, FILE).unwrap();
        assert!(parse_part(path, &parts["bob"], "bob").is_some());
        // bob's part read as carol's: api names carol, ops does not.
        assert!(parse_part(path, &parts["bob"], "carol").is_none());
        assert!(parse_part(path, "not toml [", "bob").is_none());
    }
}
