#!/bin/bash
# pairshell's install and uninstall, for Debian and Ubuntu, as root:
#
#   contrib/install.sh                    # install (safe to re-run)
#   contrib/install.sh --uninstall        # undo it; keeps /etc/pairshell
#   contrib/install.sh --uninstall --purge
#
# It installs the binary, creates the pair account (pairshell as its shell,
# no password), the socket group, /etc/pairshell, the runtime directory,
# the systemd units (enabled where systemd runs) and sshd's drop-in, checks sshd's config with `sshd -t` before sshd sees it
# (and puts everything back when the check fails), then reloads sshd. Each
# step says whether it changed anything; a second run changes nothing.
#
# The Debian package runs this same script from its maintainer scripts with
# --packaged: dpkg then owns the binary, man pages and completions.
set -euo pipefail
umask 022

usage() {
    cat <<'EOF'
Usage: install.sh [--account NAME] [--binary PATH] [--dest PATH]
       install.sh --uninstall [--purge] [--account NAME] [--dest PATH]

  --account NAME  the shared account guests log in as (default: pair_user
                  from /etc/pairshell/pairshell.toml, else "pair")
  --binary PATH   the pairshell binary to install (default:
                  target/release/pairshell, built with cargo when missing)
  --dest PATH     where the binary goes (default: /usr/local/bin/pairshell)
  --packaged      the binary, man pages and completions belong to a package
                  (dest /usr/bin/pairshell); only the system's setup is done
  --uninstall     remove what install added; keeps /etc/pairshell
  --purge         with --uninstall, remove /etc/pairshell as well
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

CONF_DIR=/etc/pairshell
CONFIG=$CONF_DIR/pairshell.toml
HOSTS_DIR=$CONF_DIR/hosts.d
GROUP=pairshell
HOME_DIR=/var/lib/pairshell
RECORDINGS_DIR=$HOME_DIR/recordings
RUN_DIR=/run/pairshell
CLIENTS_DIR=$RUN_DIR/.clients
TMPFILES=/etc/tmpfiles.d/pairshell.conf
# Written by `pairshell host add` (the config's `tmpfiles` key, default).
HOSTS_TMPFILES=/etc/tmpfiles.d/pairshell-hosts.conf
SSHD=/usr/sbin/sshd
SSHD_CONFIG=/etc/ssh/sshd_config
DROP_IN=/etc/ssh/sshd_config.d/pairshell.conf
INCLUDE_LINE='Include /etc/ssh/sshd_config.d/*.conf'
INCLUDE_MARK="# Added by pairshell's install.sh (its --uninstall removes it):"
SHARE=/usr/local/share
# contrib/systemd's units, with the binary's path swapped in.
UNIT_DIR=/etc/systemd/system
UNITS="pairshell-index.path pairshell-index.service pairshell-sync.timer pairshell-sync.service"
# The ones enabled (each starts its service).
UNITS_ENABLED="pairshell-index.path pairshell-sync.timer"

mode=install
purge=0
packaged=0
account=
binary=
dest=
while [ $# -gt 0 ]; do
    case $1 in
        --account) account=${2:?--account needs a name}; shift ;;
        --binary) binary=${2:?--binary needs a path}; shift ;;
        --dest) dest=${2:?--dest needs a path}; shift ;;
        --packaged) packaged=1 ;;
        --uninstall) mode=uninstall ;;
        --purge) purge=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done

die() {
    echo "install.sh: $*" >&2
    exit 1
}
changes=0
quiet=0
# One line per step: "+" changed something, "=" found it as it should be.
did() {
    changes=$((changes + 1))
    if [ $quiet = 0 ]; then echo "  + $*"; fi
}
kept() { if [ $quiet = 0 ]; then echo "  = $*"; fi; }
warn() { echo "install.sh: warning: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run it as root (sudo)"
[ $purge = 0 ] || [ $mode = uninstall ] || die "--purge goes with --uninstall"

# The pair account: --account, else the config's pair_user, else "pair".
config_account=
if [ -f "$CONFIG" ]; then
    config_account=$(sed -n 's/^[[:space:]]*pair_user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$CONFIG" | head -n 1)
fi
if [ -z "$account" ]; then
    account=${config_account:-pair}
elif [ $mode = install ] && [ -n "$config_account" ] && [ "$config_account" != "$account" ]; then
    die "$CONFIG says pair_user = \"$config_account\", not \"$account\"; change one of them"
fi
# It goes into sed expressions and sshd's Match line: plain names only.
[[ $account =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "--account $account: not a plain login name"

if [ -z "$dest" ]; then
    if [ $packaged = 1 ]; then dest=/usr/bin/pairshell; else dest=/usr/local/bin/pairshell; fi
fi
# It goes into sshd's command lines and sed expressions too.
[[ $dest =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "--dest $dest: an absolute path of letters, digits and ._/+- only"

# What dpkg owns under --packaged, and this script otherwise:
# (source, destination, mode).
extras() {
    local page
    for page in "$repo"/man/*.[15]; do
        if [ -e "$page" ]; then
            echo "$page $SHARE/man/man${page##*.}/$(basename "$page") 0644"
        fi
    done
    echo "$here/completions/pairshell.bash $SHARE/bash-completion/completions/pairshell 0644"
    echo "$here/completions/_pairshell $SHARE/zsh/site-functions/_pairshell 0644"
    echo "$here/completions/pairshell.fish $SHARE/fish/vendor_completions.d/pairshell.fish 0644"
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

# owner:group mode, e.g. "root:root 755".
state() { stat -c '%U:%G %a' "$1" 2>/dev/null || true; }

# Installs SRC as DEST (root, MODE) unless it is there already, byte for
# byte; by rename, so a running copy of the binary is never overwritten.
put_file() {
    local src=$1 dst=$2 mode=$3 what=${4:-$2}
    if [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$src" "$dst" &&
        [ "$(state "$dst")" = "root:root ${mode#0}" ]; then
        kept "$what"
        return
    fi
    mkdir -p "$(dirname "$dst")"
    install -o root -g root -m "$mode" "$src" "$dst.new.$$"
    mv -f "$dst.new.$$" "$dst"
    did "$what"
}

# A directory with this owner, group and mode (mkdir, chown, chmod).
put_dir() {
    local dir=$1 owner=$2 mode=$3
    if [ -d "$dir" ] && [ ! -L "$dir" ] && [ "$(state "$dir")" = "$owner ${mode#0}" ]; then
        kept "$dir ($owner, $mode)"
        return
    fi
    [ ! -L "$dir" ] || die "$dir is a symlink; move it away first"
    mkdir -p "$dir"
    chown "$owner" "$dir"
    chmod "$mode" "$dir"
    did "$dir ($owner, $mode)"
}

# sshd wants the AuthorizedKeysCommand and every directory above it owned by
# root and writable by nobody else; otherwise it silently refuses every key.
check_root_path() {
    local p=$1
    while :; do
        local s
        s=$(stat -L -c '%u %a' "$p")
        local uid=${s% *} perm=${s#* }
        if [ "$uid" != 0 ] || (( 8#$perm & 8#022 )); then
            die "$p must be owned by root and not writable by group or other (sshd refuses an AuthorizedKeysCommand below it); fix it or choose --dest"
        fi
        [ "$p" = / ] && break
        p=$(dirname "$p")
    done
}

sshd_pid() {
    local pid
    pid=$(cat /run/sshd.pid 2>/dev/null) || return 1
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ]; then
        echo "$pid"
    else
        return 1
    fi
}

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# Makes the running sshd read its config again. With $1 = start, also starts
# one when none runs and there is no systemd to do it (a container, CI).
reload_sshd() {
    local pid
    if systemd_running; then
        if systemctl is-active --quiet ssh.service; then
            systemctl reload ssh.service
            did "sshd reloaded (systemctl reload ssh)"
        elif systemctl is-active --quiet ssh.socket; then
            # Ubuntu 22.10 and later: sshd starts at the first connection,
            # with the config as it is then.
            kept "sshd is socket-activated (ssh.socket): it starts with this config"
        else
            warn "sshd is not running: systemctl enable --now ssh"
        fi
    elif pid=$(sshd_pid); then
        kill -HUP "$pid"
        did "sshd reloaded (SIGHUP to $pid, from /run/sshd.pid)"
    elif [ "${1:-}" = start ]; then
        start_sshd
    fi
}

start_sshd() {
    "$SSHD"

    for _ in $(seq 50); do
        if sshd_pid >/dev/null; then
            did "sshd started (pid $(sshd_pid); none was running)"
            return
        fi
        sleep 0.1
    done
    die "started $SSHD, but /run/sshd.pid names no sshd"
}

# sshd -t needs its privilege separation directory (a tmpfs entry that only
# systemd creates) and host keys.
sshd_prerequisites() {
    [ -x "$SSHD" ] || die "$SSHD is missing: apt-get install openssh-server"
    [ -d /run/sshd ] || install -d -m 0755 /run/sshd
    if ! ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
        ssh-keygen -A
        did "sshd host keys (ssh-keygen -A)"
    fi
}

sshd_check() { "$SSHD" -t 2>&1; }

# The values sshd applies to the pair account: proves the drop-in is read and
# not overridden by an earlier setting in sshd_config.
sshd_applies_drop_in() {
    local effective
    effective=$("$SSHD" -T -C "user=$account,host=localhost,addr=127.0.0.1" 2>&1) || return 1
    grep -qxF "authorizedkeyscommand $dest --config $CONFIG authorized-keys %u %t %k" <<<"$effective" &&
        grep -qxF "forcecommand $dest --config $CONFIG login" <<<"$effective" &&
        grep -qxF "exposeauthinfo yes" <<<"$effective"
}

has_include() {
    grep -Eq '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf([[:space:]]|$)' "$SSHD_CONFIG"
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

install_binary() {
    if [ $packaged = 1 ]; then
        [ -x "$dest" ] || die "$dest is missing (--packaged: the package installs it)"
        kept "$dest (the package's)"
        return
    fi
    if [ -z "$binary" ]; then
        binary=$repo/target/release/pairshell
        if [ ! -x "$binary" ]; then
            command -v cargo >/dev/null ||
                die "$binary is missing and there is no cargo to build it; give --binary PATH"
            echo "  building $binary (cargo build --release --locked)"
            cargo build --release --locked --manifest-path "$repo/Cargo.toml" >&2
        fi
    fi
    [ -x "$binary" ] || die "$binary is not an executable file"
    "$binary" --version >/dev/null || die "$binary does not run"
    mkdir -p "$(dirname "$dest")"
    check_root_path "$(dirname "$dest")"
    put_file "$binary" "$dest" 0755 "$dest"
    local src dst mode before=$changes n=0
    quiet=1
    while read -r src dst mode; do
        if [ -f "$src" ]; then
            put_file "$src" "$dst" "$mode"
            n=$((n + 1))
        fi
    done < <(extras)
    quiet=0
    if [ $changes -gt $before ]; then
        did "$n man pages and completions (bash, zsh, fish) under $SHARE"
    else
        kept "$n man pages and completions (bash, zsh, fish) under $SHARE"
    fi
}

install_shells_line() {
    if grep -qxF "$dest" /etc/shells; then
        kept "/etc/shells lists $dest"
    else
        if command -v add-shell >/dev/null; then add-shell "$dest"; else echo "$dest" >>/etc/shells; fi
        did "/etc/shells lists $dest"
    fi
}

install_account() {
    if getent group "$GROUP" >/dev/null; then
        kept "group $GROUP"
    else
        groupadd --system "$GROUP"
        did "group $GROUP (hosts and $account reach shared sockets through it)"
    fi
    put_dir "$HOME_DIR" root:root 0755
    if getent passwd "$account" >/dev/null; then
        local shell
        shell=$(getent passwd "$account" | cut -d: -f7)
        if [ "$shell" = "$dest" ]; then
            kept "account $account (shell $dest)"
        elif [ "$(basename "$shell")" = pairshell ]; then
            usermod -s "$dest" "$account"
            did "account $account: shell $shell -> $dest"
        else
            die "there is already an account $account with shell $shell: not pairshell's; choose another name with --account"
        fi
    else
        # A home the account cannot write (sshd wants one to exist); `*` as
        # the password: nothing can match it, and unlike `!` sshd does not
        # take it for a locked account when UsePAM is off.
        useradd --system --user-group --home-dir "$HOME_DIR" --no-create-home \
            --shell "$dest" --password '*' --comment "pairshell guests" "$account"
        did "account $account (shell $dest, no password, home $HOME_DIR)"
    fi
    local hash
    hash=$(getent shadow "$account" | cut -d: -f2)
    case $hash in
        '*' | '!'*) kept "account $account has no usable password" ;;
        *) usermod -p '*' "$account"; did "account $account: password removed" ;;
    esac
    if id -nG "$account" | tr ' ' '\n' | grep -qxF "$GROUP"; then
        kept "account $account in group $GROUP"
    else
        usermod -a -G "$GROUP" "$account"
        did "account $account in group $GROUP"
    fi
    # Session recordings (\`record\` in the config): written by the pair
    # account, readable by root alone. The pair account makes HOST/SESSION
    # below it at each join, 0700 too.
    put_dir "$RECORDINGS_DIR" "$account:$(id -gn "$account")" 0700
}

starter_config() {
    local tmux
    tmux=$(command -v tmux || echo /usr/bin/tmux)
    cat <<EOF
# pairshell's main config (man 5 pairshell.toml). It counts only while it is
# owned by root and not writable by group or other. \`pairshell check\` reads
# it the way a login would and reports each problem with line and column.

pair_user = "$account"                  # the shared account guests log in as
tmux = "$tmux"
hosts_dir = "$HOSTS_DIR"  # one file per host: \`pairshell host add LOGIN\`
# sockets_dir = "$RUN_DIR"
# socket_group = "$GROUP"

# Record every read-write guest's join (what they saw and what they typed),
# one asciicast file each under recordings_dir, readable by root alone:
# \`pairshell replay\`, \`pairshell typed HOST/SESSION\`. Guests are told in
# their banner. "off" records nothing, "all" read-only guests too.
record = "read-write"
recordings_dir = "$RECORDINGS_DIR"
# record_max_mb = 100       # per recording; past it the recording stops
# record_required = false   # true: let a guest go when theirs cannot be written

[audit]
syslog_socket = "/dev/log"  # RFC 3164 datagrams, facility authpriv
required = true             # refuse a login whose audit line cannot be written

# One table per guest, with the keys they log in with; \`pairshell guest add
# alice --key-file alice.pub\` (or --github LOGIN) writes it for you:
#
# [guests.alice]
# keys = ["ssh-ed25519 AAAAC3Nz... alice@laptop"]
# expires = 2026-12-31T18:00:00Z  # optional
EOF
}

install_config() {
    put_dir "$CONF_DIR" root:root 0755
    if [ -e "$CONFIG" ]; then
        kept "$CONFIG (exists; not touched)"
    else
        local tmp
        tmp=$(mktemp)
        starter_config >"$tmp"
        put_file "$tmp" "$CONFIG" 0644 "$CONFIG (a commented starter)"
        rm -f "$tmp"
    fi
    put_dir "$HOSTS_DIR" root:root 0755
}

# The lookup index beside the config (CONFIG.index), which logins and sshd's
# key lookups use while it matches the config. A config that does not parse
# yet is the admin's to fix; logins read the whole config until then.
install_index() {
    if [ -f "$CONFIG.index" ] && [ "$CONFIG.index" -nt "$CONFIG" ]; then
        kept "$CONFIG.index"
    elif "$dest" --config "$CONFIG" index >/dev/null 2>&1; then
        did "$CONFIG.index (pairshell index)"
    else
        kept "$CONFIG.index not built: run \`pairshell check\`, then \`pairshell index\`"
    fi
}

# contrib/tmpfiles.d/pairshell.conf with the account's name.
tmpfiles_text() {
    sed -e "s|^\(d $CLIENTS_DIR 2750\) pair $GROUP |\1 $account $GROUP |" \
        "$here/tmpfiles.d/pairshell.conf"
}

install_runtime_dir() {
    local tmp
    tmp=$(mktemp)
    tmpfiles_text >"$tmp"
    grep -q "^d $CLIENTS_DIR 2750 $account $GROUP " "$tmp" ||
        die "$here/tmpfiles.d/pairshell.conf no longer has the $CLIENTS_DIR line this script adapts"
    put_file "$tmp" "$TMPFILES" 0644
    rm -f "$tmp"
    if [ "$(state "$RUN_DIR")" = "root:root 755" ] && [ "$(state "$CLIENTS_DIR")" = "$account:$GROUP 2750" ]; then
        kept "$RUN_DIR and $CLIENTS_DIR"
    elif command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create "$TMPFILES"
        did "$RUN_DIR and $CLIENTS_DIR (systemd-tmpfiles --create)"
    else
        put_dir "$RUN_DIR" root:root 0755
        put_dir "$CLIENTS_DIR" "$account:$GROUP" 2750
    fi
}

# The systemd units: the config changed, so `pairshell index` runs
# (pairshell-index.path); `pairshell guest sync` once a day
# (pairshell-sync.timer). Installed everywhere, enabled only where systemd
# runs (not in a container whose PID 1 is something else).
install_units() {
    local unit tmp before=$changes
    quiet=1
    for unit in $UNITS; do
        [ -f "$here/systemd/$unit" ] || die "$here/systemd/$unit is missing"
        tmp=$(mktemp)
        sed -e "s|/usr/local/bin/pairshell|$dest|g" "$here/systemd/$unit" >"$tmp"
        put_file "$tmp" "$UNIT_DIR/$unit" 0644
        rm -f "$tmp"
    done
    quiet=0
    if [ $changes -gt $before ]; then
        did "systemd units in $UNIT_DIR ($UNITS)"
    else
        kept "systemd units in $UNIT_DIR"
    fi
    if ! systemd_running; then
        kept "systemd is not running here: the units are installed, not enabled"
        return
    fi
    if [ $changes -gt $before ]; then systemctl daemon-reload; fi
    for unit in $UNITS_ENABLED; do
        if systemctl is-enabled --quiet "$unit" && systemctl is-active --quiet "$unit"; then
            kept "$unit enabled"
        else
            systemctl enable --now --quiet "$unit"
            did "$unit enabled (systemctl enable --now)"
        fi
    done
}

uninstall_units() {
    local unit n=0
    if systemd_running; then
        for unit in $UNITS_ENABLED; do
            if [ -e "$UNIT_DIR/$unit" ]; then systemctl disable --now --quiet "$unit" || true; fi
        done
    fi
    for unit in $UNITS; do
        if [ -e "$UNIT_DIR/$unit" ]; then
            rm -f "$UNIT_DIR/$unit"
            n=$((n + 1))
        fi
    done
    if [ $n -gt 0 ]; then
        did "removed $n systemd units from $UNIT_DIR"
        if systemd_running; then systemctl daemon-reload; fi
    fi
}

# contrib/sshd_config.d/pairshell.conf with the account and binary swapped in.
drop_in_text() {
    sed -e "s|^Match User pair\$|Match User $account|" \
        -e "s|/usr/local/bin/pairshell|$dest|g" \
        "$here/sshd_config.d/pairshell.conf"
}

install_sshd() {
    sshd_prerequisites
    local sshd_changed=0 tmp backup=
    tmp=$(mktemp)
    drop_in_text >"$tmp"
    grep -qx "Match User $account" "$tmp" ||
        die "$here/sshd_config.d/pairshell.conf no longer has the 'Match User pair' line this script adapts"

    # Put sshd_config back as it was, and the drop-in, when sshd refuses them.
    local config_backup=
    if has_include; then
        kept "$SSHD_CONFIG includes sshd_config.d"
    else
        config_backup=$(mktemp)
        cp -p "$SSHD_CONFIG" "$config_backup"
        { printf '%s\n%s\n' "$INCLUDE_MARK" "$INCLUDE_LINE"; cat "$config_backup"; } >"$SSHD_CONFIG"
        did "$SSHD_CONFIG includes sshd_config.d (added at the top)"
        sshd_changed=1
    fi
    if [ -f "$DROP_IN" ] && cmp -s "$tmp" "$DROP_IN" && [ "$(state "$DROP_IN")" = "root:root 644" ]; then
        kept "$DROP_IN"
    else
        if [ -e "$DROP_IN" ]; then
            backup=$(mktemp)
            cp -p "$DROP_IN" "$backup"
        fi
        put_file "$tmp" "$DROP_IN" 0644
        sshd_changed=1
    fi
    rm -f "$tmp"

    local why=
    if ! out=$(sshd_check); then
        why="sshd -t refuses the result:
$out"
    elif ! sshd_applies_drop_in; then
        why="sshd -T -C user=$account does not show the drop-in's AuthorizedKeysCommand, ForceCommand and ExposeAuthInfo: a setting earlier in $SSHD_CONFIG (or another file in sshd_config.d) wins over it"
    fi
    if [ -n "$why" ]; then
        if [ $sshd_changed = 1 ]; then
            if [ -n "$backup" ]; then cp -p "$backup" "$DROP_IN"; else rm -f "$DROP_IN"; fi
            [ -z "$config_backup" ] || cp -p "$config_backup" "$SSHD_CONFIG"
            echo "  - put $DROP_IN and $SSHD_CONFIG back as they were; sshd was not reloaded" >&2
        fi
        rm -f "$backup" "$config_backup"
        die "$why"
    fi
    rm -f "$backup" "$config_backup"
    kept "sshd -t accepts the config, and sshd applies the drop-in to $account"

    if [ $sshd_changed = 1 ]; then
        reload_sshd start
    elif systemd_running || sshd_pid >/dev/null; then
        kept "sshd has this config"
    else
        start_sshd
    fi
}

install_all() {
    [ -x "$(command -v tmux)" ] || warn "tmux is not installed (apt-get install tmux); hosts need it to share"
    echo "pairshell install (account $account, binary $dest):"
    install_binary
    install_shells_line
    install_account
    install_config
    install_index
    install_runtime_dir
    install_units
    install_sshd
    if ! out=$("$dest" --config "$CONFIG" check 2>&1); then
        warn "pairshell check finds problems in the config:
$out"
    fi
    if [ ! -S /dev/log ]; then
        warn "there is no syslog socket at /dev/log: with audit.required = true every login is refused until a syslog daemon runs (apt-get install rsyslog), or the config names another syslog_socket"
    fi
    if [ $changes = 0 ]; then
        echo "pairshell was already installed: nothing changed."
    else
        cat <<EOF
pairshell is installed. Next:
  - declare guests: pairshell guest add NAME --key-file KEY.pub (or --github LOGIN);
  - let each person who may host share sessions: pairshell host add LOGIN;
  - a guest joins with: ssh -t $account@$(hostname -f 2>/dev/null || hostname)
EOF
    fi
}

# ---------------------------------------------------------------------------
# uninstall
# ---------------------------------------------------------------------------

uninstall_sshd() {
    local backup='' config_backup=''
    if [ -e "$DROP_IN" ]; then
        backup=$(mktemp)
        cp -p "$DROP_IN" "$backup"
        rm -f "$DROP_IN"
        did "removed $DROP_IN"
    else
        kept "no $DROP_IN"
    fi
    if grep -qxF "$INCLUDE_MARK" "$SSHD_CONFIG"; then
        config_backup=$(mktemp)
        cp -p "$SSHD_CONFIG" "$config_backup"
        # The mark and the Include line after it, nothing else.
        awk -v mark="$INCLUDE_MARK" -v inc="$INCLUDE_LINE" '
            skip && $0 == inc { skip = 0; next }
            { skip = 0 }
            $0 == mark { skip = 1; next }
            { print }' "$config_backup" >"$SSHD_CONFIG"
        did "removed the Include line install.sh added to $SSHD_CONFIG"
    fi
    if [ -n "$backup$config_backup" ]; then
        [ -x "$SSHD" ] || die "$SSHD is missing"
        [ -d /run/sshd ] || install -d -m 0755 /run/sshd
        if ! out=$(sshd_check); then
            [ -z "$backup" ] || cp -p "$backup" "$DROP_IN"
            [ -z "$config_backup" ] || cp -p "$config_backup" "$SSHD_CONFIG"
            rm -f "$backup" "$config_backup"
            die "sshd -t refuses the config without pairshell's lines (put back as they were):
$out"
        fi
        rm -f "$backup" "$config_backup"
        kept "sshd -t accepts the config"
        reload_sshd
    fi
}

uninstall_all() {
    echo "pairshell uninstall (account $account, binary $dest):"
    local shell=
    if getent passwd "$account" >/dev/null; then
        shell=$(getent passwd "$account" | cut -d: -f7)
        [ "$(basename "$shell")" = pairshell ] ||
            die "the account $account has shell $shell: not pairshell's; name the pair account with --account"
        # Zombies do not count: where PID 1 is not an init (a container) the
        # processes of an ended session can wait a long time to be reaped.
        # shellcheck disable=SC2009 # pgrep cannot select by state
        if ps -o stat= -u "$account" | grep -qv '^Z'; then
            die "guests are connected as $account; end their sessions (pkill -u $account) and run this again:
$(ps -o pid,stat,lstart,args -u "$account")"
        fi
    fi

    uninstall_sshd
    uninstall_units

    if [ -n "$shell" ]; then
        # -f: userdel takes a zombie for a process still using the account.
        # shellcheck disable=SC2009
        if ps -o stat= -u "$account" | grep -q '^Z'; then userdel -f "$account"; else userdel "$account"; fi
        did "removed account $account"
    else
        kept "no account $account"
    fi
    # Recordings are kept (root's to read or remove); an empty directory goes.
    if [ -d "$RECORDINGS_DIR" ]; then
        if rmdir "$RECORDINGS_DIR" 2>/dev/null; then did "removed $RECORDINGS_DIR"; else warn "kept $RECORDINGS_DIR: it holds recordings"; fi
    fi
    if [ -d "$HOME_DIR" ]; then
        if rmdir "$HOME_DIR" 2>/dev/null; then did "removed $HOME_DIR"; else warn "kept $HOME_DIR: it is not empty"; fi
    fi
    if getent group "$GROUP" >/dev/null; then
        groupdel "$GROUP"
        did "removed group $GROUP"
    else
        kept "no group $GROUP"
    fi
    if grep -qxF "$dest" /etc/shells; then
        if command -v remove-shell >/dev/null; then
            remove-shell "$dest"
        else
            grep -vxF "$dest" /etc/shells >/etc/shells.new.$$ || true
            cat /etc/shells.new.$$ >/etc/shells
            rm -f /etc/shells.new.$$
        fi
        did "/etc/shells no longer lists $dest"
    fi

    # Hosts' entries name the group just removed: `pairshell host add`
    # writes them again from hosts_dir after a reinstall.
    local f
    for f in "$TMPFILES" "$HOSTS_TMPFILES"; do
        if [ -e "$f" ]; then rm -f "$f"; did "removed $f"; fi
    done
    if [ -d "$CLIENTS_DIR" ]; then
        rm -rf "$CLIENTS_DIR"
        did "removed $CLIENTS_DIR"
    fi
    if [ -d "$RUN_DIR" ]; then
        # Hosts' socket directories go when nothing uses them: tmux leaves
        # its socket file behind when its server ends, so a socket no
        # process holds (not in /proc/net/unix) is removed; a running
        # server's socket keeps its directory until the server ends or the
        # reboot.
        local sock
        while IFS= read -r -d '' sock; do
            if ! awk -v p="$sock" '$NF == p { found = 1 } END { exit !found }' /proc/net/unix; then
                rm -f "$sock"
            fi
        done < <(find "$RUN_DIR" -mindepth 2 -maxdepth 2 -type s -print0)
        # pairshell's own files beside a host's sockets (the presence mark
        # the server's hooks touch, answers to asks, a --public/--via
        # holder's state) go too, where no socket is left: they mean
        # nothing without the binary. -type f: never through a link.
        local dir
        while IFS= read -r -d '' dir; do
            if [ -z "$(find "$dir" -mindepth 1 -maxdepth 1 -type s -print -quit)" ]; then
                find "$dir" -mindepth 1 -maxdepth 1 -type f \( -name '.pairshell-*' -o -name '*.nat' \) -delete
            fi
        done < <(find "$RUN_DIR" -mindepth 1 -maxdepth 1 -type d -print0)
        find "$RUN_DIR" -mindepth 1 -maxdepth 1 -type d -empty -delete
        if rmdir "$RUN_DIR" 2>/dev/null; then
            did "removed $RUN_DIR"
        else
            warn "kept $RUN_DIR: hosts' tmux servers still have sockets in it"
        fi
    fi

    if [ $packaged = 0 ]; then
        local src dst mode n=0
        while read -r src dst mode; do
            if [ -e "$dst" ]; then
                rm -f "$dst"
                n=$((n + 1))
            fi
        done < <(extras)
        if [ $n -gt 0 ]; then did "removed $n man pages and completions under $SHARE"; fi
        # The directories install made for them, when nothing else is there.
        local dir
        for dir in "$SHARE"/man/man1 "$SHARE"/man/man5 "$SHARE"/bash-completion/completions \
            "$SHARE"/bash-completion "$SHARE"/zsh/site-functions "$SHARE"/zsh \
            "$SHARE"/fish/vendor_completions.d "$SHARE"/fish; do
            if [ -d "$dir" ]; then rmdir --ignore-fail-on-non-empty "$dir"; fi
        done
        if [ -e "$dest" ]; then
            rm -f "$dest"
            did "removed $dest"
        else
            kept "no $dest"
        fi
    fi

    if [ $purge = 1 ]; then
        if [ -e "$CONF_DIR" ]; then
            rm -rf "$CONF_DIR"
            did "removed $CONF_DIR"
        fi
    elif [ -e "$CONF_DIR" ]; then
        kept "$CONF_DIR (guests and host files; --purge removes it)"
    fi

    if [ $changes = 0 ]; then
        echo "pairshell was not installed: nothing changed."
    else
        echo "pairshell is uninstalled."
    fi
}

if [ $mode = install ]; then install_all; else uninstall_all; fi
