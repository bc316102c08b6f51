//! Pure policy: who is this key, and what may they join?
//!
//! `(config, guest, now) -> grants`, with no I/O, so every rule is tested
//! with plain values. The login path asks three questions in turn:
//! [`guest_for_key`] (whose key is this, and is that guest current?),
//! [`grants`] (which sessions are shared with them, in which mode), and
//! [`resolve`] (which one did their request name?).
#![forbid(unsafe_code)]

use jiff::Timestamp;

use crate::config::{Config, Guest, Host, HostFile, Share};
use crate::core::mode::Mode;
use crate::core::request::Target;

/// What the config says about a key.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum KeyOwner<'a> {
    Current(&'a str, &'a Guest),
    Expired(&'a str, &'a Guest),
    /// Listed under two guests: no way to tell who this is, so nobody.
    Shared(&'a str, &'a str),
    Unknown,
}

/// Find the guest whose `keys` list holds this key. Keys are compared by type
/// and base64 text: sshd and `ssh-keygen` both write the canonical encoding,
/// so equal keys have equal text, and nothing needs decoding.
pub(crate) fn guest_for_key<'a>(
    config: &'a Config,
    key_type: &str,
    base64: &str,
    now: Timestamp,
) -> KeyOwner<'a> {
    let mut owners = config.guests.iter().filter(|(_, guest)| {
        guest
            .all_keys()
            .any(|k| k.base64 == base64 && k.key_type == key_type)
    });
    let found = owners.next();
    if let (Some((first, _)), Some((second, _))) = (found, owners.next()) {
        return KeyOwner::Shared(first.as_str(), second.as_str());
    }
    match found {
        None => KeyOwner::Unknown,
        Some((name, guest)) if is_current(guest.expires, now) => {
            KeyOwner::Current(name.as_str(), guest)
        }
        Some((name, guest)) => KeyOwner::Expired(name.as_str(), guest),
    }
}

/// Find the guest one of whose `principals` the certificate names. The
/// certificate must already have been checked against the trusted CAs.
/// Principals of two different guests in one certificate identify nobody.
pub(crate) fn guest_for_principals<'a>(
    config: &'a Config,
    principals: &[String],
    now: Timestamp,
) -> (KeyOwner<'a>, Option<&'a str>) {
    let mut found: Option<(&'a str, &'a Guest, &'a str)> = None;
    for (name, guest) in &config.guests {
        let Some(p) = guest
            .principals
            .iter()
            .find(|p| principals.iter().any(|c| c == p.as_str()))
        else {
            continue;
        };
        match found {
            Some((first, _, _)) if first != name.as_str() => {
                return (KeyOwner::Shared(first, name.as_str()), None)
            }
            Some(_) => {}
            None => found = Some((name.as_str(), guest, p.as_str())),
        }
    }
    match found {
        None => (KeyOwner::Unknown, None),
        Some((name, guest, p)) if is_current(guest.expires, now) => {
            (KeyOwner::Current(name, guest), Some(p))
        }
        Some((name, guest, p)) => (KeyOwner::Expired(name, guest), Some(p)),
    }
}

/// A guest is current until the instant their `expires` names.
pub(crate) fn is_current(expires: Option<Timestamp>, now: Timestamp) -> bool {
    expires.is_none_or(|t| now < t)
}

/// One session a guest may join.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grant<'a> {
    pub(crate) host: &'a str,
    pub(crate) session: &'a str,
    pub(crate) share: &'a Share,
    pub(crate) mode: Mode,
}

impl Grant<'_> {
    pub(crate) fn label(&self) -> String {
        format!("{}/{}", self.host, self.session)
    }
}

/// The mode `share` grants to `guest`, if any. Read-write wins when a guest
/// is in both lists: the host named them as a writer.
pub(crate) fn mode_for(share: &Share, guest: &str, now: Timestamp) -> Option<Mode> {
    let guest_ends = share.guest_expires.get(guest).map(|e| e.0);
    if !is_current(share.expires, now) || !is_current(guest_ends, now) {
        return None;
    }
    listed_mode(share, guest)
}

/// The mode the share's lists name `guest` with, whatever the time.
fn listed_mode(share: &Share, guest: &str) -> Option<Mode> {
    if share.read_write.iter().any(|g| g.as_str() == guest) {
        Some(Mode::ReadWrite)
    } else if share.read_only.iter().any(|g| g.as_str() == guest) {
        Some(Mode::ReadOnly)
    } else {
        None
    }
}

/// What the live re-check of a joined guest found.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Verdict {
    /// Still granted, in `mode` (which the host may have changed since
    /// the join: the guest's pairshell switches the running client to it);
    /// access ends at `ends`, if ever.
    Granted { ends: Option<Timestamp>, mode: Mode },
    /// The host or admin took the access away; the text is for the guest.
    Revoked(String),
    /// An `expires` passed; the text is for the guest.
    Expired(String),
}

/// What a joined guest holds, to be checked again while they are attached.
#[derive(Clone, Debug)]
pub(crate) struct Joined {
    pub(crate) key_type: String,
    pub(crate) base64: String,
    /// The certificate principal that identified the guest, if one did:
    /// then that, not the key, is looked up again.
    pub(crate) principal: Option<String>,
    pub(crate) guest: String,
    pub(crate) host: String,
    pub(crate) session: String,
    pub(crate) socket: std::path::PathBuf,
    pub(crate) mode: Mode,
}

/// Whether a join in `mode` may go ahead when the kernel cannot confine the
/// tmux client (no Landlock).
///
/// Guards against: a read-write guest making their unconfined client exec a
/// shell as the pair account (`detach-client -E sh`), out of the session and
/// onto the machine. That takes the admin's explicit
/// `allow_unconfined_read_write`; a read-only client cannot run commands.
pub(crate) fn unconfined_join_allowed(mode: Mode, allow_unconfined_read_write: bool) -> bool {
    mode == Mode::ReadOnly || allow_unconfined_read_write
}

/// Decide again whether `joined` may stay, from the config and the host's
/// file as they are `now` (`host_file` is `None` when the host has no file
/// any more). The key is looked up afresh, so a key removed from the config
/// or moved to another guest ends the session too.
/// Whether the key (or certificate principal) that identified `name` at
/// login still belongs to that guest, who is still current: the guest's
/// entry, or why access has ended.
pub(crate) fn still_theirs<'a>(
    config: &'a Config,
    name: &str,
    key_type: &str,
    base64: &str,
    principal: Option<&str>,
    now: Timestamp,
) -> Result<&'a Guest, Verdict> {
    let owner = match principal {
        Some(p) => guest_for_principals(config, &[p.to_string()], now).0,
        None => guest_for_key(config, key_type, base64, now),
    };
    match owner {
        KeyOwner::Current(owner, guest) if owner == name => Ok(guest),
        KeyOwner::Expired(owner, _) if owner == name => {
            Err(Verdict::Expired(format!("access for {name} has expired")))
        }
        _ => Err(Verdict::Revoked(format!(
            "your key no longer belongs to {name} on this host"
        ))),
    }
}

pub(crate) fn recheck(
    config: &Config,
    host_file: Option<&HostFile>,
    joined: &Joined,
    now: Timestamp,
) -> Verdict {
    let label = format!("{}/{}", joined.host, joined.session);
    let guest = match still_theirs(
        config,
        &joined.guest,
        &joined.key_type,
        &joined.base64,
        joined.principal.as_deref(),
        now,
    ) {
        Ok(guest) => guest,
        Err(verdict) => return verdict,
    };
    let share = host_file.and_then(|f| f.sessions.get(joined.session.as_str()));
    let Some(share) = share.filter(|s| s.socket == joined.socket) else {
        return Verdict::Revoked(format!("{} stopped sharing {label}", joined.host));
    };
    let Some(listed) = listed_mode(share, &joined.guest) else {
        return Verdict::Revoked(format!("{} revoked your access to {label}", joined.host));
    };
    let guest_ends = share.guest_expires.get(joined.guest.as_str()).map(|e| e.0);
    if !is_current(share.expires, now) || !is_current(guest_ends, now) {
        return Verdict::Expired(format!("your access to {label} has expired"));
    }
    let ends = [guest.expires, share.expires, guest_ends]
        .into_iter()
        .flatten()
        .min();
    // A writer made a watcher, or the reverse, stays connected: the mode
    // is switched live (the relay stops or starts forwarding input).
    Verdict::Granted { ends, mode: listed }
}

/// Every session shared with `guest`, in host order then session order.
pub(crate) fn grants<'a>(hosts: &'a [Host], guest: &str, now: Timestamp) -> Vec<Grant<'a>> {
    hosts
        .iter()
        .flat_map(|host| {
            host.file.sessions.iter().filter_map(move |(name, share)| {
                mode_for(share, guest, now).map(|mode| Grant {
                    host: &host.login,
                    session: name.as_str(),
                    share,
                    mode,
                })
            })
        })
        .collect()
}

/// The outcome of matching a request against the guest's grants.
#[derive(Debug)]
#[must_use]
pub(crate) enum Resolution<'a> {
    Join(Grant<'a>),
    /// No grant has that name (exact match; `api` never matches `api-secret`).
    NotShared,
    /// A bare SESSION that several hosts share with this guest.
    Ambiguous(Vec<Grant<'a>>),
}

pub(crate) fn resolve<'a>(grants: &[Grant<'a>], target: &Target) -> Resolution<'a> {
    let mut matching: Vec<Grant<'a>> = grants
        .iter()
        .filter(|g| {
            g.session == target.session && target.host.as_deref().is_none_or(|h| h == g.host)
        })
        .copied()
        .collect();
    match matching.len() {
        0 => Resolution::NotShared,
        1 => Resolution::Join(matching.remove(0)),
        _ => Resolution::Ambiguous(matching),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_write_guest_on_a_kernel_without_landlock_is_refused_unless_the_admin_allows_it() {
        assert!(!super::unconfined_join_allowed(Mode::ReadWrite, false));
        assert!(super::unconfined_join_allowed(Mode::ReadWrite, true));
        assert!(super::unconfined_join_allowed(Mode::ReadOnly, false));
        assert!(super::unconfined_join_allowed(Mode::ReadOnly, true));
    }

    use super::*;
    use crate::config::{parse_host, parse_main};
    use nix::unistd::Uid;
    use std::path::Path;

    const ALICE: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGBa2mVXo3JFm9t1ixaTN0CNnxdtZs+XDA4y7gCg3vVY";
    const BOB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPz0jnbTBuvUeW7LbkDKKq0mJPpbzFmCpFHzWsB4ERsM";

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn now() -> Timestamp {
        ts("2026-11-20T12:00:00Z")
    }

    fn config() -> Config {
        parse_main(
            Path::new("/c"),
            &format!(
                r#"
pair_user = "pair"
[guests.alice]
keys = ["ssh-ed25519 {ALICE} alice@laptop"]
[guests.bob]
keys = ["ssh-ed25519 {BOB}"]
expires = 2026-11-01T00:00:00Z
"#
            ),
        )
        .unwrap()
    }

    fn host(login: &str, text: &str) -> Host {
        Host {
            login: login.into(),
            uid: Uid::from_raw(1000),
            file: parse_host(Path::new("/h"), text).unwrap(),
        }
    }

    fn hosts() -> Vec<Host> {
        vec![
            host(
                "maria",
                r#"
[sessions.api]
socket = "/run/pairshell/maria/api.sock"
read_write = ["alice"]
read_only = ["bob", "alice"]
[sessions.api-secret]
socket = "/run/pairshell/maria/secret.sock"
read_write = ["carol"]
[sessions.old]
socket = "/run/pairshell/maria/old.sock"
read_only = ["alice"]
expires = 2026-11-20T11:59:59Z
"#,
            ),
            host(
                "omar",
                r#"
[sessions.api]
socket = "/run/pairshell/omar/api.sock"
read_only = ["alice"]
[sessions.web]
socket = "/run/pairshell/omar/web.sock"
read_only = ["alice"]
"#,
            ),
        ]
    }

    #[test]
    fn key_finds_its_guest() {
        let c = config();
        assert!(matches!(
            guest_for_key(&c, "ssh-ed25519", ALICE, now()),
            KeyOwner::Current("alice", _)
        ));
    }

    #[test]
    fn key_of_expired_guest_is_expired() {
        let c = config();
        assert!(matches!(
            guest_for_key(&c, "ssh-ed25519", BOB, now()),
            KeyOwner::Expired("bob", _)
        ));
    }

    #[test]
    fn key_listed_under_two_guests_belongs_to_neither() {
        let c = parse_main(
            Path::new("/c"),
            &format!(
                "pair_user = \"pair\"\n[guests.alice]\nkeys = [\"ssh-ed25519 {ALICE}\"]\n[guests.mallory]\nkeys = [\"ssh-ed25519 {ALICE}\"]\n"
            ),
        )
        .unwrap();
        assert_eq!(
            guest_for_key(&c, "ssh-ed25519", ALICE, now()),
            KeyOwner::Shared("alice", "mallory")
        );
    }

    #[test]
    fn same_base64_with_another_type_is_unknown() {
        let c = config();
        assert_eq!(
            guest_for_key(&c, "ssh-rsa", ALICE, now()),
            KeyOwner::Unknown
        );
        assert_eq!(
            guest_for_key(&c, "ssh-ed25519", "AAAA", now()),
            KeyOwner::Unknown
        );
    }

    #[test]
    fn expiry_is_exclusive() {
        let t = ts("2026-11-20T12:00:00Z");
        assert!(is_current(None, t));
        assert!(is_current(Some(ts("2026-11-20T12:00:01Z")), t));
        assert!(!is_current(Some(t), t));
    }

    #[test]
    fn guest_in_both_lists_gets_read_write() {
        let h = hosts();
        let g = grants(&h, "alice", now());
        let api = g
            .iter()
            .find(|g| g.host == "maria" && g.session == "api")
            .unwrap();
        assert_eq!(api.mode, Mode::ReadWrite);
    }

    #[test]
    fn grants_list_exactly_what_is_shared_and_current() {
        let h = hosts();
        let labels: Vec<(String, Mode)> = grants(&h, "alice", now())
            .iter()
            .map(|g| (g.label(), g.mode))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("maria/api".to_string(), Mode::ReadWrite),
                ("omar/api".to_string(), Mode::ReadOnly),
                ("omar/web".to_string(), Mode::ReadOnly),
            ]
        );
        assert!(grants(&h, "mallory", now()).is_empty());
    }

    fn target(host: Option<&str>, session: &str) -> Target {
        Target {
            host: host.map(str::to_string),
            session: session.into(),
        }
    }

    #[test]
    fn bare_session_shared_by_two_hosts_is_ambiguous() {
        let h = hosts();
        let g = grants(&h, "alice", now());
        match resolve(&g, &target(None, "api")) {
            Resolution::Ambiguous(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        match resolve(&g, &target(Some("omar"), "api")) {
            Resolution::Join(g) => assert_eq!((g.host, g.mode), ("omar", Mode::ReadOnly)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve(&g, &target(None, "web")),
            Resolution::Join(_)
        ));
    }

    #[test]
    fn session_prefix_attack_gets_nothing() {
        // `api` is shared with bob, `api-secret` is not: asking for either
        // prefix or extension of a shared name matches nothing.
        let h = hosts();
        let g = grants(&h, "bob", now());
        assert!(matches!(
            resolve(&g, &target(None, "api-secret")),
            Resolution::NotShared
        ));
        assert!(matches!(
            resolve(&g, &target(None, "ap")),
            Resolution::NotShared
        ));
        assert!(matches!(
            resolve(&g, &target(Some("maria"), "api")),
            Resolution::Join(_)
        ));
    }

    #[test]
    fn expired_share_grants_nothing() {
        let h = hosts();
        let g = grants(&h, "alice", now());
        assert!(matches!(
            resolve(&g, &target(None, "old")),
            Resolution::NotShared
        ));
        let earlier = ts("2026-11-20T11:00:00Z");
        let g = grants(&h, "alice", earlier);
        assert!(matches!(
            resolve(&g, &target(None, "old")),
            Resolution::Join(_)
        ));
    }

    #[test]
    fn other_hosts_session_is_not_shared() {
        let h = hosts();
        let g = grants(&h, "bob", now());
        assert!(matches!(
            resolve(&g, &target(Some("omar"), "api")),
            Resolution::NotShared
        ));
    }

    fn joined(mode: Mode) -> Joined {
        Joined {
            key_type: "ssh-ed25519".into(),
            base64: ALICE.into(),
            principal: None,
            guest: "alice".into(),
            host: "maria".into(),
            session: "api".into(),
            socket: "/run/pairshell/maria/api.sock".into(),
            mode,
        }
    }

    fn file(text: &str) -> HostFile {
        parse_host(Path::new("/h"), text).unwrap()
    }

    const API_RW: &str =
        "[sessions.api]\nsocket = \"/run/pairshell/maria/api.sock\"\nread_write = [\"alice\"]\n";

    #[test]
    fn recheck_keeps_a_current_grant_and_says_when_it_ends() {
        let f = file(&format!("{API_RW}expires = 2026-11-20T13:00:00Z\n"));
        assert_eq!(
            recheck(&config(), Some(&f), &joined(Mode::ReadWrite), now()),
            Verdict::Granted {
                ends: Some(ts("2026-11-20T13:00:00Z")),
                mode: Mode::ReadWrite,
            }
        );
    }

    #[test]
    fn recheck_ends_a_revoked_guest() {
        let f = file(
            "[sessions.api]\nsocket = \"/run/pairshell/maria/api.sock\"\nread_write = [\"bob\"]\n",
        );
        assert!(matches!(
            recheck(&config(), Some(&f), &joined(Mode::ReadWrite), now()),
            Verdict::Revoked(_)
        ));
    }

    #[test]
    fn recheck_ends_an_unshared_session_and_a_removed_host_file() {
        let f = file("[sessions.web]\nsocket = \"/s\"\nread_write = [\"alice\"]\n");
        assert!(matches!(
            recheck(&config(), Some(&f), &joined(Mode::ReadOnly), now()),
            Verdict::Revoked(_)
        ));
        assert!(matches!(
            recheck(&config(), None, &joined(Mode::ReadOnly), now()),
            Verdict::Revoked(_)
        ));
    }

    #[test]
    fn recheck_ends_a_guest_whose_key_was_removed_while_connected() {
        let c = parse_main(Path::new("/c"), "pair_user = \"pair\"\n[guests.alice]\n").unwrap();
        assert!(matches!(
            recheck(&c, Some(&file(API_RW)), &joined(Mode::ReadWrite), now()),
            Verdict::Revoked(_)
        ));
    }

    #[test]
    fn recheck_ends_an_expired_share_guest_grant_and_guest() {
        let share_over = file(&format!("{API_RW}expires = 2026-11-20T12:00:00Z\n"));
        let grant_over = file(&format!(
            "{API_RW}guest_expires = {{ alice = 2026-11-20T11:00:00Z }}\n"
        ));
        for f in [share_over, grant_over] {
            assert!(matches!(
                recheck(&config(), Some(&f), &joined(Mode::ReadWrite), now()),
                Verdict::Expired(_)
            ));
        }
        let later = ts("2026-12-01T00:00:00Z");
        let mut bob = joined(Mode::ReadOnly);
        bob.guest = "bob".into();
        bob.base64 = BOB.into();
        let f = file(
            "[sessions.api]\nsocket = \"/run/pairshell/maria/api.sock\"\nread_only = [\"bob\"]\n",
        );
        assert!(matches!(
            recheck(&config(), Some(&f), &bob, later),
            Verdict::Expired(_)
        ));
    }

    #[test]
    fn recheck_gives_the_mode_the_file_names_now_for_a_live_switch() {
        let ro = file(
            "[sessions.api]\nsocket = \"/run/pairshell/maria/api.sock\"\nread_only = [\"alice\"]\n",
        );
        assert_eq!(
            recheck(&config(), Some(&ro), &joined(Mode::ReadWrite), now()),
            Verdict::Granted {
                ends: None,
                mode: Mode::ReadOnly
            }
        );
        assert_eq!(
            recheck(
                &config(),
                Some(&file(API_RW)),
                &joined(Mode::ReadOnly),
                now()
            ),
            Verdict::Granted {
                ends: None,
                mode: Mode::ReadWrite
            }
        );
    }

    #[test]
    fn recheck_ends_a_share_whose_socket_was_swapped() {
        let f = file("[sessions.api]\nsocket = \"/run/pairshell/maria/other.sock\"\nread_write = [\"alice\"]\n");
        assert!(matches!(
            recheck(&config(), Some(&f), &joined(Mode::ReadWrite), now()),
            Verdict::Revoked(_)
        ));
    }

    #[test]
    fn per_guest_expiry_limits_only_that_guest() {
        let f = file(&format!(
            "{API_RW}read_only = [\"bob\"]\nguest_expires = {{ alice = 2026-11-20T11:00:00Z }}\n"
        ));
        let share = &f.sessions["api"];
        assert_eq!(mode_for(share, "alice", now()), None);
        assert_eq!(mode_for(share, "bob", now()), Some(Mode::ReadOnly));
    }

    /// A small deterministic generator, so the property runs the same way
    /// every time.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A host file of random sessions, lists, expiries and options, in the
    /// several ways TOML can spell a table.
    fn generated(rng: &mut Rng) -> String {
        let guests = ["ann", "bo", "cy", "di", "ed"];
        let mut text = String::new();
        let mut dotted = String::from("# generated\n");
        let mut inline = Vec::new();
        for s in 0..rng.next(8) {
            let mut fields = vec![format!("socket = \"/run/pairshell/h/s{s}\"")];
            for list in ["read_write", "read_only"] {
                if rng.next(3) > 0 {
                    let names: Vec<String> = (0..rng.next(4))
                        .map(|_| format!("\"{}\"", guests[rng.next(5) as usize]))
                        .collect();
                    fields.push(format!("{list} = [{}]", names.join(", ")));
                }
            }
            if rng.next(3) == 0 {
                let year = if rng.next(2) == 0 { 2020 } else { 2030 };
                fields.push(format!("expires = {year}-01-01T00:00:00Z"));
            }
            if rng.next(3) == 0 {
                let g = guests[rng.next(5) as usize];
                let year = if rng.next(2) == 0 { 2020 } else { 2030 };
                fields.push(format!(
                    "guest_expires = {{ {g} = {year}-06-01T00:00:00Z }}"
                ));
            }
            for flag in ["ask", "allow_other_sessions"] {
                if rng.next(4) == 0 {
                    fields.push(format!("{flag} = true"));
                }
            }
            match rng.next(3) {
                0 => text.push_str(&format!("\n[sessions.s{s}]\n{}\n", fields.join("\n"))),
                1 => inline.push(format!("sessions.s{s} = {{ {} }}", fields.join(", "))),
                _ => {
                    for f in &fields {
                        dotted.push_str(&format!("sessions.s{s}.{f}\n"));
                    }
                }
            }
        }
        for line in inline {
            dotted.push_str(&format!("{line}\n"));
        }
        dotted + &text
    }

    fn host_of(file: HostFile) -> Host {
        Host {
            login: "h".into(),
            uid: Uid::from_raw(1000),
            file,
        }
    }

    /// The hosts index's parts (`config::index::hosts`): a guest's part of a
    /// host file, alone, grants that guest exactly what the whole file does,
    /// over generated files; a guest the file does not name has no part.
    #[test]
    fn each_guests_part_of_a_host_file_yields_exactly_the_grants_of_the_whole_file() {
        let path = Path::new("/h/h.toml");
        let now = now();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for _ in 0..300 {
            let text = generated(&mut rng);
            let Ok(whole) = parse_host(path, &text) else {
                // Rare clashes of spellings (a table defined twice).
                continue;
            };
            let mut parts = crate::config::index::hosts::parsed_parts(path, &text);
            let whole = [host_of(whole)];
            for guest in ["ann", "bo", "cy", "di", "ed", "nobody"] {
                let want: Vec<(String, String)> = grants(&whole, guest, now)
                    .iter()
                    .map(|g| (g.label(), format!("{:?}{:?}", g.mode, g.share)))
                    .collect();
                let got = match parts.remove(guest) {
                    None => Vec::new(),
                    Some(part) => {
                        let alone = [host_of(part)];
                        grants(&alone, guest, now)
                            .iter()
                            .map(|g| (g.label(), format!("{:?}{:?}", g.mode, g.share)))
                            .collect()
                    }
                };
                assert_eq!(got, want, "{guest} in\n{text}");
                checked += want.len();
            }
        }
        assert!(
            checked > 100,
            "the generator must produce grants: {checked}"
        );
    }
}
