//! The `SSH_USER_AUTH` file sshd writes: any bytes. Besides "no panic",
//! checks that an accepted file yields one key per `publickey` line, each a
//! plain key (a certificate yields the key it certifies) whose `TYPE BASE64`
//! text parses back to the same key and fingerprint, and can be registered
//! in the config as it stands; and that a refusal's detail, which reaches
//! the audit line, holds no control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pairshell::fuzzing::{config_main, ssh_user_auth, Key};

fuzz_target!(|raw: &[u8]| {
    let keys = match ssh_user_auth(raw) {
        Ok(keys) => keys,
        Err((reason, detail)) => {
            assert!(!reason.is_empty());
            assert!(!detail.chars().any(char::is_control), "{detail:?}");
            return;
        }
    };
    let text = std::str::from_utf8(raw).expect("only text is accepted");
    let publickey_lines = text
        .lines()
        .map(str::trim)
        .filter(|l| l.split(' ').next() == Some("publickey"))
        .count();
    assert_eq!(keys.len(), publickey_lines);
    assert!(!keys.is_empty());

    for key in &keys {
        assert!(!key.key_type.ends_with("-cert-v01@openssh.com"), "{key:?}");
        let fp = key
            .fingerprint
            .strip_prefix("SHA256:")
            .expect("SHA256: prefix");
        assert_eq!(fp.len(), 43, "{key:?}");

        // The plain key's text round-trips to the same key.
        let again =
            ssh_user_auth(format!("publickey {} {}\n", key.key_type, key.base64).as_bytes())
                .expect("the plain key of an accepted line parses");
        let plain = Key {
            certificate: None,
            ..key.clone()
        };
        assert_eq!(again, vec![plain]);

        // And the config accepts it as a guest's key, unchanged: the login
        // path compares the two texts.
        let config = format!(
            "pair_user = \"pair\"\n[guests.g]\nkeys = [\"{} {} comment\"]\n",
            key.key_type, key.base64
        );
        let config = config_main(config.as_bytes()).expect("config accepts the key");
        assert_eq!(
            config.guests[0].1,
            vec![(key.key_type.clone(), key.base64.clone())]
        );
    }
});
