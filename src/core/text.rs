//! Text fit for a terminal and for a log line: escaping, and tables.

use std::fmt::Write as _;

/// Escape a value for a `key=value` line. Safe text passes unchanged;
/// anything else is quoted, with control and non-ASCII bytes as `\xNN`.
pub(crate) fn escape(value: &str) -> String {
    escape_bytes(value.as_bytes())
}

/// Whether `c` must not reach a terminal as it is: control characters
/// (C0, DEL, C1), the bidirectional controls (which reorder what follows,
/// so a line can read differently from what it says), zero-width and other
/// invisible format characters, and the Unicode line and paragraph
/// separators.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `text` fit to print on an admin's or host's terminal: every character
/// that [`is_deceptive`] is written as an escape (`\xNN` for control
/// characters, `\u{XXXX}` for the rest), everything else as it is.
///
/// Guards against: a string a user influenced (a forged syslog line, a
/// guest name, an address) that looks different on the screen from what it
/// says, with U+202E (right-to-left override) or a zero-width space.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\x{b:02x}");
            }
        } else if is_deceptive(c) {
            let _ = write!(out, "\\u{{{:04X}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A value written as it is, unquoted.
pub(crate) fn is_plain(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/@+-,".contains(b))
}

pub(crate) fn escape_bytes(value: &[u8]) -> String {
    if is_plain(value) {
        // All bytes are ASCII, so this is valid UTF-8.
        return String::from_utf8_lossy(value).into_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for &b in value {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// Left-aligned columns, two spaces apart; the last one is not padded.
/// Shared by `guest list` and the host's `who`.
/// Cells are shown through [`printable`]: a guest name, an
/// address or a session name must not reorder or hide what follows.
pub(crate) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| row.clone().map(|cell| printable(&cell)))
        .collect();
    let rows = rows.as_slice();
    let mut width = header.map(str::len);
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins row 27: `printable` writes bidi controls and zero-width characters
    /// (`is_deceptive`) as `\u{XXXX}`, so a forged line cannot look on the admin's
    /// terminal different from what it says.
    #[test]
    fn bidi_override_and_zero_width_characters_are_shown_escaped() {
        assert_eq!(
            printable("event=deny guest=\u{202E}ecila\u{200B}x"),
            "event=deny guest=\\u{202E}ecila\\u{200B}x"
        );
        assert_eq!(printable("a\u{1b}[2Jb\u{7f}"), "a\\x1b[2Jb\\x7f");
        assert_eq!(printable("ünïcode ✓ 名前"), "ünïcode ✓ 名前");
        for c in [
            '\u{061C}', '\u{200E}', '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{2028}',
        ] {
            assert!(printable(&c.to_string()).starts_with("\\u{"), "{c:?}");
        }
    }

    /// Pins row 27 for tables (`who`, `guest list`): a cell goes through the same
    /// escaping as a log line.
    #[test]
    fn table_cell_with_a_bidi_override_is_shown_escaped() {
        let t = table(&["GUEST"], &[["\u{202E}ecila".to_string()]]);
        assert_eq!(t, "GUEST\n\\u{202E}ecila\n");
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let t = table(&["A", "BB"], &[["xyz".to_string(), "1".to_string()]]);
        assert_eq!(t, "A    BB\nxyz  1\n");
    }
}
