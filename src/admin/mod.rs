//! The admin's commands (and `pairshell log`, `replay`, `typed`, `check`,
//! `edit`): hosts and guests in the main config, GitHub keys, the index, the
//! trail and recordings.

pub mod check;
pub mod edit;
pub mod github;
pub mod guests;
pub mod hosts;
pub mod log;
pub mod replay;
pub mod typed;
