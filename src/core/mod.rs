//! Pure values with no I/O: names and the guest's request, access modes,
//! times, escaping and tables, GitHub logins, presence, the invite's
//! sudoers line, and the error type.

#![forbid(unsafe_code)]

pub(crate) mod error;
pub(crate) mod github;
pub(crate) mod hook;
pub(crate) mod invite;
pub(crate) mod mode;
pub(crate) mod presence;
pub(crate) mod reach;
pub(crate) mod request;
pub(crate) mod text;
pub(crate) mod time;
