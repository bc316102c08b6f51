//! `pairshell typed HOST/SESSION [--since T] [--json]`: who typed what.
//!
//! Every read-write guest's recording of the session holds what pairshell
//! forwarded from them (`i` events). This merges them onto one timeline
//! and decodes the bytes into text a person reads: Enter as `⏎`, control
//! keys as `^C`, arrows and other keys by name (`<Up>`, `<F5>`, `<M-x>`),
//! a bracketed paste (or a chunk that is plainly one, with a line break
//! inside) as one line. One line per guest's run of typing: it ends at
//! Enter, when another guest types, or after a pause.
//!
//! The decoder ([`Decoder`]) is pure and fuzzed (`fuzz/fuzz_targets/typed.rs`):
//! whatever the bytes, what it renders holds no control character, so a
//! guest's input can never drive the admin's terminal.

use std::io::Write;
use std::path::Path;

use jiff::Timestamp;

use crate::core::error::{failure, Failure};
use crate::record::Cast;

/// A line ends after this long without a key from its guest.
const PAUSE_S: f64 = 5.0;

/// One thing a guest typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// Printable text, as typed.
    Text(String),
    /// Enter (CR or LF).
    Enter,
    /// A control key, as `^C`.
    Ctrl(char),
    /// A named key: `Up`, `C-Left`, `F5`, `M-x`, `Esc`, `Tab`, `BS`, `Del`.
    Named(String),
    /// A paste, whole.
    Paste(String),
}

impl Key {
    /// How the key reads: no control characters, whatever was typed.
    pub(crate) fn render(&self, out: &mut String) {
        match self {
            Key::Text(t) => out.extend(t.chars().map(visible)),
            Key::Enter => out.push('⏎'),
            Key::Ctrl(c) => {
                out.push('^');
                out.push(*c);
            }
            Key::Named(n) => {
                out.push('<');
                out.extend(n.chars().map(visible));
                out.push('>');
            }
            Key::Paste(p) => {
                out.push_str("[paste] ");
                let mut chars = p.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '\r' => {
                            out.push('⏎');
                            // CR LF is one line break.
                            if chars.peek() == Some(&'\n') {
                                chars.next();
                            }
                        }
                        '\n' => out.push('⏎'),
                        '\t' => out.push('⇥'),
                        c => out.push(visible(c)),
                    }
                }
            }
        }
    }
}

/// `c`, or a visible stand-in for a control character (U+2400 block).
fn visible(c: char) -> char {
    match c {
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
        '\u{7f}' => '␡',
        c if c.is_control() => '\u{fffd}',
        c => c,
    }
}

/// Render keys as one line of text.
pub(crate) fn render(keys: &[Key]) -> String {
    let mut s = String::new();
    for k in keys {
        k.render(&mut s);
    }
    s
}

/// Decodes one guest's input, chunk by chunk (a paste may span chunks).
#[derive(Default)]
pub(crate) struct Decoder {
    /// Inside a bracketed paste: what it holds so far.
    paste: Option<String>,
}

const PASTE_START: &str = "\x1b[200~";
const PASTE_END: &str = "\x1b[201~";

impl Decoder {
    /// The keys in one chunk of input.
    pub(crate) fn feed(&mut self, chunk: &str) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut rest = chunk;
        loop {
            if let Some(p) = &mut self.paste {
                match rest.find(PASTE_END) {
                    Some(end) => {
                        p.push_str(&rest[..end]);
                        keys.push(Key::Paste(std::mem::take(p)));
                        self.paste = None;
                        rest = &rest[end + PASTE_END.len()..];
                    }
                    None => {
                        p.push_str(rest);
                        return keys;
                    }
                }
            }
            match rest.find(PASTE_START) {
                Some(start) => {
                    keys.extend(decode_keys(&rest[..start]));
                    self.paste = Some(String::new());
                    rest = &rest[start + PASTE_START.len()..];
                }
                None => {
                    keys.extend(decode_keys(rest));
                    return keys;
                }
            }
        }
    }

    /// A paste never closed (the recording ended inside it).
    pub(crate) fn finish(&mut self) -> Option<Key> {
        self.paste.take().map(Key::Paste)
    }
}

/// Decode a chunk with no bracketed paste in it. A chunk with a line
/// break before its end and text around it is a paste (typing arrives a
/// key or a line at a time; a terminal without bracketed paste sends a
/// paste as one write).
fn decode_keys(chunk: &str) -> Vec<Key> {
    let trimmed = chunk.trim_end_matches(['\r', '\n']);
    let has_escape = chunk.contains('\x1b');
    if !has_escape && trimmed.contains(['\r', '\n']) && trimmed.chars().count() > 1 {
        return vec![Key::Paste(chunk.to_string())];
    }
    let mut keys = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, keys: &mut Vec<Key>| {
        if !text.is_empty() {
            keys.push(Key::Text(std::mem::take(text)));
        }
    };
    let chars: Vec<char> = chunk.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let key = match c {
            '\r' | '\n' => Key::Enter,
            '\t' => Key::Named("Tab".into()),
            '\u{7f}' | '\u{8}' => Key::Named("BS".into()),
            '\x1b' => {
                let (key, used) = escape(&chars[i..]);
                i += used;
                key
            }
            '\u{0}' => Key::Ctrl('@'),
            '\u{1}'..='\u{1a}' => Key::Ctrl(char::from(b'A' + (c as u8 - 1))),
            '\u{1c}'..='\u{1f}' => Key::Ctrl(char::from(b'\\' + (c as u8 - 0x1c))),
            c if c.is_control() => Key::Named(format!("U+{:04X}", c as u32)),
            c => {
                text.push(c);
                continue;
            }
        };
        flush(&mut text, &mut keys);
        keys.push(key);
    }
    flush(&mut text, &mut keys);
    keys
}

/// The key an escape sequence (after its ESC) stands for, and how many
/// characters it took.
fn escape(after: &[char]) -> (Key, usize) {
    match after.first() {
        None => (Key::Named("Esc".into()), 0),
        Some('[') => csi(&after[1..]).map_or((Key::Named("Esc".into()), 0), |(k, n)| (k, n + 1)),
        Some('O') if after.len() > 1 && !after[1].is_control() => {
            let name = match after[1] {
                'A' => "Up",
                'B' => "Down",
                'C' => "Right",
                'D' => "Left",
                'H' => "Home",
                'F' => "End",
                'P' => "F1",
                'Q' => "F2",
                'R' => "F3",
                'S' => "F4",
                'M' => "KP-Enter",
                _ => return (Key::Named(format!("SS3 {}", printable(after[1]))), 2),
            };
            (Key::Named(name.into()), 2)
        }
        Some('\x1b') => (Key::Named("Esc".into()), 0),
        Some(&c) if !c.is_control() => (Key::Named(format!("M-{c}")), 1),
        // Not CR or LF: Alt-Enter reads as Esc, then Enter.
        Some(&c) if ('\u{1}'..='\u{1a}').contains(&c) && c != '\r' && c != '\n' => (
            Key::Named(format!("M-^{}", char::from(b'A' + (c as u8 - 1)))),
            1,
        ),
        Some(_) => (Key::Named("Esc".into()), 0),
    }
}

fn printable(c: char) -> char {
    if c.is_control() {
        '?'
    } else {
        c
    }
}

/// A CSI sequence's key (after `ESC [`): parameters, then a final byte.
fn csi(after: &[char]) -> Option<(Key, usize)> {
    let mut end = 0;
    while end < after.len() && ('\u{30}'..='\u{3f}').contains(&after[end]) {
        end += 1;
    }
    // Intermediate bytes, then the final one.
    while end < after.len() && ('\u{20}'..='\u{2f}').contains(&after[end]) {
        end += 1;
    }
    let fin = *after.get(end)?;
    if !('\u{40}'..='\u{7e}').contains(&fin) {
        return None;
    }
    let params: String = after[..end].iter().collect();
    let used = end + 1;
    if params.starts_with('<') || fin == 'M' && params.is_empty() {
        // SGR or X10 mouse reports (X10 has three more bytes).
        let extra = if params.is_empty() {
            3.min(after.len() - used)
        } else {
            0
        };
        return Some((Key::Named("Mouse".into()), used + extra));
    }
    let mut nums = params.split(';');
    let first = nums.next().unwrap_or("");
    let modifier = nums.next().and_then(|m| m.parse::<u32>().ok()).unwrap_or(1);
    let prefix = match modifier {
        2 => "S-",
        3 => "M-",
        4 => "M-S-",
        5 => "C-",
        6 => "C-S-",
        7 => "C-M-",
        8 => "C-M-S-",
        _ => "",
    };
    let name = match fin {
        'A' => "Up".to_string(),
        'B' => "Down".to_string(),
        'C' => "Right".to_string(),
        'D' => "Left".to_string(),
        'H' => "Home".to_string(),
        'F' => "End".to_string(),
        'Z' => "S-Tab".to_string(),
        'P' => "F1".to_string(),
        'Q' => "F2".to_string(),
        'R' => "F3".to_string(),
        'S' => "F4".to_string(),
        'I' => "FocusIn".to_string(),
        'O' => "FocusOut".to_string(),
        '~' => match first {
            "1" | "7" => "Home".to_string(),
            "2" => "Ins".to_string(),
            "3" => "Del".to_string(),
            "4" | "8" => "End".to_string(),
            "5" => "PgUp".to_string(),
            "6" => "PgDn".to_string(),
            "11" => "F1".to_string(),
            "12" => "F2".to_string(),
            "13" => "F3".to_string(),
            "14" => "F4".to_string(),
            "15" => "F5".to_string(),
            "17" => "F6".to_string(),
            "18" => "F7".to_string(),
            "19" => "F8".to_string(),
            "20" => "F9".to_string(),
            "21" => "F10".to_string(),
            "23" => "F11".to_string(),
            "24" => "F12".to_string(),
            _ => format!("CSI {params}~"),
        },
        _ => format!("CSI {params}{fin}"),
    };
    if name.starts_with("CSI") {
        return Some((Key::Named(name), used));
    }
    Some((Key::Named(format!("{prefix}{name}")), used))
}

/// One line of `typed`'s output.
#[derive(Debug, PartialEq)]
pub(crate) struct Line {
    pub(crate) time: Timestamp,
    pub(crate) guest: String,
    pub(crate) text: String,
}

/// Merge `casts` (each one guest's join) into lines, in time order.
pub(crate) fn lines(casts: &[Cast], since: Option<Timestamp>) -> Vec<Line> {
    // Every input event of every read-write recording, with its instant.
    let mut events: Vec<(Timestamp, usize, &str)> = Vec::new();
    for (n, cast) in casts.iter().enumerate() {
        if cast.mode != "read-write" {
            continue;
        }
        for e in cast.events.iter().filter(|e| e.code == "i") {
            events.push((cast.at(e.t), n, &e.data));
        }
    }
    events.sort_by_key(|&(t, n, _)| (t, n));
    let mut decoders: Vec<Decoder> = casts.iter().map(|_| Decoder::default()).collect();
    let mut out: Vec<Line> = Vec::new();
    // The line being typed: whose, since when, last key when, the keys.
    let mut open: Option<(usize, Timestamp, Timestamp, Vec<Key>)> = None;
    let close = |open: &mut Option<(usize, Timestamp, Timestamp, Vec<Key>)>,
                 out: &mut Vec<Line>| {
        if let Some((n, start, _, keys)) = open.take() {
            if !keys.is_empty() && since.is_none_or(|s| start >= s) {
                out.push(Line {
                    time: start,
                    guest: casts[n].guest.clone(),
                    text: render(&keys),
                });
            }
        }
    };
    for (t, n, data) in events {
        let paused = open.as_ref().is_some_and(|(who, _, last, _)| {
            *who != n || t.duration_since(*last).as_secs_f64() > PAUSE_S
        });
        if paused {
            close(&mut open, &mut out);
        }
        for key in decoders[n].feed(data) {
            let own_line = matches!(key, Key::Paste(_));
            if own_line {
                close(&mut open, &mut out);
            }
            let entry = open.get_or_insert_with(|| (n, t, t, Vec::new()));
            entry.2 = t;
            let ends = matches!(key, Key::Enter) || own_line;
            entry.3.push(key);
            if ends {
                close(&mut open, &mut out);
            }
        }
    }
    close(&mut open, &mut out);
    for (n, d) in decoders.iter_mut().enumerate() {
        if let Some(key) = d.finish() {
            let cast = &casts[n];
            out.push(Line {
                time: cast.end(),
                guest: cast.guest.clone(),
                text: render(&[key]),
            });
        }
    }
    out.sort_by_key(|l| l.time);
    out
}

/// `pairshell typed HOST/SESSION [--since T] [--json]`
pub(crate) fn run(
    config_path: Option<&Path>,
    target: &str,
    since: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let (_, config) =
        crate::config::load_main(&crate::config::main_path(config_path)).map_err(Failure::from)?;
    let Some((host, session)) = target.split_once('/') else {
        return Err(failure!("{target:?}: give HOST/SESSION"));
    };
    if !crate::core::request::is_login_name(host) || !crate::core::request::is_session_name(session)
    {
        return Err(failure!("{target:?} is not HOST/SESSION"));
    }
    let now = Timestamp::now();
    let since = since
        .map(|s| crate::core::time::parse_since(s, now))
        .transpose()?;
    let files = crate::record::list(&config.recordings_dir, Some(host), Some(session))
        .map_err(|e| recordings_error(&config.recordings_dir, &e))?;
    let mut casts = Vec::new();
    for f in files {
        match Cast::read(&f) {
            Ok(c) => casts.push(c),
            Err(e) => eprintln!("pairshell: skipped {e}"),
        }
    }
    let tz = jiff::tz::TimeZone::system();
    let mut out = std::io::stdout().lock();
    for line in lines(&casts, since) {
        let r = if json {
            let mut buf = Vec::new();
            buf.extend_from_slice(b"{\"time\": ");
            crate::record::json_string(&mut buf, &line.time.to_string());
            buf.extend_from_slice(b", \"guest\": ");
            crate::record::json_string(&mut buf, &line.guest);
            buf.extend_from_slice(b", \"text\": ");
            crate::record::json_string(&mut buf, &line.text);
            buf.extend_from_slice(b"}\n");
            out.write_all(&buf)
        } else {
            let local = line.time.to_zoned(tz.clone());
            writeln!(
                out,
                "{}  {}  {}",
                local.strftime("%H:%M:%S"),
                line.guest,
                line.text
            )
        };
        if r.is_err() {
            break;
        }
    }
    Ok(())
}

/// A failure to read `recordings_dir`, with the likely cause.
pub(crate) fn recordings_error(dir: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!(
            "{}: {e}; recordings are readable by root alone (run with sudo)",
            dir.display()
        )
    } else {
        format!("{}: {e}", dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CastEvent;

    fn shown(input: &str) -> String {
        let mut d = Decoder::default();
        let mut keys = d.feed(input);
        keys.extend(d.finish());
        render(&keys)
    }

    #[test]
    fn keys_read_as_a_person_would_say_them() {
        assert_eq!(shown("make test\r"), "make test⏎");
        assert_eq!(shown("\x03"), "^C");
        assert_eq!(shown("\x02d"), "^Bd");
        assert_eq!(shown("\x1b[A\x1b[B\x1b[C\x1b[D"), "<Up><Down><Right><Left>");
        assert_eq!(shown("\x1bOA\x1b[1;5D"), "<Up><C-Left>");
        assert_eq!(shown("\x1b[3~\x1b[5~\x1b[15~\x1bOP"), "<Del><PgUp><F5><F1>");
        assert_eq!(shown("ab\x7f\t"), "ab<BS><Tab>");
        assert_eq!(shown("\x1bx"), "<M-x>");
        assert_eq!(shown("\x1b"), "<Esc>");
        assert_eq!(shown("\x1b\r\x1bO\n"), "<Esc>⏎<M-O>⏎");
        assert_eq!(shown("\x1b[<0;10;5M"), "<Mouse>");
        assert_eq!(shown("\x1b[Z"), "<S-Tab>");
        assert_eq!(shown("\x1c\x00"), "^\\^@");
        assert_eq!(shown("\x1b[9q"), "<CSI 9q>");
    }

    #[test]
    fn a_paste_is_one_line() {
        assert_eq!(
            shown("\x1b[200~echo a\necho b\n\x1b[201~"),
            "[paste] echo a⏎echo b⏎"
        );
        // Unbracketed: one chunk with a break inside.
        assert_eq!(shown("ls\r\npwd\r\n"), "[paste] ls⏎pwd⏎");
        // A bracketed paste across chunks.
        let mut d = Decoder::default();
        assert!(d.feed("x\x1b[200~one\r").len() == 1);
        assert_eq!(
            d.feed("two\x1b[201~\r"),
            [Key::Paste("one\rtwo".into()), Key::Enter]
        );
        // Control characters inside a paste are shown, not sent.
        assert_eq!(shown("\x1b[200~a\x1b[2Jb\x1b[201~"), "[paste] a␛[2Jb");
    }

    /// Pins row 32: `typed` renders keys by name and every control character as
    /// a visible stand-in (`visible`), so none reaches the admin's terminal.
    #[test]
    fn rendering_never_holds_a_control_character() {
        for input in [
            "\x1b[200~\x07\x1b]0;x\x07",
            "\x1b[1;2;3;4;5;6;7~",
            "\x1bO\x01",
            "\u{85}\u{9b}",
        ] {
            let s = shown(input);
            assert!(!s.chars().any(char::is_control), "{input:?} → {s:?}");
        }
    }

    fn cast(guest: &str, mode: &str, start: i64, inputs: &[(f64, &str)]) -> Cast {
        Cast {
            path: Default::default(),
            width: 80,
            height: 24,
            start: Timestamp::from_second(start).unwrap(),
            guest: guest.into(),
            host: "h".into(),
            session: "s".into(),
            mode: mode.into(),
            events: inputs
                .iter()
                .map(|&(t, d)| CastEvent {
                    t,
                    code: "i".into(),
                    data: d.into(),
                })
                .collect(),
        }
    }

    /// Pins row 31's attribution: the merged timeline says which guest typed
    /// each key (what `typed` prints rests on it; not itself a refusal).
    #[test]
    fn guests_are_merged_in_time_order_and_attributed() {
        let casts = [
            cast(
                "alice",
                "read-write",
                1000,
                &[
                    (1.0, "m"),
                    (1.1, "ake test"),
                    (1.2, "\r"),
                    (21.0, "git diff\r"),
                ],
            ),
            cast("carol", "read-write", 1010, &[(10.0, "\x03")]),
            cast("bob", "read-only", 1000, &[(5.0, "rm -rf /\r")]),
        ];
        let all = lines(&casts, None);
        let got: Vec<(i64, &str, &str)> = all
            .iter()
            .map(|l| (l.time.as_second(), l.guest.as_str(), l.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1001, "alice", "make test⏎"),
                (1020, "carol", "^C"),
                (1021, "alice", "git diff⏎"),
            ]
        );
        let later = lines(&casts, Some(Timestamp::from_second(1015).unwrap()));
        assert_eq!(later.len(), 2, "{later:?}");
    }
}
