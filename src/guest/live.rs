//! What changes for a joined guest while their client runs, besides the
//! grant's end: a visit the host allowed (ask to type), and what makes the
//! guest's pairshell look again at once.
//!
//! The guest's pairshell watches, with inotify, the host's file (so
//! `grant --rw`/`--ro` switches the client at once, not at the next 30 s
//! re-check) and the socket's directory (where the host's answers appear,
//! and from which `grant --ro` removes a visit's answer). Each event only
//! makes it decide again from the files (`Watch::check`); nothing in
//! an event is believed. The host's side of the wake is
//! `tmux::touch_presence`, which the server's join and leave hooks run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::unistd::Uid;

use super::client::Note;
use super::relay::Relay;
use crate::ask::{self, Answer, Kind, Nonces, Pending, Request};
use crate::audit::Event;
use crate::config::{Config, Host, OnHostLeave, Presence};
use crate::core::mode::Mode;
use crate::policy::{Grant, Joined};
use crate::roster;
use crate::tmux::PairTmux;

/// How often a waiting question is looked at besides inotify's word.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// The live state of one joined client.
#[derive(Default)]
pub(crate) struct Live {
    roster_dir: PathBuf,
    host_uid: Option<Uid>,
    from: Option<String>,
    nonces: Option<Nonces>,
    /// This process's start time, read while `/proc` may still be read.
    start: Option<u64>,
    /// An ask to type waiting for the host.
    pending: Option<Pending>,
    /// The answer file of an allowed visit: the visit lasts while it does.
    visit: Option<PathBuf>,
    /// Lines for the trail (drained by the relay loop).
    pub(crate) notes: Vec<Event>,
    /// Text for the guest's bottom line (drained by the relay loop).
    pub(crate) banners: Vec<String>,
    /// `presence = "required"`: what the host's leaving does.
    presence: Option<OnHostLeave>,
    /// Whether the host was there at the last look.
    host_here: bool,
    /// A second look at the host's presence is due then: a client that
    /// detaches may still be listed when the hook's word arrives.
    look_again: Option<std::time::Instant>,
}

/// What the host's presence did since the last look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostPresence {
    Same,
    /// The host's last client detached.
    Left(OnHostLeave),
    /// A client of the host is attached again.
    Back,
}

impl Live {
    /// Before the guest's pairshell narrows itself: what asking needs.
    pub(crate) fn prepare(config: &Config, host: &Host, from: Option<String>) -> Live {
        Live {
            roster_dir: roster::dir(&config.sockets_dir),
            host_uid: Some(host.uid),
            from,
            nonces: Nonces::open().ok(),
            start: roster::process_start(std::process::id()),
            ..Live::default()
        }
    }

    /// Follow the host's presence for a share with `presence = "required"`
    /// (the join found them there).
    pub(crate) fn need_host(&mut self, presence: Presence, on_leave: OnHostLeave) {
        if presence == Presence::Required {
            self.presence = Some(on_leave);
            self.host_here = true;
        }
    }

    /// Look whether the host is still (or again) there. A server that does
    /// not answer changes nothing.
    pub(crate) fn presence(&mut self, tmux: &PairTmux, host: &str) -> HostPresence {
        let Some(on_leave) = self.presence else {
            return HostPresence::Same;
        };
        let Some(users) = tmux.client_users() else {
            return HostPresence::Same;
        };
        let here = users.iter().any(|u| u == host);
        if here == self.host_here {
            return HostPresence::Same;
        }
        self.host_here = here;
        if here {
            HostPresence::Back
        } else {
            HostPresence::Left(on_leave)
        }
    }

    /// After a wake: look at the presence again a second later too.
    pub(crate) fn woke(&mut self) {
        if self.presence.is_some() {
            self.look_again = Some(std::time::Instant::now() + Duration::from_secs(1));
        }
    }

    /// Watch the host's file and the socket's directory; the relay wakes
    /// on any change there.
    pub(crate) fn watch(&mut self, config: &Config, grant: &Grant, relay: &mut Relay) {
        let Ok(inotify) = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) else {
            return;
        };
        let flags = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_ATTRIB;
        let dirs: Vec<&Path> = [
            Some(config.hosts_dir.as_path()),
            grant.share.socket.parent(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let watched = dirs
            .iter()
            .filter(|d| inotify.add_watch(**d, flags).is_ok())
            .count();
        if watched > 0 {
            let _ = relay.wake_on(inotify.into());
        }
    }

    /// When the relay loop should look again at the latest.
    pub(crate) fn next_look(&mut self) -> Duration {
        let again = match self.look_again {
            Some(at) if at > std::time::Instant::now() => {
                at.saturating_duration_since(std::time::Instant::now())
            }
            Some(_) => {
                self.look_again = None;
                Duration::MAX
            }
            None => Duration::MAX,
        };
        if self.pending.is_some() {
            LOOK_EVERY.min(again)
        } else {
            again
        }
    }

    /// A read-only guest pressed the ask-to-type keys: ask the host.
    pub(crate) fn ask_to_type(
        &mut self,
        tmux: &PairTmux,
        joined: &Joined,
        client: u32,
    ) -> Option<Note<'static>> {
        if joined.mode == Mode::ReadWrite || self.pending.is_some() {
            return None;
        }
        let failed = |detail: &str| {
            Some(Note::Line(
                Event::new("ask-failed")
                    .field("kind", "type")
                    .field("detail", detail),
            ))
        };
        let (Some(host_uid), Some(start)) = (self.host_uid, self.start) else {
            return failed("no host or no /proc entry");
        };
        let me = std::process::id();
        let Some(Ok(nonce)) = self.nonces.as_mut().map(Nonces::next) else {
            return failed("no nonce");
        };
        let request = Request {
            kind: Kind::Type,
            nonce,
            client: Some(client),
            seat: crate::roster::Seat {
                pid: me,
                start,
                guest: joined.guest.clone(),
                host: joined.host.clone(),
                session: joined.session.clone(),
                socket: joined.socket.clone(),
                mode: joined.mode,
                from: self.from.clone(),
            },
        };
        match Pending::post(&self.roster_dir, &request, host_uid) {
            Ok(pending) => {
                tmux.ring();
                self.pending = Some(pending);
                self.banners.push(format!(
                    "pairshell: asking {} to let you type…",
                    joined.host
                ));
                Some(Note::Line(Event::new("ask").field("kind", "type")))
            }
            Err(e) => failed(&e),
        }
    }

    /// Whether the host allowed this visit and has not taken it back. A
    /// waiting question is settled here.
    pub(crate) fn visit_allowed(&mut self, host: &str) -> bool {
        let Some(host_uid) = self.host_uid else {
            return false;
        };
        if let Some(pending) = &self.pending {
            let answer = pending.answer();
            match answer {
                Answer::Waiting => {}
                Answer::Yes => {
                    self.visit = Some(pending.answer_file().to_path_buf());
                    self.notes
                        .push(Event::new("allow").field("kind", "type").field("by", host));
                }
                Answer::No | Answer::TimedOut => {
                    let reason = if answer == Answer::No {
                        "declined"
                    } else {
                        "no-answer"
                    };
                    self.notes.push(
                        Event::new("deny")
                            .field("kind", "type")
                            .field("reason", reason),
                    );
                    self.banners.push(if answer == Answer::No {
                        format!("pairshell: {host} declined")
                    } else {
                        format!("pairshell: {host} did not answer")
                    });
                }
            }
            if answer != Answer::Waiting {
                self.pending = None;
            }
        }
        if let Some(file) = &self.visit {
            if ask::read_answer(file, host_uid) == Some(true) {
                return true;
            }
            self.visit = None;
            self.notes.push(Event::new("visit-ended").field("by", host));
        }
        false
    }
}
