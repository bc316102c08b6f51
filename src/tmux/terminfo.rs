//! The guest's terminal type and character set, as the tmux client will
//! need them.
//!
//! The tmux client reads the terminfo entry for `TERM` itself, and refuses
//! to start ("missing or unsuitable terminal") when the host has none. Many
//! guests' terminals are newer than the host's terminfo database (Ghostty's
//! `xterm-ghostty`, kitty's `xterm-kitty`, WezTerm, foot …), and all of them
//! speak xterm's language, so a TERM the host lacks is replaced by one it
//! has. The client runs with a cleared environment (no `TERMINFO`,
//! `TERMINFO_DIRS` or `HOME`), so ncurses looks only in its compiled-in
//! system directories, and so does [`installed`]. No crate does just this
//! lookup (the terminfo crates parse the entry too, which the client does
//! anyway), so it is a few lines here.
//!
//! The character set: tmux draws UTF-8 for a client only when that client's
//! `LC_ALL`, `LC_CTYPE` or `LANG` says UTF-8, or with `-u`. Many ssh clients
//! (PuTTY, Windows OpenSSH, mobile ones, `ssh -F none`) send no locale at
//! all, and such a guest would see `_` for every non-ASCII character. So a
//! guest who sent none gets UTF-8 ([`Choice::utf8`]); one whose locale
//! names another charset keeps it.

use std::path::Path;

/// Where ncurses (Debian's, and most distributions') looks for terminfo
/// entries when no `TERMINFO`, `TERMINFO_DIRS` or `~/.terminfo` applies:
/// its compiled-in `TERMINFO_DIRS` (`infocmp -D`), then the default
/// `TERMINFO`, and `/usr/lib/terminfo` where other systems keep it.
pub(crate) const SYSTEM_DIRS: &[&str] = &[
    "/etc/terminfo",
    "/lib/terminfo",
    "/usr/share/terminfo",
    "/usr/lib/terminfo",
];

/// What the guest's terminal is told to be, tried in order when the host
/// has no entry for the guest's own TERM. Every modern emulator speaks
/// xterm's sequences; `vt100` is in every terminfo database.
const FALLBACKS: &[&str] = &["xterm-256color", "xterm", "vt100"];

/// The same, for a guest whose TERM is screen's or tmux's own (a guest
/// inside their own tmux).
const MULTIPLEXER_FALLBACKS: &[&str] = &["tmux-256color", "screen-256color", "screen"];

/// The terminal the guest's tmux client runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Choice {
    /// The guest's own TERM.
    pub(crate) asked: String,
    /// The TERM the client gets: `asked`, or a fallback the host has.
    pub(crate) used: String,
    /// Whether the client is told the terminal is UTF-8 (tmux's `-u`):
    /// the guest sent no locale.
    pub(crate) utf8: bool,
}

/// Why a guest's terminal cannot show a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unsuitable {
    /// The ssh client sent no terminal type.
    NoTerm,
    /// `dumb`: a terminal that cannot move its cursor.
    Dumb,
    /// Neither the guest's TERM nor any fallback is installed.
    NoneInstalled(String),
}

impl Unsuitable {
    /// The guest's words: what is wrong and what to do.
    pub(crate) fn message(&self) -> String {
        match self {
            Unsuitable::NoTerm => "your ssh client sent no terminal type (TERM is empty), \
                 so a tmux session cannot be drawn; run ssh from a terminal, \
                 or give one: TERM=xterm-256color ssh -t …"
                .into(),
            Unsuitable::Dumb => "your terminal says it is \"dumb\" (TERM=dumb) and cannot \
                 show a tmux session; run ssh from a full terminal, \
                 or give one: TERM=xterm-256color ssh -t …"
                .into(),
            Unsuitable::NoneInstalled(term) => format!(
                "this host has no terminal description for {term} nor any fallback; \
                 the admin has been told"
            ),
        }
    }

    /// The `reason` of the `deny` line.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Unsuitable::NoTerm | Unsuitable::Dumb => "unsuitable-terminal",
            Unsuitable::NoneInstalled(_) => "no-terminfo",
        }
    }
}

/// Decide the client's terminal from the guest's TERM and locale
/// (`var` reads one variable of pairshell's environment), with `have`
/// saying whether the host has an entry for a name.
pub(crate) fn choose(
    var: impl Fn(&str) -> Option<String>,
    have: impl Fn(&str) -> bool,
) -> Result<Choice, Unsuitable> {
    let asked = var("TERM").unwrap_or_default();
    if asked.is_empty() {
        return Err(Unsuitable::NoTerm);
    }
    if asked == "dumb" {
        return Err(Unsuitable::Dumb);
    }
    let utf8 = sent_no_locale(&var);
    if valid_name(&asked) && have(&asked) {
        return Ok(Choice {
            used: asked.clone(),
            asked,
            utf8,
        });
    }
    let family = if asked.starts_with("screen") || asked.starts_with("tmux") {
        MULTIPLEXER_FALLBACKS
    } else {
        &[]
    };
    family
        .iter()
        .chain(FALLBACKS)
        .find(|name| have(name))
        .map(|name| Choice {
            asked: asked.clone(),
            used: name.to_string(),
            utf8,
        })
        .ok_or(Unsuitable::NoneInstalled(asked))
}

/// The choice for this process's environment and the host's system
/// terminfo directories.
pub(crate) fn choose_here() -> Result<Choice, Unsuitable> {
    choose(
        |name| std::env::var(name).ok(),
        |term| installed(term, SYSTEM_DIRS),
    )
}

/// Whether the guest sent no locale: `LC_ALL`, `LC_CTYPE` and `LANG`, the
/// three tmux reads (in that order) to decide on UTF-8, are all unset or
/// empty. A guest who sent any, UTF-8 or not, keeps what they sent.
fn sent_no_locale(var: &impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .all(|name| var(name).is_none_or(|v| v.is_empty()))
}

/// A name ncurses would look up: no path separator, not a dot file, no
/// spaces or control characters, not absurdly long. Anything else is
/// treated as not installed (and so falls back).
fn valid_name(term: &str) -> bool {
    !term.is_empty()
        && term.len() <= 128
        && !term.starts_with('.')
        && term.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// Whether one of `dirs` holds an entry for `term`, as ncurses finds it:
/// `DIR/<first letter>/TERM`, or `DIR/<first byte in hex>/TERM` (the
/// layout of case-insensitive file systems).
pub(crate) fn installed(term: &str, dirs: &[impl AsRef<Path>]) -> bool {
    if !valid_name(term) {
        return false;
    }
    let first = term.as_bytes()[0];
    let leaves = [(first as char).to_string(), format!("{first:02x}")];
    dirs.iter().any(|dir| {
        leaves
            .iter()
            .any(|leaf| dir.as_ref().join(leaf).join(term).is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn have(names: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |term| names.contains(&term)
    }

    #[test]
    fn an_installed_term_is_kept() {
        let c = choose(env(&[("TERM", "xterm-kitty")]), have(&["xterm-kitty"])).unwrap();
        assert_eq!(
            (c.asked.as_str(), c.used.as_str()),
            ("xterm-kitty", "xterm-kitty")
        );
    }

    #[test]
    fn a_term_the_host_lacks_falls_back_to_one_it_has() {
        let c = choose(
            env(&[("TERM", "xterm-ghostty")]),
            have(&["xterm", "xterm-256color"]),
        )
        .unwrap();
        assert_eq!(
            (c.asked.as_str(), c.used.as_str()),
            ("xterm-ghostty", "xterm-256color")
        );
        // The first fallback the host has, in order.
        let c = choose(env(&[("TERM", "foot")]), have(&["vt100", "xterm"])).unwrap();
        assert_eq!(c.used, "xterm");
    }

    #[test]
    fn a_multiplexer_term_falls_back_within_its_family_first() {
        let c = choose(
            env(&[("TERM", "tmux-direct")]),
            have(&["screen-256color", "xterm-256color"]),
        )
        .unwrap();
        assert_eq!(c.used, "screen-256color");
    }

    #[test]
    fn empty_and_dumb_terms_are_refused_with_a_reason() {
        assert_eq!(choose(env(&[]), have(&["dumb"])), Err(Unsuitable::NoTerm));
        assert_eq!(
            choose(env(&[("TERM", "")]), have(&["xterm"])),
            Err(Unsuitable::NoTerm)
        );
        let dumb = choose(env(&[("TERM", "dumb")]), have(&["dumb", "xterm"])).unwrap_err();
        assert_eq!(dumb, Unsuitable::Dumb);
        assert!(
            dumb.message().contains("TERM=xterm-256color"),
            "{}",
            dumb.message()
        );
        assert_eq!(
            choose(env(&[("TERM", "weird")]), have(&[])),
            Err(Unsuitable::NoneInstalled("weird".into()))
        );
    }

    #[test]
    fn term_names_that_are_paths_are_never_looked_up() {
        let lookups = std::cell::RefCell::new(Vec::new());
        let spy = |t: &str| {
            lookups.borrow_mut().push(t.to_string());
            t == "xterm-256color"
        };
        for bad in [
            "../../etc/passwd",
            "x/../../y",
            ".hidden",
            "a b",
            "x\u{1b}]",
        ] {
            let c = choose(env(&[("TERM", bad)]), spy).unwrap();
            assert_eq!(c.used, "xterm-256color", "{bad}");
            assert_eq!(c.asked, bad);
        }
        assert!(lookups.borrow().iter().all(|t| t == "xterm-256color"));
        assert!(!installed("../x", &["/lib/terminfo"]));
    }

    #[test]
    fn no_locale_means_utf8_and_a_sent_locale_is_kept() {
        let utf8 = |pairs: &[(&str, &str)]| {
            let mut all = vec![("TERM", "xterm")];
            all.extend_from_slice(pairs);
            choose(env(&all), have(&["xterm"])).unwrap().utf8
        };
        assert!(utf8(&[]));
        assert!(utf8(&[("LANG", ""), ("LC_ALL", "")]));
        assert!(!utf8(&[("LANG", "en_US.ISO-8859-1")]));
        assert!(!utf8(&[("LC_CTYPE", "C.UTF-8")]), "tmux reads it itself");
        assert!(!utf8(&[("LC_ALL", "de_DE@euro")]));
    }

    #[test]
    fn entries_are_found_by_letter_and_by_hex_directory() {
        let root = std::env::temp_dir().join(format!("pairshell-terminfo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(a.join("x")).unwrap();
        std::fs::create_dir_all(b.join("6b")).unwrap();
        std::fs::write(a.join("x/xterm-ghostty"), b"").unwrap();
        std::fs::write(b.join("6b/kitty"), b"").unwrap();
        // A directory of that name is not an entry.
        std::fs::create_dir_all(a.join("f/foot")).unwrap();
        let dirs = [a.clone(), b.clone(), root.join("missing")];
        assert!(installed("xterm-ghostty", &dirs));
        assert!(installed("kitty", &dirs));
        assert!(!installed("foot", &dirs));
        assert!(!installed("xterm", &dirs));
        assert!(!installed("", &dirs));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn this_hosts_system_directories_have_the_first_fallback() {
        // The lab's and CI's Debian has ncurses-base; where there is no
        // terminfo at all, there is nothing to check.
        if SYSTEM_DIRS.iter().any(|d| Path::new(d).is_dir()) {
            assert!(FALLBACKS.iter().any(|t| installed(t, SYSTEM_DIRS)));
        }
    }
}
