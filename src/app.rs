//! Command line to handler, and the only place a command's result becomes
//! an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use jiff::Timestamp;

use crate::core::error::{Exit, Failure};
use crate::{admin, cli, guest, host, sshd};

/// Parse the command line, dispatch, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match cli::Invocation::from_args(&args) {
        cli::Invocation::Shell(shell) => run_guest(shell.into_start()),
        cli::Invocation::Login(config) => code(guest::run(guest::Start::login(config))),
        cli::Invocation::Args => dispatch(cli::Cli::parse_from(args)),
    }
}

/// A login: where the config and the guest's request come from.
fn run_guest((config, request): (Option<std::path::PathBuf>, Option<OsString>)) -> ExitCode {
    code(guest::run(guest::Start::new(config, request)))
}

fn dispatch(cli: cli::Cli) -> ExitCode {
    let config_path = cli.config.clone();
    if cli.command.is_some() && cli.command_text.is_some() {
        eprintln!("pairshell: -c and a subcommand cannot be used together");
        return ExitCode::from(2);
    }
    match cli.command {
        None => match cli.command_text {
            Some(text) => run_guest(cli::ShellStart::from_text(config_path, text).into_start()),
            None => {
                eprintln!("pairshell: no command given; see `pairshell --help`");
                ExitCode::from(2)
            }
        },
        Some(cli::Command::Login) => code(guest::run(guest::Start::login(config_path))),
        Some(cli::Command::AuthorizedKeys {
            user,
            key_type,
            base64,
        }) => code(sshd::run(config_path.as_deref(), &user, &key_type, &base64)),
        Some(cli::Command::AuthorizedPrincipals {
            user,
            cert_type,
            base64,
        }) => code(sshd::run_principals(
            config_path.as_deref(),
            &user,
            &cert_type,
            &base64,
        )),
        Some(cli::Command::Index) => report(admin::hosts::index(config_path.as_deref())),
        Some(cli::Command::Edit) => report(admin::edit::run(config_path.as_deref())),
        Some(cli::Command::Check { sshd_config }) => code(admin::check::run(
            config_path.as_deref(),
            sshd_config.as_deref(),
        )),
        Some(cli::Command::Share {
            session,
            rw,
            ro,
            expiry,
            detach,
            reach,
            control,
        }) => report(
            expiry
                .resolve(Timestamp::now())
                .map_err(Failure::from)
                .and_then(|ends| {
                    host::share(
                        config_path.as_deref(),
                        &session,
                        &rw,
                        &ro,
                        ends,
                        host::ShareOptions {
                            detach,
                            invite_for: expiry.for_.clone(),
                            ask: control.ask,
                            presence: control.presence(),
                        },
                        &reach,
                    )
                }),
        ),
        Some(cli::Command::NatHold { session, reach }) => {
            code(host::nat::hold(config_path.as_deref(), &session, &reach))
        }
        Some(cli::Command::Grant {
            session,
            guest,
            mode,
            expiry,
        }) => report(
            expiry
                .resolve(Timestamp::now())
                .map_err(Failure::from)
                .and_then(|ends| {
                    host::grant(config_path.as_deref(), &session, &guest, mode.mode(), ends)
                }),
        ),
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
            report(admin::log::run(guest, since.as_deref(), file.as_deref()))
        }
        Some(cli::Command::Replay {
            target,
            since,
            speed,
            idle_limit,
            prune,
        }) => report(match (prune, target) {
            (Some(days), _) => admin::replay::prune(config_path.as_deref(), days),
            (None, Some(target)) => admin::replay::run(
                config_path.as_deref(),
                &admin::replay::Options {
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
        }) => report(admin::typed::run(
            config_path.as_deref(),
            &target,
            since.as_deref(),
            json,
        )),
        Some(cli::Command::Host { action }) => match action {
            cli::HostAction::Add { login } => {
                report(admin::hosts::host_add(config_path.as_deref(), &login))
            }
            cli::HostAction::Remove { login } => {
                report(admin::hosts::host_remove(config_path.as_deref(), &login))
            }
        },
        Some(cli::Command::Guest { action }) => report(match action {
            cli::GuestAction::Add {
                name,
                keys,
                key_files,
                github,
                expires,
            } => admin::guests::add(
                config_path.as_deref(),
                &name,
                &keys,
                &key_files,
                github.as_deref(),
                expires.as_deref(),
                "root",
            ),
            cli::GuestAction::Remove { name } => {
                admin::guests::remove(config_path.as_deref(), &name)
            }
            cli::GuestAction::List => admin::guests::list(config_path.as_deref()),
            cli::GuestAction::Sync { name } => {
                admin::guests::sync(config_path.as_deref(), name.as_deref())
            }
        }),
        Some(cli::Command::Hook { event, socket, arg }) => {
            code(host::hook(config_path.as_deref(), event, &socket, &arg))
        }
        Some(cli::Command::Invite { args: _ }) => {
            report(admin::invite::run(config_path.as_deref()))
        }
        Some(cli::Command::Answer {
            socket,
            pid,
            nonce,
            key,
        }) => code(host::answer(
            config_path.as_deref(),
            &socket,
            pid,
            &nonce,
            &key,
        )),
        Some(cli::Command::ExecClient {
            gate,
            socket_fd,
            require_confinement,
            argv,
        }) => code(guest::exec_client(
            gate,
            socket_fd,
            require_confinement,
            &argv,
        )),
    }
}

/// The exit code of a command that reported for itself.
fn code(exit: Exit) -> ExitCode {
    match exit {
        Exit::Done => ExitCode::SUCCESS,
        Exit::Failed => ExitCode::FAILURE,
    }
}

/// A host's or admin's command: its failure on stderr, and the exit code.
fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pairshell: {e}");
            ExitCode::FAILURE
        }
    }
}
