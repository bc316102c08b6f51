//! The only place with `unsafe` and raw libc: trust checks on files and
//! sockets, the Landlock jail, and the pty's ioctls. Each unsafe block says
//! why it is sound.

pub(crate) mod accounts;
pub(crate) mod fd;
pub(crate) mod fs;
pub(crate) mod process;
pub(crate) mod pty;
pub(crate) mod sandbox;
#[cfg(test)]
pub(crate) mod scratch;
pub(crate) mod trust;
