//! pairshell: a login shell for a shared pairing account.
//!
//! The binary is a thin wrapper around [`main`]. Modules are private to the
//! crate; the only other public items are [`cli_command`], which the man-page
//! test uses so that `--help` and `man/pairshell.1` come from one definition,
//! and the hidden `fuzzing` module, which exists only for the fuzz targets in
//! `fuzz/`.

mod admin;
mod ask;
mod audit;
mod authorized_keys;
mod chooser;
mod cli;
mod config;
mod edit;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod github;
mod guest;
mod guest_admin;
mod host;
mod identity;
mod invite;
mod live;
mod policy;
mod record;
mod relay;
mod replay;
mod request;
mod roster;
mod sandbox;
mod terminfo;
mod tmux;
mod trail;
mod trust;
mod typed;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// The clap definition of the command line, for generating man pages.
pub fn cli_command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

/// Parse the command line, dispatch, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match cli::Invocation::from_args(&args) {
        cli::Invocation::Shell(shell) => guest::run(shell.into_start()),
        cli::Invocation::Args => dispatch(cli::Cli::parse_from(args)),
    }
}

fn dispatch(cli: cli::Cli) -> ExitCode {
    let config_path = cli.config.clone();
    if cli.command.is_some() && cli.command_text.is_some() {
        eprintln!("pairshell: -c and a subcommand cannot be used together");
        return ExitCode::from(2);
    }
    match cli.command {
        None => match cli.command_text {
            Some(text) => guest::run(cli::ShellStart::from_text(config_path, text).into_start()),
            None => {
                eprintln!("pairshell: no command given; see `pairshell --help`");
                ExitCode::from(2)
            }
        },
        Some(cli::Command::Login) => guest::run(guest::Start::login(config_path)),
        Some(cli::Command::AuthorizedKeys {
            user,
            key_type,
            base64,
        }) => authorized_keys::run(config_path.as_deref(), &user, &key_type, &base64),
        Some(cli::Command::AuthorizedPrincipals {
            user,
            cert_type,
            base64,
        }) => authorized_keys::run_principals(config_path.as_deref(), &user, &cert_type, &base64),
        Some(cli::Command::Index) => report(admin::index(config_path.as_deref())),
        Some(cli::Command::Edit) => report(edit::run(config_path.as_deref())),
        Some(cli::Command::Check { sshd_config }) => {
            config::check::run(config_path.as_deref(), sshd_config.as_deref())
        }
        Some(cli::Command::Share {
            session,
            rw,
            ro,
            expiry,
            detach,
            ask,
            presence,
            on_host_leave,
        }) => report(host::share(
            config_path.as_deref(),
            &session,
            &rw,
            &ro,
            &expiry,
            host::ShareOptions {
                detach,
                ask,
                presence: presence.then(|| on_host_leave.unwrap_or_default()),
            },
        )),
        Some(cli::Command::Grant {
            session,
            guest,
            mode,
            expiry,
        }) => report(host::grant(
            config_path.as_deref(),
            &session,
            &guest,
            mode.mode(),
            &expiry,
        )),
        Some(cli::Command::Revoke { session, guest }) => {
            report(host::revoke(config_path.as_deref(), &session, &guest))
        }
        Some(cli::Command::Unshare { session }) => {
            report(host::unshare(config_path.as_deref(), &session))
        }
        Some(cli::Command::Who) => report(host::who(config_path.as_deref())),
        Some(cli::Command::Kick { guest, session }) => report(host::kick(
            config_path.as_deref(),
            &guest,
            session.as_deref(),
        )),
        Some(cli::Command::Log { guest, since, file }) => {
            report(trail::run(guest, since.as_deref(), file.as_deref()))
        }
        Some(cli::Command::Replay {
            target,
            since,
            speed,
            idle_limit,
            prune,
        }) => report(match (prune, target) {
            (Some(days), _) => replay::prune(config_path.as_deref(), days),
            (None, Some(target)) => replay::run(
                config_path.as_deref(),
                &replay::Options {
                    target: &target,
                    since: since.as_deref(),
                    speed,
                    idle_limit,
                },
            ),
            (None, None) => Err("give FILE, GUEST or HOST/SESSION, or --prune DAYS".into()),
        }),
        Some(cli::Command::Typed {
            target,
            since,
            json,
        }) => report(typed::run(
            config_path.as_deref(),
            &target,
            since.as_deref(),
            json,
        )),
        Some(cli::Command::Host { action }) => match action {
            cli::HostAction::Add { login } => {
                report(admin::host_add(config_path.as_deref(), &login))
            }
            cli::HostAction::Remove { login } => {
                report(admin::host_remove(config_path.as_deref(), &login))
            }
        },
        Some(cli::Command::Guest { action }) => report(match action {
            cli::GuestAction::Add {
                name,
                keys,
                key_files,
                github,
                expires,
            } => guest_admin::add(
                config_path.as_deref(),
                &name,
                &keys,
                &key_files,
                github.as_deref(),
                expires.as_deref(),
                "root",
            ),
            cli::GuestAction::Remove { name } => guest_admin::remove(config_path.as_deref(), &name),
            cli::GuestAction::List => guest_admin::list(config_path.as_deref()),
            cli::GuestAction::Sync { name } => {
                guest_admin::sync(config_path.as_deref(), name.as_deref())
            }
        }),
        Some(cli::Command::Hook { event, socket, arg }) => {
            host::hook(config_path.as_deref(), event, &socket, &arg)
        }
        Some(cli::Command::Invite { args: _ }) => report(invite::run(config_path.as_deref())),
        Some(cli::Command::Answer {
            socket,
            pid,
            nonce,
            key,
        }) => host::answer(config_path.as_deref(), &socket, pid, &nonce, &key),
        Some(cli::Command::ExecClient {
            gate,
            socket_fd,
            require_confinement,
            argv,
        }) => guest::exec_client(gate, socket_fd, require_confinement, &argv),
    }
}

/// A host's or admin's command: its failure on stderr, and the exit code.
fn report(result: Result<(), error::Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pairshell: {e}");
            ExitCode::FAILURE
        }
    }
}
