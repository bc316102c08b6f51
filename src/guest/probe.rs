//! The chooser's view of each granted session.

use super::*;

/// The chooser's view of each granted session, probed in parallel: a
/// server that does not answer costs the chooser one deadline, not one per
/// session. Each probe goes through the checked socket, confined.
pub(super) fn probe_all(config: &Config, hosts: &[Host], grants: &[Grant]) -> Vec<Item> {
    let probe = |g: &Grant| -> State {
        let Some(host) = hosts.iter().find(|h| h.login == g.host) else {
            return State::NotRunning;
        };
        let Ok(socket) = trust::open_socket(&g.share.socket, Owner::Exactly(host.uid)) else {
            return State::NotRunning;
        };
        match tmux::PairTmux::new(&config.tmux, socket).map(|t| t.has_session(g.session)) {
            Ok(SessionState::Running) => State::Running,
            Ok(SessionState::Stuck) => State::NotAnswering,
            _ => State::NotRunning,
        }
    };
    let states: Vec<State> = std::thread::scope(|scope| {
        let handles: Vec<_> = grants
            .iter()
            .map(|g| scope.spawn(move || probe(g)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(State::NotRunning))
            .collect()
    });
    grants
        .iter()
        .zip(states)
        .map(|(g, state)| Item {
            label: g.label(),
            mode: g.mode.as_str(),
            state,
        })
        .collect()
}
