//! The stages before the join: the pair account, identifying the guest,
//! loading the hosts' files, and judging the request against them.

use super::*;

/// The config as it is now, and the guest still in it with the key that
/// identified them, after a wait (the chooser).
///
/// Guards against: a guest removed (or whose key was removed, or who
/// expired) while sitting in the chooser joining anyway, with a `join`
/// line, until the first re-check.
pub(super) fn current_config(
    path: &Path,
    id: &Identity,
    now: Timestamp,
) -> Result<Config, Refusal> {
    let mut loaded = config::index::Loaded::load(path)
        .map_err(|e| Refusal::setup("config-error", e.to_string()))?;
    let principal: Vec<&str> = id.principal.as_deref().into_iter().collect();
    loaded
        .add_guests_for(&[(id.key_type.as_str(), id.base64.as_str())], &principal)
        .map_err(|e| Refusal::setup("config-error", e.to_string()))?;
    let config = loaded.into_config();
    let theirs = policy::still_theirs(
        &config,
        &id.guest,
        &id.key_type,
        &id.base64,
        id.principal.as_deref(),
        now,
    );
    match theirs {
        Ok(_) => Ok(config),
        Err(Verdict::Expired(message)) => Err(Refusal::new("expired-guest", message)),
        Err(Verdict::Revoked(message)) => Err(Refusal::new("removed-guest", message)),
        Err(Verdict::Granted { .. }) => Ok(config),
    }
}

/// Resolve a named session against the guest's grants and join it.
pub(super) fn join_target(
    config_path: &Path,
    config: &Config,
    id: &Identity,
    target: &Target,
    now: Timestamp,
    trail: &mut Context,
    audit: &mut Audit,
) -> Result<Exit, Refusal> {
    let hosts = load_hosts(
        config_path,
        config,
        &id.guest,
        target.host.as_deref(),
        trail,
        audit,
    )?;
    let grants = policy::grants(&hosts, &id.guest, now);
    match policy::resolve(&grants, target) {
        Resolution::Join(grant) => {
            need_terminal()?;
            within_connection_limit(config, &id.guest)?;
            join(config_path, config, id, &hosts, grant, trail, audit)
        }
        Resolution::NotShared => Err(not_shared(&id.guest, target, &grants)),
        Resolution::Ambiguous(several) => {
            let names: Vec<String> = several.iter().map(Grant::label).collect();
            Err(Refusal::new(
                "ambiguous",
                format!(
                    "{} hosts share {} with you: {}; ask for HOST/SESSION",
                    names.len(),
                    target.session,
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Refuse a join past `max_connections_per_guest`.
///
/// Guards against: one guest holding a host's session with a hundred
/// connections at once, each flashing a message on the host's status line.
/// Two joins at the same moment can both pass; the cap is a bound, not a
/// count to the unit.
pub(super) fn within_connection_limit(config: &Config, guest: &str) -> Result<(), Refusal> {
    let max = config.max_connections_per_guest;
    if max == 0 {
        return Ok(());
    }
    let uid = nix::unistd::geteuid();
    let joined = roster::joined_by(&roster::dir(&config.sockets_dir), guest, uid);
    if joined < max as usize {
        return Ok(());
    }
    Err(Refusal::new(
        "too-many-connections",
        format!("you ({guest}) already have {joined} sessions open on this host; leave one first"),
    )
    .detail(format!("max_connections_per_guest = {max}")))
}

/// The pair account's uid; the guest flow runs only as that account.
///
/// Guards against: another local user running `pairshell login` with a
/// forged `SSH_USER_AUTH` to write a false `join` line under a guest's name.
pub(super) fn pair_account(config: &Config) -> Result<Uid, Refusal> {
    let user = crate::sys::accounts::user(&config.pair_user).ok_or_else(|| {
        Refusal::setup(
            "config-error",
            format!("pair_user {} does not exist", config.pair_user),
        )
    })?;
    let me = nix::unistd::geteuid();
    if me != user.uid {
        return Err(Refusal::setup(
            "not-pair-account",
            format!("the guest flow runs as {}, not uid {me}", config.pair_user),
        ));
    }
    Ok(user.uid)
}

pub(super) fn identify(
    loaded: &mut config::index::Loaded,
    auth_info: Option<&Path>,
    pair_uid: Uid,
    now: Timestamp,
    trail: &mut Context,
) -> Result<Identity, Refusal> {
    let result = identity::read_auth_info(auth_info, pair_uid).and_then(|keys| {
        let plain: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.key_type.as_str(), k.base64.as_str()))
            .collect();
        let principals: Vec<&str> = keys
            .iter()
            .filter_map(|k| k.certificate.as_ref())
            .flat_map(|c| c.principals.iter().map(String::as_str))
            .collect();
        loaded
            .add_guests_for(&plain, &principals)
            .map_err(|e| identity::IdentityError::Config(e.to_string()))?;
        let config = &loaded.config;
        // The CAs are read only for a certificate, and only when the admin
        // named them: a login by plain key never depends on that file.
        let cas = match &config.trusted_user_ca_keys {
            Some(path) if keys.iter().any(|k| k.certificate.is_some()) => {
                config::load_ca_keys(path).map_err(identity::IdentityError::Unsafe)?
            }
            _ => Vec::new(),
        };
        identity::identify(config, &keys, &cas, now)
    });
    match result {
        Ok(id) => {
            trail.guest = Some(id.guest.clone());
            trail.fingerprint = Some(id.fingerprint.clone());
            trail.key_type = Some(id.key_type.clone());
            trail.principal = id.principal.clone();
            trail.cert = id.cert.clone();
            Ok(id)
        }
        Err(e) => {
            if let Some(key) = e.key() {
                trail.fingerprint = Some(key.fingerprint.clone());
                trail.key_type = Some(key.key_type.clone());
                trail.cert = key
                    .certificate
                    .as_ref()
                    .map(|c| (c.key_id.clone(), c.serial));
            }
            let mut refusal = Refusal::new(e.code(), e.to_guest()).detail(e.detail());
            match &e {
                identity::IdentityError::Expired(guest, _) => trail.guest = Some(guest.clone()),
                identity::IdentityError::Conflict(a, b) => {
                    trail.guest = Some(a.clone());
                    refusal.also_guests.push(b.clone());
                }
                _ => {}
            }
            Err(refusal)
        }
    }
}

/// Load the host files a request needs that could grant `guest` something:
/// one host's, or all of them. A file that fails its checks is skipped with
/// an audit line; other hosts keep working.
///
/// With a hosts index beside the config (`config::index::hosts`), a file
/// whose stamp is still the one indexed is not opened: the index says it
/// names the guest nowhere, or gives the sessions that name them. Every
/// other file (changed since, new, or with no usable index) is read as
/// without one; so a stale index costs time, never a grant or a refusal.
pub(super) fn load_hosts(
    config_abs: &Path,
    config: &Config,
    guest: &str,
    only: Option<&str>,
    trail: &Context,
    audit: &mut Audit,
) -> Result<Vec<Host>, Refusal> {
    let logins = match only {
        Some(login) => {
            trust::check_root_path(&config.hosts_dir).map_err(hosts_dir_refusal)?;
            vec![login.to_string()]
        }
        None => config::host_logins(&config.hosts_dir).map_err(hosts_dir_refusal)?,
    };
    // An index that is missing, untrusted or damaged is simply not used
    // (`pairshell check` reports it).
    let index = HostsIndex::open(config_abs, &config.hosts_dir)
        .ok()
        .and_then(|index| index.guest(guest).ok().map(|parts| (index, parts)));
    let mut hosts = Vec::with_capacity(logins.len());
    let mut buf = Vec::new();
    // Waits for writers' locks share one budget across all files: a local
    // user holding every host file's lock costs a login this much, not this
    // much per file (see `trust::lock_briefly`).
    let lock_budget_ends = Instant::now() + Duration::from_millis(100);
    for login in logins {
        if let Some((index, parts)) = &index {
            match index.lookup(&config.hosts_dir, &login, parts) {
                Lookup::NamesNowhere => continue,
                Lookup::Names(host) => {
                    hosts.push(host);
                    continue;
                }
                Lookup::ReadTheFile => {}
            }
        }
        let lock_wait = lock_budget_ends.saturating_duration_since(Instant::now());
        if !config::host_file_may_name(&config.hosts_dir, &login, guest, lock_wait, &mut buf) {
            continue;
        }
        match config::load_host(&config.hosts_dir, &login) {
            Ok(host) => hosts.push(host),
            // A host without a file simply shares nothing.
            Err(e) if only.is_some() && e.is_not_found() => {}
            Err(e) => audit.write_best_effort(
                trail
                    .event("skip-host-file")
                    .field(
                        "file",
                        config::host_path(&config.hosts_dir, &login).to_string_lossy(),
                    )
                    .field("reason", e.to_string()),
            ),
        }
    }
    Ok(hosts)
}

pub(super) fn need_terminal() -> Result<(), Refusal> {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Ok(())
    } else {
        Err(Refusal::new(
            "no-terminal",
            "joining a session needs a terminal: use `ssh -t pair@host …`",
        ))
    }
}

pub(super) fn print_help(config: &Config, id: &Identity) {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into());
    let at = format!("{}@{host}", config.pair_user);
    println!("pairshell on {host}: you are {}.", id.guest);
    println!("  ssh -t {at}                  choose a session");
    println!("  ssh -t {at} SESSION          join SESSION");
    println!("  ssh -t {at} HOST/SESSION     join HOST's SESSION");
    println!("  ssh {at} list                list the sessions you may join");
    println!("In a session, Ctrl-b d leaves; watching, Ctrl-b a asks the host to let you type.");
}
