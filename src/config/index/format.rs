//! The index file's layout: header, sorted digest entries, then the
//! settings and each guest's TOML text. [`Header::encode`] and
//! [`Header::decode`] sit side by side so they cannot drift apart.

use super::*;

pub(super) const MAGIC: &[u8; 16] = b"pairshell-index\n";

pub(super) const VERSION: u32 = 2;

pub(super) const HEADER_LEN: u64 = 176;

/// The pairshell that built an index; another one rebuilds it rather than
/// trust a layout or checks that may have changed.
pub(super) const BUILT_BY: &str = env!("CARGO_PKG_VERSION");

/// An entry: a digest, then its guest text's offset and length.
pub(super) const ENTRY_LEN: u64 = 32 + 8 + 4;

/// What identifies one version of a file, without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) mtime: (i64, i64),
    pub(super) ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    pub(super) fn ctime(&self) -> SystemTime {
        let (s, ns) = self.ctime;
        u64::try_from(s)
            .ok()
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::new(s, ns.clamp(0, 999_999_999) as u32)))
            .unwrap_or(UNIX_EPOCH)
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub(super) fn decode(b: &[u8]) -> Stamp {
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let s = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        Stamp {
            dev: u(0),
            ino: u(8),
            size: u(16),
            mtime: (s(24), s(32)),
            ctime: (s(40), s(48)),
        }
    }
}

/// The digest a key is filed under: its type and base64 text, as the config
/// compares keys.
pub(super) fn key_digest(key_type: &str, base64: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"key\0");
    h.update(key_type.as_bytes());
    h.update(b" ");
    h.update(base64.as_bytes());
    h.finalize().into()
}

/// The digest a certificate principal is filed under.
pub(super) fn principal_digest(principal: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"principal\0");
    h.update(principal.as_bytes());
    h.finalize().into()
}

/// The pairshell version, as the header records it.
pub(super) fn built_by() -> [u8; 16] {
    let mut out = [0u8; 16];
    let v = BUILT_BY.as_bytes();
    let n = v.len().min(16);
    out[..n].copy_from_slice(&v[..n]);
    out
}

/// What the header records of the config's text.
pub(super) fn content_digest(text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"config\0");
    h.update(text.as_bytes());
    h.finalize().into()
}

/// The first [`HEADER_LEN`] bytes of an index.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) stamp: Stamp,
    pub(super) built_at: i64,
    pub(super) built_by: [u8; 16],
    /// SHA-256 of the config's text, for `check`.
    pub(super) content: [u8; 32],
    pub(super) len: u64,
    pub(super) entries_off: u64,
    pub(super) entries: u64,
    pub(super) strings_off: u64,
    pub(super) settings_len: u64,
}

impl Header {
    /// Whether the header's regions lie where they must, within a file of
    /// `file_len` bytes (so no read goes past the end or wraps around).
    pub(super) fn fits(&self, file_len: u64) -> bool {
        self.len == file_len
            && self.entries_off == HEADER_LEN
            && self
                .entries
                .checked_mul(ENTRY_LEN)
                .and_then(|n| n.checked_add(self.entries_off))
                == Some(self.strings_off)
            && self
                .strings_off
                .checked_add(self.settings_len)
                .is_some_and(|end| end <= self.len)
            && self.settings_len <= MAX_MAIN
    }

    /// Append the header's [`HEADER_LEN`] bytes to `out`, as
    /// [`Header::decode`] reads them.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        self.stamp.encode(out);
        out.extend_from_slice(&self.built_at.to_le_bytes());
        out.extend_from_slice(&self.built_by);
        out.extend_from_slice(&self.content);
        for v in [
            self.len,
            self.entries_off,
            self.entries,
            self.strings_off,
            self.settings_len,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        debug_assert_eq!((out.len() - start) as u64, HEADER_LEN);
    }

    pub(super) fn decode(b: &[u8; HEADER_LEN as usize]) -> Option<Header> {
        if &b[..16] != MAGIC || u32::from_le_bytes(b[16..20].try_into().unwrap()) != VERSION {
            return None;
        }
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        Some(Header {
            stamp: Stamp::decode(&b[24..80]),
            built_at: i64::from_le_bytes(b[80..88].try_into().unwrap()),
            built_by: b[88..104].try_into().unwrap(),
            content: b[104..136].try_into().unwrap(),
            len: u(136),
            entries_off: u(144),
            entries: u(152),
            strings_off: u(160),
            settings_len: u(168),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            stamp: Stamp {
                dev: 1,
                ino: 2,
                size: 3,
                mtime: (4, 5),
                ctime: (-6, 7),
            },
            built_at: 1_790_000_000,
            built_by: built_by(),
            content: content_digest("pair_user = \"pair\"\n"),
            len: 9_000,
            entries_off: HEADER_LEN,
            entries: 10,
            strings_off: HEADER_LEN + 10 * ENTRY_LEN,
            settings_len: 11,
        }
    }

    #[test]
    fn a_header_reads_back_as_it_was_written() {
        let h = header();
        let mut out = vec![0xAA; 3];
        h.encode(&mut out);
        assert_eq!(out.len() as u64, 3 + HEADER_LEN);
        let bytes: &[u8; HEADER_LEN as usize] = out[3..].try_into().unwrap();
        assert_eq!(Header::decode(bytes), Some(h));
    }

    #[test]
    fn a_header_of_another_version_or_magic_is_not_read() {
        let mut out = Vec::new();
        header().encode(&mut out);
        let mut other_version = out.clone();
        other_version[16] ^= 1;
        let mut other_magic = out;
        other_magic[0] ^= 1;
        for bytes in [other_version, other_magic] {
            let bytes: &[u8; HEADER_LEN as usize] = bytes.as_slice().try_into().unwrap();
            assert_eq!(Header::decode(bytes), None);
        }
    }
}
