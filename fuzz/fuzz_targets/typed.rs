//! A guest's input as `pairshell typed` decodes it: any bytes at all,
//! split into chunks at 0xfe (never valid UTF-8). Besides "no panic",
//! checks that what `typed` would print holds no control character (a
//! guest's keys must never drive the admin's terminal), and that input
//! without escape sequences (whose bytes, a mouse report's for one, may
//! be anything) shows every Enter as `⏎`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pairshell::fuzzing::typed;

fuzz_target!(|raw: &[u8]| {
    let shown = typed(raw);
    assert!(!shown.chars().any(char::is_control), "{raw:?} → {shown:?}");
    let has_enter = raw.iter().any(|b| *b == b'\r' || *b == b'\n');
    if has_enter && !raw.contains(&0x1b) {
        assert!(shown.contains('⏎'), "{raw:?} → {shown:?}");
    }
});
