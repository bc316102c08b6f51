//! Building the index from the config: wait for its change time to settle,
//! cut it into the settings and each guest's table (each checked to parse
//! back to exactly what the whole config says), and lay the file out.

use super::*;

/// How old the config's change time must be before [`build`] reads it: more
/// than one tick of the coarsest file-system clock (one second).
pub(super) const SETTLE: Duration = Duration::from_millis(1100);

/// How far in the future a config's change time may be and still be waited
/// for; beyond that the clock is wrong and no index is built.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(3);

/// What [`build`] wrote.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) path: PathBuf,
    pub(crate) guests: usize,
    pub(crate) keys: usize,
    pub(crate) principals: usize,
    pub(crate) bytes: usize,
}

/// Build the index for the config at `config_path` and replace the old one
/// atomically. Run as root (it writes beside the root-owned config).
pub(crate) fn build(config_path: &Path) -> Result<Built, Error> {
    for _ in 0..5 {
        let (abs, file, before) = trust::open_root_file(config_path)?;
        // Hold the config still against pairshell's own editors while its
        // index is written, so the newest index is for the newest config.
        let _lock = trust::lock_briefly(&file, FlockArg::LockSharedNonblock, SETTLE * 10);
        settle(&abs, &before)?;
        let mut text = String::new();
        (&file)
            .take(MAX_MAIN + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(&abs, e))?;
        if text.len() as u64 > MAX_MAIN {
            return Err(Error::untrusted(
                &abs,
                format!("is larger than {MAX_MAIN} bytes"),
            ));
        }
        // Written to while it was read, or replaced: read it again.
        let after = file.metadata().map_err(|e| Error::io(&abs, e))?;
        let named = std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
        let stamp = Stamp::of(&before);
        if Stamp::of(&after) != stamp || Stamp::of(&named) != stamp {
            continue;
        }
        let (bytes, built) = encode(&abs, &text, stamp, SystemTime::now())?;
        // The lock above is a courtesy that may have timed out: make sure
        // the config is still the one indexed right before publishing.
        let named = std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
        if Stamp::of(&named) != stamp {
            continue;
        }
        let path = path_for(&abs);
        crate::sys::fs::replace(&path, 0, 0, 0o644, &bytes).map_err(|e| Error::io(&path, e))?;
        return Ok(Built { path, ..built });
    }
    Err(Error::Invalid {
        path: config_path.to_path_buf(),
        message: "it kept changing while it was being indexed; try again".into(),
    })
}

/// Wait until the config's change time is more than [`SETTLE`] old, so a
/// later write cannot share its clock tick.
pub(super) fn settle(path: &Path, meta: &Metadata) -> Result<(), Error> {
    let ready = Stamp::of(meta)
        .ctime()
        .checked_add(SETTLE)
        .unwrap_or(UNIX_EPOCH);
    let now = SystemTime::now();
    if let Ok(wait) = ready.duration_since(now) {
        if wait > MAX_WAIT {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                message: "its change time is in the future; is the clock right?".into(),
            });
        }
        std::thread::sleep(wait);
    }
    Ok(())
}

/// The index's bytes for `text`, checked against the whole config's parse.
pub(super) fn encode(
    file: &Path,
    text: &str,
    stamp: Stamp,
    built_at: SystemTime,
) -> Result<(Vec<u8>, Built), Error> {
    let mut config = parse_main(file, text)?;
    let guests = std::mem::take(&mut config.guests);
    let mut doc = text.parse::<DocumentMut>().map_err(|e| Error::Invalid {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let guests_item = doc.remove("guests");
    let settings = doc.to_string();
    let mismatch = |what: String| Error::Invalid {
        path: file.to_path_buf(),
        message: format!("cannot be indexed: {what}; report this as a bug"),
    };
    // The settings alone must give the same config, minus its guests.
    let alone = parse_main(file, &settings).map_err(|e| mismatch(e.to_string()))?;
    if alone != config {
        return Err(mismatch(
            "the settings read differently without [guests]".into(),
        ));
    }

    let mut texts: Vec<(String, String)> = Vec::new();
    if let Some(table) = guests_item.as_ref().and_then(Item::as_table_like) {
        for (name, item) in table.iter() {
            let snippet = guest_text(name, item);
            // Each guest's text must parse to exactly what the whole config
            // says of that guest, or the index would say something else.
            let parsed = parse_guests(file, &snippet).map_err(|e| mismatch(e.to_string()))?;
            match (parsed.get(name), guests.get(name)) {
                (Some(a), Some(b)) if parsed.len() == 1 && a == b => {}
                _ => return Err(mismatch(format!("guest {name} reads differently alone"))),
            }
            texts.push((name.to_string(), snippet));
        }
    }
    if texts.len() != guests.len() {
        return Err(mismatch("some guests are not tables of [guests]".into()));
    }

    // Lay out: header, entries, settings, guests' texts.
    let mut strings = settings.clone().into_bytes();
    let mut at: BTreeMap<&str, (u64, u32)> = BTreeMap::new();
    for (name, snippet) in &texts {
        at.insert(name, (strings.len() as u64, snippet.len() as u32));
        strings.extend_from_slice(snippet.as_bytes());
    }
    let mut entries: Vec<([u8; 32], u64, u32)> = Vec::new();
    let (mut keys, mut principals) = (0, 0);
    for (name, guest) in &guests {
        let (off, len) = at[name.as_str()];
        for k in guest.all_keys() {
            entries.push((key_digest(&k.key_type, &k.base64), off, len));
            keys += 1;
        }
        for p in &guest.principals {
            entries.push((principal_digest(p.as_str()), off, len));
            principals += 1;
        }
    }
    entries.sort_unstable();
    entries.dedup();

    let entries_off = HEADER_LEN;
    let strings_off = entries_off + entries.len() as u64 * ENTRY_LEN;
    let total = strings_off + strings.len() as u64;
    let built_at = built_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(total as usize);
    Header {
        stamp,
        built_at,
        built_by: built_by(),
        content: content_digest(text),
        len: total,
        entries_off,
        entries: entries.len() as u64,
        strings_off,
        settings_len: settings.len() as u64,
    }
    .encode(&mut out);
    for (digest, off, len) in &entries {
        out.extend_from_slice(digest);
        out.extend_from_slice(&(strings_off + off).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(&strings);
    let built = Built {
        path: PathBuf::new(),
        guests: guests.len(),
        keys,
        principals,
        bytes: out.len(),
    };
    Ok((out, built))
}

/// One guest's table as a TOML document of its own.
pub(super) fn guest_text(name: &str, item: &Item) -> String {
    let mut guests = Table::new();
    guests.set_implicit(true);
    let mut item = item.clone();
    if let Some(t) = item.as_table_mut() {
        // A dotted `guests.alice.keys = …` becomes a table of its own.
        t.set_dotted(false);
        t.set_implicit(false);
    }
    guests.insert(name, item);
    let mut doc = DocumentMut::new();
    doc.insert("guests", Item::Table(guests));
    doc.to_string()
}

/// Only guests: what a guest's text in the index holds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GuestsOnly {
    #[serde(default)]
    pub(super) guests: BTreeMap<GuestName, Guest>,
}

pub(super) fn parse_guests(file: &Path, text: &str) -> Result<BTreeMap<GuestName, Guest>, Error> {
    toml::from_str::<GuestsOnly>(text)
        .map(|g| g.guests)
        .map_err(|e| Error::from_toml(file, text, &e))
}
