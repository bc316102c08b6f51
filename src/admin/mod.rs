//! The admin's commands (and `pairshell log`, `replay`, `typed`, `check`,
//! `edit`): hosts and guests in the main config, GitHub keys, the index, the
//! trail and recordings; `invite` (a host's invite of a GitHub user, as
//! root through sudo).

pub(crate) mod check;
pub(crate) mod edit;
pub(crate) mod github;
pub(crate) mod guests;
pub(crate) mod hosts;
pub(crate) mod invite;
pub(crate) mod log;
pub(crate) mod replay;
pub(crate) mod typed;
