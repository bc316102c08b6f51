//! The config read without a usable index (stale after a hand edit, or never
//! built), for a login or `authorized-keys`, which always know the key or
//! principal they ask about. Building 10,000 guests to keep one is most of
//! such a login's time and memory; this path checks the whole file's TOML
//! and builds only the settings and the guests that could hold what was
//! presented.
//!
//! How ([`scan`]): `toml_parser` (the lexer and parser `toml` itself runs)
//! reads the whole file once, with the same whitespace and depth checks, and
//! no tree is built. The file is cut into segments at its table headers: the
//! root and every header that is not `[guests.NAME]` are the settings, which
//! are always parsed; each `[guests.NAME]` is one guest's segment. A
//! login's config is then the settings' segments plus the segments of the
//! guests kept ([`Layout::keeps`]), in file order, parsed by the config's own
//! deserializer, so settings and kept guests get every check they get today.
//!
//! What guards what:
//! - *A syntax error anywhere* (any error `toml_parser` reports) sends the
//!   load to the whole parse, which reports it exactly as before.
//! - *TOML's other rules*: a dropped segment is one no other segment can
//!   conflict with, or the file is read whole: a `[guests.NAME]` header
//!   seen twice, any other header whose first key is `guests` (`[guests]`,
//!   `[[guests.x]]`, `[guests.x.y]`), a `guests` key in the root, and in a
//!   guest's segment a dotted or quoted key, an inline table, or a key
//!   repeated, all mean "read whole". Every value in a dropped segment is
//!   checked as `toml` would decode it ([`plain_basic_string`], or toml's
//!   own value parser), so a bad date or string still refuses.
//! - *Keys written with escapes* (`"\u0073sh-ed25519 …"`): a segment with a
//!   backslash in any of its values is always kept, so the deserializer
//!   decodes (and judges) it. Without one, TOML strings hold their text
//!   verbatim, so a guest whose key or principal is the one presented has
//!   that text in its segment.
//! - *A key held by two guests* identifies neither (`policy::guest_for_key`):
//!   every segment in which the presented base64 or principal occurs, in
//!   any field or even a comment, is kept, so both are there to refuse it.
//! - *A typo in the guest's own table* (`kyes = […]`) is kept by the same
//!   search and refused by the deserializer, as before.
//!
//! What changes: a schema error (an unknown field, a malformed key, a bad
//! name or expiry) in a guest whose segment is dropped no longer refuses
//! everyone else's login while the index is unusable; `pairshell check`
//! and `pairshell index` still read the whole file and report it (see
//! pairshell.toml(5), "The index").

use std::ops::Range;

use toml_parser::lexer::{Token, TokenKind};
use toml_parser::parser::{parse_document, EventReceiver, RecursionGuard, ValidateWhitespace};
use toml_parser::{ErrorSink, ParseError, Source};

use super::*;
use crate::core::error::line_column;

/// Tokens parsed at a time (see [`scan`]).
const CHUNK: usize = 4096;

/// toml's own nesting limit (`toml::de::parser::LIMIT`).
const DEPTH_LIMIT: u32 = 80;

/// Where the settings and each guest's table lie in the config's text.
#[derive(Debug)]
pub(super) struct Layout {
    /// The root and every header that is not a guest's, in file order.
    settings: Vec<Range<usize>>,
    /// Each `[guests.NAME]` segment, in file order.
    guests: Vec<GuestSegment>,
}

#[derive(Debug)]
struct GuestSegment {
    span: Range<usize>,
    /// A backslash in a string: kept whatever was presented.
    escaped: bool,
}

/// Cut `text` into settings and guests, or `None` when it must be read
/// whole: a syntax error, or a shape this path does not take (see the
/// module's comment; the whole parse judges those exactly).
pub(super) fn scan(text: &str) -> Option<Layout> {
    let source = Source::new(text);
    let mut cutter = Cutter::new(source);
    let mut errors = Errors(false);
    {
        let mut ws = ValidateWhitespace::new(&mut cutter, source);
        let mut guard = RecursionGuard::new(&mut ws, DEPTH_LIMIT);
        // The tokens are parsed a few thousand at a time rather than all
        // at once (toml lexes the whole file first: tens of megabytes for
        // a large config). A chunk ends only where a header's `[` begins a
        // line outside any bracket, which is where a TOML document's next
        // expression starts, so the parser sees the events it would see
        // in one pass. A chunk cut anywhere else (brackets that do not
        // balance, in a file that is broken anyway) can only make the
        // parser report an error, which sends the file to the whole parse.
        let mut chunk: Vec<Token> = Vec::with_capacity(CHUNK + 64);
        let (mut depth, mut line_start) = (0i64, true);
        for token in source.lex() {
            let kind = token.kind();
            if kind == TokenKind::LeftSquareBracket
                && depth == 0
                && line_start
                && chunk.len() >= CHUNK
            {
                parse_document(&chunk, &mut guard, &mut errors);
                chunk.clear();
            }
            match kind {
                TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
                TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => depth -= 1,
                _ => {}
            }
            line_start = kind == TokenKind::Newline;
            chunk.push(token);
        }
        parse_document(&chunk, &mut guard, &mut errors);
    }
    if errors.0 || cutter.whole {
        return None;
    }
    // `[guests.x]` twice is an error the whole parse names.
    cutter.names.sort_unstable();
    if cutter.names.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    cutter.finish(text.len());
    Some(Layout {
        settings: cutter.settings,
        guests: cutter.guests,
    })
}

impl Layout {
    /// Which guest segments may hold one of these keys' base64 or these
    /// principals (by index into `guests`).
    pub(super) fn keeps(
        &self,
        text: &str,
        keys: &[(&str, &str)],
        principals: &[&str],
    ) -> Vec<bool> {
        let mut keep: Vec<bool> = self.guests.iter().map(|g| g.escaped).collect();
        let needles = keys
            .iter()
            .map(|(_, b)| *b)
            .chain(principals.iter().copied())
            // Nothing empty identifies anyone (a key is 16+ characters, a
            // principal 1+), and an empty needle would match everywhere.
            .filter(|n| !n.is_empty());
        for needle in needles {
            for at in memchr::memmem::find_iter(text.as_bytes(), needle.as_bytes()) {
                let i = self.guests.partition_point(|g| g.span.start <= at);
                if i > 0 && at + needle.len() <= self.guests[i - 1].span.end {
                    keep[i - 1] = true;
                }
            }
        }
        keep
    }

    /// The settings and the kept guests as one TOML document, and where each
    /// of its pieces came from (offset in the document, offset in `text`).
    fn document(&self, text: &str, keep: &[bool]) -> (String, Vec<(usize, usize)>) {
        let mut pieces: Vec<Range<usize>> = self.settings.clone();
        pieces.extend(
            self.guests
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(g, _)| g.span.clone()),
        );
        // File order: TOML's meaning does not depend on it here (no dropped
        // or reordered segment can conflict with another), but errors
        // read best in it, and the first error is the file's first.
        pieces.sort_unstable_by_key(|r| r.start);
        let mut doc = String::with_capacity(pieces.iter().map(|r| r.len()).sum());
        let mut map = Vec::with_capacity(pieces.len());
        for r in pieces {
            map.push((doc.len(), r.start));
            doc.push_str(&text[r]);
        }
        (doc, map)
    }

    /// The config with its settings and the kept guests, parsed and checked
    /// as [`parse_main`] would; errors point into `text`.
    pub(super) fn parse(&self, file: &Path, text: &str, keep: &[bool]) -> Result<Config, Error> {
        let (doc, map) = self.document(text, keep);
        match toml::from_str::<Config>(&doc) {
            Ok(config) => check_main(file, config),
            Err(e) => {
                let (line, column) = match e.span() {
                    Some(span) => {
                        let i = map.partition_point(|(d, _)| *d <= span.start).max(1) - 1;
                        let (d, t) = map.get(i).copied().unwrap_or((0, 0));
                        line_column(text, t + (span.start - d))
                    }
                    None => (1, 1),
                };
                Err(Error::Parse {
                    file: file.to_path_buf(),
                    line,
                    column,
                    message: e.message().trim_end().to_string(),
                })
            }
        }
    }

    pub(super) fn no_guests(&self) -> Vec<bool> {
        vec![false; self.guests.len()]
    }
}

struct Errors(bool);

impl ErrorSink for Errors {
    fn report_error(&mut self, _error: ParseError) {
        self.0 = true;
    }
}

/// What is being read.
#[derive(PartialEq)]
enum At {
    /// Before the first header, or in a header's body.
    Body,
    /// Inside `[…]` or `[[…]]`.
    Header,
}

/// The event receiver that cuts the file (see [`scan`]).
struct Cutter<'i> {
    source: Source<'i>,
    at: At,
    array_header: bool,
    header_keys: Vec<&'i str>,
    /// Nesting of arrays and inline tables in the current value.
    depth: u32,
    /// Reading a key-value's key (before its `=`).
    in_key: bool,
    /// The current segment: its start, and whether it is a guest's.
    start: usize,
    guest: bool,
    /// Before the first header.
    in_root: bool,
    escaped: bool,
    keys: Vec<&'i str>,
    /// Every guest's name from its header, checked for repeats at the end.
    names: Vec<&'i str>,
    settings: Vec<Range<usize>>,
    guests: Vec<GuestSegment>,
    /// A shape this path does not take: read the file whole.
    whole: bool,
}

impl<'i> Cutter<'i> {
    fn new(source: Source<'i>) -> Self {
        Cutter {
            source,
            at: At::Body,
            array_header: false,
            header_keys: Vec::new(),
            depth: 0,
            in_key: false,
            start: 0,
            guest: false,
            in_root: true,
            escaped: false,
            keys: Vec::new(),
            names: Vec::new(),
            settings: Vec::new(),
            guests: Vec::new(),
            whole: false,
        }
    }

    fn raw(&self, span: toml_parser::Span) -> &'i str {
        self.source.get(span).map_or("", |r| r.as_str())
    }

    /// Close the segment that ends at `end`.
    fn close(&mut self, end: usize) {
        let span = self.start..end;
        if self.guest {
            self.guests.push(GuestSegment {
                span,
                escaped: self.escaped,
            });
        } else if !span.is_empty() {
            self.settings.push(span);
        }
    }

    fn finish(&mut self, end: usize) {
        self.close(end);
    }

    fn open_header(&mut self, span: toml_parser::Span, array: bool) {
        self.close(span.start());
        self.start = span.start();
        self.at = At::Header;
        self.in_root = false;
        self.array_header = array;
        self.header_keys.clear();
    }

    fn close_header(&mut self) {
        self.at = At::Body;
        self.escaped = false;
        self.keys.clear();
        let first = self.header_keys.first().map(|k| key_name(k));
        self.guest = false;
        match first {
            Some(Some("guests")) => {
                let name = self.header_keys.get(1).copied().filter(|n| is_bare(n));
                match name {
                    Some(name) if !self.array_header && self.header_keys.len() == 2 => {
                        self.names.push(name);
                        self.guest = true;
                    }
                    _ => self.whole = true,
                }
            }
            Some(Some(_)) => {}
            // A first key whose name this cannot tell without decoding.
            _ => self.whole = true,
        }
    }

    fn key(&mut self, span: toml_parser::Span) {
        let raw = self.raw(span);
        if self.at == At::Header {
            self.header_keys.push(raw);
            return;
        }
        if self.depth > 0 {
            // A key of an inline table: a guest's segment has none.
            if self.guest {
                self.whole = true;
            }
            return;
        }
        if self.in_key {
            // The second part of a dotted key.
            if self.guest {
                self.whole = true;
            }
            return;
        }
        self.in_key = true;
        if self.guest {
            // Only bare keys, each once: then no key in the segment can
            // collide with another unseen.
            if !is_bare(raw) || self.keys.contains(&raw) {
                self.whole = true;
            }
            self.keys.push(raw);
        } else if self.in_root {
            // In the root, `guests…` would define guests outside their
            // segments; a name that cannot be told without decoding might.
            match key_name(raw) {
                Some("guests") | None => self.whole = true,
                Some(_) => {}
            }
        }
    }

    fn scalar(&mut self, span: toml_parser::Span) {
        if !self.guest {
            return;
        }
        match plain_basic_string(self.raw(span)) {
            Some(true) => {}
            // Escapes: kept whatever was presented, so toml decodes (and
            // judges) them.
            _ if self.raw(span).contains('\\') => self.escaped = true,
            _ if toml::de::DeValue::parse(self.raw(span)).is_ok() => {}
            _ => self.whole = true,
        }
    }
}

/// A key's name when it can be told without decoding escapes: bare, or
/// quoted without a backslash. `None` otherwise.
fn key_name(raw: &str) -> Option<&str> {
    if is_bare(raw) {
        return Some(raw);
    }
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))?;
    (!raw.contains('\\')).then_some(inner)
}

fn is_bare(raw: &str) -> bool {
    !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// For a basic string (`"…"`, the form keys are written in): whether it
/// holds only TOML's `basic-unescaped` characters (tab, and printable
/// characters but `"` and `\\`), so that it decodes to exactly its text
/// without error (toml_parser's `decode_basic_string` has no other error for
/// a string without escapes). `None` for any other kind of value, which
/// [`Cutter::scalar`] has toml itself parse. One branch-free pass: this runs
/// over every key of the config.
fn plain_basic_string(raw: &str) -> Option<bool> {
    let b = raw.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' || raw.starts_with("\"\"\"") {
        return None;
    }
    // Bytes, not bools, so that the compiler vectorizes the pass.
    let bad = b[1..b.len() - 1].iter().fold(0u8, |bad, &c| {
        bad | (u8::from(c < 0x20) & u8::from(c != b'\t'))
            | u8::from(c == 0x7f)
            | u8::from(c == b'"')
            | u8::from(c == b'\\')
    });
    Some(bad == 0)
}

impl EventReceiver for Cutter<'_> {
    fn std_table_open(&mut self, span: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.open_header(span, false);
    }
    fn std_table_close(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.close_header();
    }
    fn array_table_open(&mut self, span: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.open_header(span, true);
    }
    fn array_table_close(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.close_header();
    }
    fn inline_table_open(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) -> bool {
        if self.guest {
            self.whole = true;
        }
        self.depth += 1;
        true
    }
    fn inline_table_close(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.depth = self.depth.saturating_sub(1);
    }
    fn array_open(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) -> bool {
        self.depth += 1;
        true
    }
    fn array_close(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.depth = self.depth.saturating_sub(1);
    }
    fn simple_key(
        &mut self,
        span: toml_parser::Span,
        _: Option<toml_parser::decoder::Encoding>,
        _: &mut dyn ErrorSink,
    ) {
        self.key(span);
    }
    fn key_val_sep(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.in_key = false;
    }
    fn scalar(
        &mut self,
        span: toml_parser::Span,
        _: Option<toml_parser::decoder::Encoding>,
        _: &mut dyn ErrorSink,
    ) {
        Cutter::scalar(self, span);
    }
    fn error(&mut self, _: toml_parser::Span, _: &mut dyn ErrorSink) {
        self.whole = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/c.toml";
    const A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY";
    const B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBz4V3l5q1BUz1nO0b9H4WZkWn7oYqg0lq6pQX3kzKvB";

    /// What a login would see: `None` when the file is read whole.
    fn filtered(
        text: &str,
        keys: &[(&str, &str)],
        principals: &[&str],
    ) -> Option<Result<Config, Error>> {
        let layout = scan(text)?;
        let file = Path::new(FILE);
        Some(
            layout
                .parse(file, text, &layout.no_guests())
                .and_then(|mut settings| {
                    let keep = layout.keeps(text, keys, principals);
                    let found = layout.parse(file, text, &keep)?;
                    assert_eq!(found.guests.is_empty(), !keep.contains(&true));
                    settings.guests = found.guests;
                    Ok(settings)
                }),
        )
    }

    /// The filtered load agrees with the whole parse: the same settings,
    /// and every guest holding a presented key or principal, exactly; no
    /// guest the whole config does not have.
    fn agrees(text: &str, keys: &[(&str, &str)], principals: &[&str]) -> Config {
        let whole = parse_main(Path::new(FILE), text).unwrap();
        let got = filtered(text, keys, principals)
            .expect("a config of the usual shape takes the filtered path")
            .unwrap();
        let mut bare = got.clone();
        bare.guests.clear();
        let mut want = whole.clone();
        want.guests.clear();
        assert_eq!(bare, want, "settings");
        for (name, g) in &got.guests {
            assert_eq!(Some(g), whole.guests.get(name), "{name}");
        }
        for (name, g) in &whole.guests {
            let holds = g
                .all_keys()
                .any(|k| keys.contains(&(k.key_type.as_str(), k.base64.as_str())))
                || g.principals
                    .iter()
                    .any(|p| principals.contains(&p.as_str()));
            if holds {
                assert_eq!(got.guests.get(name), Some(g), "{name} holds it");
            }
        }
        got
    }

    fn names(c: &Config) -> Vec<&str> {
        c.guests.keys().map(|g| g.as_str()).collect()
    }

    /// A key unlike any other, by number.
    fn key(i: u32) -> String {
        numbered_key(i, 7)
    }

    fn b64(i: u32) -> String {
        key(i).split(' ').nth(1).unwrap().to_string()
    }

    /// `s` with every character written as a TOML `\uXXXX` escape.
    fn escaped(s: &str) -> String {
        s.chars().map(|c| format!("\\u{:04X}", c as u32)).collect()
    }

    const SETTINGS: &str = "# comment\npair_user = \"pair\"\nhosts_dir = \"/etc/pairshell/hosts.d\"\n\n[audit]\nrequired = false\n";

    #[test]
    fn generated_configs_give_exactly_what_the_whole_parse_gives() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for round in 0..20 {
            let mut text = String::from(SETTINGS);
            let mut moved = false;
            let guests = 5 + next(40) as u32;
            for g in 0..guests {
                text.push_str(&format!("\n[guests.g{g}]\n"));
                let mut list = Vec::new();
                for j in 0..1 + next(3) as u32 {
                    // Keys drawn from a small pool, so some are shared.
                    let k = key(next(u64::from(guests) * 2) as u32);
                    let line = format!("{k} g{g}-{j}@x");
                    list.push(match next(6) {
                        0 => format!("\"{}\"", escaped(&line)),
                        1 => format!("'{line}'"),
                        _ => format!("\"{line}\""),
                    });
                }
                let field = if next(4) == 0 { "github_keys" } else { "keys" };
                text.push_str(&format!("{field} = [{}]\n", list.join(", ")));
                if next(3) == 0 {
                    text.push_str(&format!("principals = [\"p{}@x\"]\n", next(8)));
                }
                if next(3) == 0 {
                    text.push_str("expires = 2030-01-01T00:00:00Z # until then\n");
                }
                if next(5) == 0 && !moved {
                    moved = true;
                    // A settings table between guests' tables.
                    text.push_str(&format!("\n[audit]\nrequired = {}\n", round % 2 == 0));
                    text = text.replacen("\n[audit]\nrequired = false\n", "\n", 1);
                }
            }
            for i in 0..guests * 2 {
                let b = b64(i);
                agrees(&text, &[("ssh-ed25519", &b)], &[]);
                agrees(&text, &[("ssh-rsa", &b)], &[&format!("p{}@x", i % 8)]);
            }
            agrees(&text, &[], &[]);
        }
    }

    /// Many chunks of tokens (see `scan`): the same answers, a line that
    /// starts with `[` inside a multi-line array is not taken for a header,
    /// and an error in the last chunk, or one that only a cut in the wrong
    /// place would hide, still refuses.
    #[test]
    fn configs_of_many_chunks_agree_with_the_whole_parse() {
        let mut text = String::from(SETTINGS);
        for g in 0..3000u32 {
            text.push_str(&format!("\n[guests.g{g}]\nkeys = [\"{} g{g}\"]\n", key(g)));
            if g % 500 == 7 {
                // Valid TOML: a nested array whose lines start with `[`.
                text.push_str("other = [\n[\n\"a\"],\n[\"b\"]\n]\n");
            }
        }
        assert!(Source::new(&text).lex().count() > 4 * CHUNK);
        for g in [0, 7, 1500, 2999] {
            let b = b64(g);
            let got = filtered(&text, &[("ssh-ed25519", &b)], &[]).unwrap();
            if g % 500 == 7 {
                // Its own table has a field that does not exist.
                assert!(got.is_err());
            } else {
                assert_eq!(names(&got.unwrap()), [format!("g{g}")]);
            }
        }
        for tail in [
            "\n[guests.zz]\nkeys = [\"x\"\n",
            "\n[guests.zz]\nkeys = [\n\n[guests.zy]\nkeys = []\n",
            "\n[guests.g5]\nkeys = []\n",
        ] {
            let broken = format!("{text}{tail}");
            let whole = parse_main(Path::new(FILE), &broken).unwrap_err();
            let b = b64(0);
            if let Some(got) = filtered(&broken, &[("ssh-ed25519", &b)], &[]) {
                let got = got.map(|_| ()).expect_err(tail);
                assert_eq!(got.to_string(), whole.to_string());
            }
        }
    }

    #[test]
    fn key_spelled_with_toml_escapes_in_a_stale_config_still_finds_its_guest() {
        let text = format!(
            "{SETTINGS}\n[guests.alice]\nkeys = [\"{}\"]\n\n[guests.bob]\nkeys = [\"ssh-ed25519 {B}\"]\n",
            escaped(&format!("ssh-ed25519 {A} alice@laptop"))
        );
        // The base64 is nowhere in the text as written.
        assert!(!text.contains(A));
        let got = agrees(&text, &[("ssh-ed25519", A)], &[]);
        assert_eq!(names(&got), ["alice"]);
        // A principal spelled with escapes too.
        let text = format!(
            "{SETTINGS}\n[guests.carol]\nprincipals = [\"{}\"]\n",
            escaped("carol@example")
        );
        assert_eq!(names(&agrees(&text, &[], &["carol@example"])), ["carol"]);
    }

    #[test]
    fn key_held_by_two_guests_in_a_stale_config_brings_both_so_it_identifies_neither() {
        let text = format!(
            "{SETTINGS}\n[guests.alice]\nkeys = [\"ssh-ed25519 {A}\"]\n\n[guests.bob]\nkeys = [\"ssh-ed25519 {B}\"]\n\n[guests.mallory]\ngithub_keys = ['ssh-ed25519 {A} copied']\n"
        );
        let got = agrees(&text, &[("ssh-ed25519", A)], &[]);
        assert_eq!(names(&got), ["alice", "mallory"]);
        // Both are there, so `policy::guest_for_key` finds the key shared
        // and refuses it, as with the whole config (policy's own tests).
    }

    #[test]
    fn typo_in_the_guests_own_table_still_refuses() {
        // The key sits under a misspelt field: the guest is kept, and its
        // table refused as the whole parse refuses it.
        let text = format!("{SETTINGS}\n[guests.alice]\nkyes = [\"ssh-ed25519 {A}\"]\n");
        let whole = parse_main(Path::new(FILE), &text).unwrap_err();
        let got = filtered(&text, &[("ssh-ed25519", A)], &[])
            .unwrap()
            .unwrap_err();
        assert_eq!(got.to_string(), whole.to_string());
    }

    #[test]
    fn schema_error_in_another_guests_table_does_not_refuse_this_guest() {
        // The chosen behaviour (pairshell.toml(5), "The index"): bob's typo
        // is `check`'s and `index`'s to report, not a refusal of alice.
        let text = format!(
            "{SETTINGS}\n[guests.alice]\nkeys = [\"ssh-ed25519 {A}\"]\n\n[guests.bob]\nkeys = [\"ssh-ed25519 {B}\"]\nread_wirte = true\n\n[guests.carol]\nkeys = [\"not a key\"]\n"
        );
        assert!(parse_main(Path::new(FILE), &text).is_err());
        let got = filtered(&text, &[("ssh-ed25519", A)], &[])
            .unwrap()
            .unwrap();
        assert_eq!(names(&got), ["alice"]);
        // Bob himself is refused, at bob's line.
        let err = filtered(&text, &[("ssh-ed25519", B)], &[])
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains(":13:"), "{err}");
        assert!(err.to_string().contains("read_wirte"), "{err}");
    }

    #[test]
    fn toml_errors_anywhere_still_refuse_as_the_whole_parse_does() {
        let head = format!("{SETTINGS}\n[guests.alice]\nkeys = [\"ssh-ed25519 {A}\"]\n");
        for (what, tail) in [
            (
                "a syntax error after the guest's table",
                "\n[guests.bob]\nkeys = [\"x\"\n",
            ),
            ("a duplicate table", "\n[guests.alice]\nkeys = []\n"),
            (
                "a duplicate table of another guest",
                "\n[guests.bob]\nkeys = []\n\n[guests.bob]\nkeys = []\n",
            ),
            (
                "a duplicate key in another guest",
                "\n[guests.bob]\nkeys = []\nkeys = []\n",
            ),
            (
                "a bad date in another guest",
                "\n[guests.bob]\nexpires = 2030-13-45T00:00:00Z\n",
            ),
            (
                "a control character in another guest's string",
                "\n[guests.bob]\nkeys = [\"a\u{1}b\"]\n",
            ),
            (
                "a bad escape in another guest",
                "\n[guests.bob]\nkeys = [\"\\q\"]\n",
            ),
            ("a duplicate settings table", "\n[audit]\nrequired = true\n"),
            ("a table redefining a guest", "\n[guests]\nalice = 1\n"),
            (
                "a dotted key redefining a guest",
                "\n[guests.bob]\nkeys = []\n[guests.bob.keys]\n",
            ),
            ("a bad comment", "\n# \u{7f}\n"),
        ] {
            let text = format!("{head}{tail}");
            let whole = parse_main(Path::new(FILE), &text)
                .expect_err(what)
                .to_string();
            // Read whole (the very same error), or refused by the filtered
            // load at the same place.
            if let Some(got) = filtered(&text, &[("ssh-ed25519", A)], &[]) {
                let got = got.map(|_| ()).expect_err(what);
                assert_eq!(got.to_string(), whole, "{what}");
            }
        }
    }

    #[test]
    fn unusual_shapes_are_read_whole() {
        for text in [
            format!("{SETTINGS}\n[guests]\nalice = {{ keys = [\"ssh-ed25519 {A}\"] }}\n"),
            format!("guests.alice.keys = [\"ssh-ed25519 {A}\"]\n{SETTINGS}"),
            format!("pair_user = \"pair\"\n\"guests\".alice.keys = [\"ssh-ed25519 {A}\"]\n"),
            format!("{SETTINGS}\n[guests.alice]\nkeys.x = 1\n"),
            format!("{SETTINGS}\n[guests.\"alice\"]\nkeys = []\n"),
            format!("{SETTINGS}\n[guests.alice]\n\"keys\" = []\n"),
            format!("{SETTINGS}\n[[guests.alice]]\nkeys = []\n"),
            format!("{SETTINGS}\n[guests.alice.more]\nkeys = []\n"),
            format!("{SETTINGS}\n[guests.alice]\nx = {{ a = 1 }}\n"),
        ] {
            assert!(scan(&text).is_none(), "{text}");
        }
        // The usual shape is not: the check above is not vacuous. A quoted
        // `"guests"` without escapes is understood as what it is.
        for text in [
            format!("{SETTINGS}\n[guests.alice]\nkeys = [\"ssh-ed25519 {A}\"]\n"),
            format!("{SETTINGS}\n[ \"guests\" . alice ]\nkeys = [\"ssh-ed25519 {A}\"]\n"),
        ] {
            assert_eq!(names(&agrees(&text, &[("ssh-ed25519", A)], &[])), ["alice"]);
        }
    }
}
