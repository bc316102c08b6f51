//! Unix accounts from the system's user and group databases (NSS).
//!
//! A lookup that fails (NSS unavailable) and one that finds nobody are the
//! same answer here: nobody to trust.

use nix::unistd::{Group, Uid, User};

/// The user called `name`, if there is one.
pub(crate) fn user(name: &str) -> Option<User> {
    User::from_name(name).ok().flatten()
}

/// The user with `uid`, if there is one.
pub(crate) fn user_by_uid(uid: Uid) -> Option<User> {
    User::from_uid(uid).ok().flatten()
}

/// The group called `name`, if there is one.
pub(crate) fn group(name: &str) -> Option<Group> {
    Group::from_name(name).ok().flatten()
}
