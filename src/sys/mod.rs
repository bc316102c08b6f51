//! The only place with `unsafe` and raw libc: trust checks on files and
//! sockets, the Landlock jail, and the pty's ioctls. Each unsafe block says
//! why it is sound.

pub mod fd;
pub mod pty;
pub mod sandbox;
pub mod trust;
