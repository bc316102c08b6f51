//! The interactive picker a guest sees after `ssh -t pair@host`.
//!
//! It lists exactly the sessions the policy granted, with their mode and
//! whether they are running, on the guest's terminal (stderr, so `list`
//! output on stdout stays clean). Enter joins; Esc, `q` and Ctrl-C leave,
//! with the cursor shown again either way.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use console::Term;
use dialoguer::theme::ColorfulTheme;
use dialoguer::Select;

/// One line in the chooser.
pub(crate) struct Item {
    pub(crate) label: String,
    pub(crate) mode: &'static str,
    pub(crate) state: State,
}

/// What a probe of the session's server found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    NotRunning,
    /// The server took longer than tmux's deadline to answer.
    NotAnswering,
}

impl Item {
    fn render(&self) -> String {
        let state = match self.state {
            State::Running => "running",
            State::NotRunning => "not running",
            State::NotAnswering => "not answering",
        };
        format!("{} ({}) — {}", self.label, self.mode, state)
    }
}

/// Show the chooser; `Ok(Some(index))` when the guest picked one.
pub(crate) fn choose(guest: &str, items: &[Item]) -> io::Result<Option<usize>> {
    let term = Term::stderr();
    // console raises SIGINT on Ctrl-C in raw mode; catch it so the prompt
    // returns an error we handle (and the cursor comes back) instead of the
    // process dying with the cursor hidden.
    let interrupted = Arc::new(AtomicBool::new(false));
    let _guard = signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())?;
    let rendered: Vec<String> = items.iter().map(Item::render).collect();
    let picked = Select::with_theme(&ColorfulTheme::default())
        .with_prompt(format!(
            "{guest}, choose a session (Enter joins, Esc or q leaves)"
        ))
        .items(&rendered)
        .default(0)
        .report(false)
        .interact_on_opt(&term);
    let _ = term.show_cursor();
    match picked {
        Ok(choice) if !interrupted.load(Ordering::SeqCst) => Ok(choice),
        Ok(_) => Ok(None),
        Err(dialoguer::Error::IO(e)) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(dialoguer::Error::IO(e)) => Err(e),
    }
}
