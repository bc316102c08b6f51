//! The name rules of `src/core/request.rs`, written again from its grammar
//! comment, so the targets check the parsers against the spec rather than
//! against themselves. Each target uses the rules its input can hold.
#![allow(dead_code)]

/// `[A-Za-z0-9_]` then up to `max - 1` of `[A-Za-z0-9_-]` or `extra`.
fn name(s: &str, max: usize, extra: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok
        && s.len() <= max
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(c))
        && !s.chars().any(char::is_control)
}

/// A tmux session name: no `.` or `:` (tmux target syntax), no leading `-`.
pub fn session(s: &str) -> bool {
    name(s, 64, "")
}

/// A Unix login (a host, `pair_user`, `socket_group`).
pub fn login(s: &str) -> bool {
    name(s, 32, ".")
}

/// A guest's name in the config.
pub fn guest(s: &str) -> bool {
    name(s, 64, ".")
}
