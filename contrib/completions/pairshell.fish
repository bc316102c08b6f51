# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pairshell_global_optspecs
    string join \n config= c= h/help V/version
end

function __fish_pairshell_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pairshell_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pairshell_using_subcommand
    set -l cmd (__fish_pairshell_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pairshell -n "__fish_pairshell_needs_command" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_needs_command" -s c -d 'Run as a shell, the way sshd runs a forced command: TEXT is either pairshell\'s own `… login` line (the guest\'s request is then SSH_ORIGINAL_COMMAND) or the guest\'s request itself' -r
complete -c pairshell -n "__fish_pairshell_needs_command" -s h -l help -d 'Print help'
complete -c pairshell -n "__fish_pairshell_needs_command" -s V -l version -d 'Print version'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "login" -d 'Run the guest flow (what sshd runs)'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "authorized-keys" -d 'For sshd\'s AuthorizedKeysCommand: a guest\'s key line'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "authorized-principals" -d 'For sshd\'s AuthorizedPrincipalsCommand: a cert\'s guests'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "check" -d 'Admin: check all a login depends on, like `sshd -t`'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "edit" -d 'Edit the config (root) or your host file, like visudo'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "index" -d 'Admin: rebuild the key index after a hand edit'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "share" -d 'Share SESSION, show the line for guests, attach you'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "grant" -d 'Let GUEST join SESSION read-only or read-write'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "revoke" -d 'Take GUEST\'s grant away and end their connections now'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "unshare" -d 'Stop sharing SESSION; the tmux session keeps running'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "who" -d 'List the guests connected to your shared sessions'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "kick" -d 'End GUEST\'s connections now; their grant stands'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "log" -d 'Admin: print the audit trail, or one guest\'s'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "replay" -d 'Admin: play session recordings, or prune old ones'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "typed" -d 'Admin: who typed what in HOST/SESSION'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "host" -d 'Admin (root): enable or disable a host'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "guest" -d 'Admin: declare guests and their keys'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "invite" -d 'Through sudo: a GitHub user as a guest for a while'
complete -c pairshell -n "__fish_pairshell_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pairshell -n "__fish_pairshell_using_subcommand login" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand authorized-keys" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand authorized-keys" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand authorized-principals" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand authorized-principals" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand check" -l sshd-config -d 'The sshd config to check the pair account\'s settings in, as `sshd -f` takes it [default: sshd\'s own, /etc/ssh/sshd_config]: for a second sshd, or a config not installed yet' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand check" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand edit" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand edit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand index" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand index" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l rw -d 'A guest who may type (only people you would hand your keyboard)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l ro -d 'A guest who may watch' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l for -d 'For this long from now: `45s`, `30m`, `2h`, `1h30m`, `3d`' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l until -d 'Until then: `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00` (local time; a time already past today means tomorrow)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l via -d 'Keep `ssh -N -R` from this box to your own relay while the share lasts (your ssh, your keys; reconnects with backoff), and give guests the relay\'s port' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l ssh-port -d 'The port this box\'s sshd listens on, which --public maps and --via forwards' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l lease -d 'The lease asked of the gateway, in seconds (the gateway may grant another; renewal follows what it grants)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l on-host-leave -d 'With --presence: `pause` freezes the guests\' screens until I am back, `end` lets them go' -r -f -a "pause\t'Screens freeze, nothing typed is forwarded, until the host is back'
end\t'The guests are let go (`reason=host-left`)'"
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l detach -d 'Do not attach to the session afterwards'
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l public -d 'Ask this network\'s gateway (PCP, NAT-PMP or UPnP IGD) to map a port to this box\'s sshd while the share lasts (on IPv6, a PCP pinhole where the firewall offers one), and give guests the outside address. The lease is renewed while the share lasts and deleted when it ends; `who` shows it. When no gateway answers within 3 s you are told so (try --via)'
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l ask -d 'Ask me before each guest joins: a prompt on my tmux clients (`ask = true` in the file)'
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -l presence -d 'Guests only while I am attached (`presence = "required"`); when my last client detaches, `--on-host-leave` decides'
complete -c pairshell -n "__fish_pairshell_using_subcommand share" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand grant" -l for -d 'For this long from now: `45s`, `30m`, `2h`, `1h30m`, `3d`' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand grant" -l until -d 'Until then: `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00` (local time; a time already past today means tomorrow)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand grant" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand grant" -l ro -d 'The guest may watch'
complete -c pairshell -n "__fish_pairshell_using_subcommand grant" -l rw -d 'The guest may type'
complete -c pairshell -n "__fish_pairshell_using_subcommand grant" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand revoke" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand unshare" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand unshare" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand who" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand who" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand kick" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand kick" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand log" -l since -d 'Only events since then: `2h` or `3d` (that long ago), `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00` (local time; a time still to come today means yesterday)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand log" -l file -d 'Read this syslog file (rsyslog\'s RFC 3164 or RFC 3339 stamps) instead of the journal, e.g. /var/log/auth.log.1' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand log" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand replay" -l since -d 'Only recordings with events since then: `2h`, `3d`, `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00`' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand replay" -l speed -d 'Play this many times faster' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand replay" -l idle-limit -d 'Cut every pause to at most S seconds (0: no pauses)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand replay" -l prune -d 'Remove recordings older than DAYS days, and play nothing' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand replay" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand typed" -l since -d 'Only what was typed since then (as for `log --since`)' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand typed" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand typed" -l json -d 'One JSON object per line: time (UTC), guest, text'
complete -c pairshell -n "__fish_pairshell_using_subcommand typed" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and not __fish_seen_subcommand_from add remove help" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and not __fish_seen_subcommand_from add remove help" -s h -l help -d 'Print help'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and not __fish_seen_subcommand_from add remove help" -f -a "add" -d 'Let LOGIN share sessions'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and not __fish_seen_subcommand_from add remove help" -f -a "remove" -d 'Stop LOGIN from sharing'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and not __fish_seen_subcommand_from add remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from add" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from remove" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "add" -d 'Let LOGIN share sessions'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Stop LOGIN from sharing'
complete -c pairshell -n "__fish_pairshell_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -f -a "add" -d 'Declare guest NAME with keys, or give an existing guest more'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -f -a "remove" -d 'Remove guest NAME and all their keys'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -f -a "list" -d 'List the guests, their keys and fingerprints'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -f -a "sync" -d 'Fetch the GitHub keys of --github guests again'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and not __fish_seen_subcommand_from add remove list sync help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from add" -l key -d 'A public key, as one line of a .pub file' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from add" -l key-file -d 'A file of public keys (a .pub file, or authorized_keys lines without options); its keys are copied into the config' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from add" -l github -d 'Take the keys this GitHub user publishes (github_keys_url), and let `guest sync` refresh them' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from add" -l expires -d 'When the guest\'s keys stop working: `2026-11-21T18:00:00Z`, `2026-11-21 18:00`, `18:00` (local time), or a duration from now such as `8h` or `30d`' -r
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from add" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from remove" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from list" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from sync" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from help" -f -a "add" -d 'Declare guest NAME with keys, or give an existing guest more'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove guest NAME and all their keys'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the guests, their keys and fingerprints'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from help" -f -a "sync" -d 'Fetch the GitHub keys of --github guests again'
complete -c pairshell -n "__fish_pairshell_using_subcommand guest; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pairshell -n "__fish_pairshell_using_subcommand invite" -l config -d 'Main config file [default: /etc/pairshell/pairshell.toml]. It counts only if it is owned by root and not writable by group or other' -r -F
complete -c pairshell -n "__fish_pairshell_using_subcommand invite" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "login" -d 'Run the guest flow (what sshd runs)'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "authorized-keys" -d 'For sshd\'s AuthorizedKeysCommand: a guest\'s key line'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "authorized-principals" -d 'For sshd\'s AuthorizedPrincipalsCommand: a cert\'s guests'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "check" -d 'Admin: check all a login depends on, like `sshd -t`'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "edit" -d 'Edit the config (root) or your host file, like visudo'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "index" -d 'Admin: rebuild the key index after a hand edit'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "share" -d 'Share SESSION, show the line for guests, attach you'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "grant" -d 'Let GUEST join SESSION read-only or read-write'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "revoke" -d 'Take GUEST\'s grant away and end their connections now'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "unshare" -d 'Stop sharing SESSION; the tmux session keeps running'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "who" -d 'List the guests connected to your shared sessions'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "kick" -d 'End GUEST\'s connections now; their grant stands'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "log" -d 'Admin: print the audit trail, or one guest\'s'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "replay" -d 'Admin: play session recordings, or prune old ones'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "typed" -d 'Admin: who typed what in HOST/SESSION'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "host" -d 'Admin (root): enable or disable a host'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "guest" -d 'Admin: declare guests and their keys'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "invite" -d 'Through sudo: a GitHub user as a guest for a while'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and not __fish_seen_subcommand_from login authorized-keys authorized-principals check edit index share grant revoke unshare who kick log replay typed host guest invite help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "add" -d 'Let LOGIN share sessions'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "remove" -d 'Stop LOGIN from sharing'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and __fish_seen_subcommand_from guest" -f -a "add" -d 'Declare guest NAME with keys, or give an existing guest more'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and __fish_seen_subcommand_from guest" -f -a "remove" -d 'Remove guest NAME and all their keys'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and __fish_seen_subcommand_from guest" -f -a "list" -d 'List the guests, their keys and fingerprints'
complete -c pairshell -n "__fish_pairshell_using_subcommand help; and __fish_seen_subcommand_from guest" -f -a "sync" -d 'Fetch the GitHub keys of --github guests again'
