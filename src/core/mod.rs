//! Pure values with no I/O: names and the guest's request, access modes,
//! times, escaping and tables, GitHub logins, and the error type.

#![forbid(unsafe_code)]

pub mod error;
pub mod github;
pub mod hook;
pub mod mode;
pub mod request;
pub mod text;
pub mod time;
