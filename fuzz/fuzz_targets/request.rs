//! The guest's request (`SSH_ORIGINAL_COMMAND` or `-c TEXT`): any bytes at
//! all. Besides "no panic", checks that whatever the grammar accepts is one
//! of its five forms with names that obey the name rules, that control
//! characters are always refused, and that the audit line's escaping of the
//! request is printable and reversible (a request can neither break nor
//! forge an audit line).
#![no_main]

mod rules;

use libfuzzer_sys::fuzz_target;
use pairshell::fuzzing::{escape, request, Request};

fuzz_target!(|raw: &[u8]| {
    let parsed = request(raw);
    let has_control = raw.iter().any(|b| b.is_ascii_control());
    match &parsed {
        Ok(Request::Choose) => assert!(raw.is_empty()),
        Ok(Request::List) => assert_eq!(raw, b"list"),
        Ok(Request::Help) => assert_eq!(raw, b"help"),
        Ok(Request::Join { host, session }) => {
            assert!(rules::session(session), "session {session:?}");
            match host {
                Some(host) => {
                    assert!(rules::login(host), "host {host:?}");
                    assert_eq!(format!("{host}/{session}").as_bytes(), raw);
                }
                None => assert_eq!(session.as_bytes(), raw),
            }
        }
        Err(reason) => {
            let expected = if has_control {
                "control-character"
            } else if std::str::from_utf8(raw).is_err() {
                "not-text"
            } else {
                "bad-request"
            };
            assert_eq!(*reason, expected);
        }
    }
    assert!(!has_control || parsed.is_err());

    let escaped = escape(raw);
    assert!(
        escaped.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "{escaped:?}"
    );
    assert_eq!(unescape(&escaped).as_deref(), Some(raw), "{escaped:?}");
});

/// Undo `audit::escape_bytes`: a bare value has no space, quote, backslash
/// or `=`; a quoted one ends at its only unescaped quote.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        let bare = !b.is_empty() && b.iter().all(|c| !b" \"\\=".contains(c));
        return bare.then(|| b.to_vec());
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return (i == b.len() - 1).then_some(out),
            b'\\' => match b.get(i + 1)? {
                b'"' | b'\\' => {
                    out.push(b[i + 1]);
                    i += 2;
                }
                b'x' => {
                    let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 4;
                }
                _ => return None,
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}
