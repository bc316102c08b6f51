//! The admin's main config and a host's file: any bytes. The input is split
//! at its first NUL (which TOML text cannot hold): the part before is the
//! main config, the part after a host file; without a NUL both parse the
//! whole input. Besides "no panic", checks that an accepted file holds only
//! names that obey the name rules, absolute paths and well-formed keys, that
//! every session a host can share is a request a guest can make, and that a
//! refusal points at a line and column that exist in the text; and that a
//! login without a usable index (the stale path) finds exactly the guests
//! the whole parse says hold each key.
#![no_main]

mod rules;

use libfuzzer_sys::fuzz_target;
use pairshell::fuzzing::{
    config_host, config_main, config_stale_agrees, request, ConfigError, Request,
};

fuzz_target!(|raw: &[u8]| {
    let (main, host) = match raw.iter().position(|&b| b == 0) {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, raw),
    };

    config_stale_agrees(main);

    match config_main(main) {
        Ok(c) => {
            assert!(rules::login(&c.pair_user), "{c:?}");
            assert!(rules::login(&c.socket_group), "{c:?}");
            assert!(c.paths.iter().all(|p| p.is_absolute()), "{c:?}");
            for (guest, keys) in &c.guests {
                assert!(rules::guest(guest), "{guest:?}");
                for (key_type, base64) in keys {
                    assert!(
                        !key_type.is_empty()
                            && key_type
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-@._".contains(&b)),
                        "{key_type:?}"
                    );
                    assert!(
                        base64.len() >= 16
                            && base64
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
                        "{base64:?}"
                    );
                }
            }
        }
        Err(e) => check_error(main, "/etc/pairshell/pairshell.toml", &e),
    }

    match config_host(host) {
        Ok(sessions) => {
            for s in &sessions {
                assert!(rules::session(&s.name), "{s:?}");
                assert!(s.socket.is_absolute(), "{s:?}");
                assert!(s.guests.iter().all(|g| rules::guest(g)), "{s:?}");
                assert_eq!(
                    request(s.name.as_bytes()),
                    Ok(Request::Join {
                        host: None,
                        session: s.name.clone()
                    })
                );
            }
        }
        Err(e) => check_error(host, "/etc/pairshell/hosts.d/maria.toml", &e),
    }
});

/// A refusal names the file, and a line and column inside the text.
fn check_error(raw: &[u8], file: &str, e: &ConfigError) {
    assert!(e.message.starts_with(file), "{e:?}");
    let Some((line, column)) = e.at else { return };
    let text = std::str::from_utf8(raw).expect("only text reaches the TOML parser");
    assert!(
        e.message.starts_with(&format!("{file}:{line}:{column}: ")),
        "{e:?}"
    );
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        line >= 1 && line <= lines.len(),
        "{e:?} in {} lines",
        lines.len()
    );
    let width = lines[line - 1].chars().count();
    assert!(
        column >= 1 && column <= width + 1,
        "{e:?}: line {line} is {width} wide"
    );
}
