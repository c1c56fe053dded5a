# prism's scrub (user data of a short-lived helper launched from the team's image).
# Removes the files the inspection found (PRISM_SCRUB_LIST: one base64-encoded path a line),
# empties the histories it found (PRISM_SCRUB_EMPTY) and the usual ones of every home, removes the SSH host keys (the
# next boot makes new ones) and cloud-init's instance state, then powers the helper off.
# Honours PRISM_INSPECT_ROOT (default /) like the inspection, so it runs against a tree.
root="${PRISM_INSPECT_ROOT:-/}"
root="${root%/}"
log() { printf 'prism-scrub: %s\n' "$*"; }
safe() {  # an absolute path without .. components
    case "$1" in /*) ;; *) return 1 ;; esac
    case "/$1/" in */../*|*/./*) return 1 ;; esac
    return 0
}
printf '%s\n' "${PRISM_SCRUB_LIST:-}" | while IFS= read -r encoded; do
    [ -n "$encoded" ] || continue
    path=$(printf '%s' "$encoded" | base64 -d 2>/dev/null) || continue
    if safe "$path" && [ "$path" != "/" ]; then
        rm -rf -- "$root$path" && log "removed $path"
    fi
done
printf '%s\n' "${PRISM_SCRUB_EMPTY:-}" | while IFS= read -r encoded; do
    [ -n "$encoded" ] || continue
    path=$(printf '%s' "$encoded" | base64 -d 2>/dev/null) || continue
    if safe "$path" && [ -f "$root$path" ] && [ ! -L "$root$path" ]; then
        : > "$root$path" && log "emptied $path"
    fi
done
for home in "$root"/root "$root"/home/*; do
    [ -d "$home" ] && [ ! -L "$home" ] || continue
    for name in .bash_history .zsh_history .sh_history .ash_history .history \
        .python_history .Rhistory .psql_history .mysql_history .sqlite_history \
        .node_repl_history .local/share/fish/fish_history; do
        if [ -f "$home/$name" ] && [ ! -L "$home/$name" ]; then
            : > "$home/$name" && log "emptied ${home#"$root"}/$name"
        fi
    done
done
for key in "$root"/etc/ssh/ssh_host_*_key "$root"/etc/ssh/ssh_host_*_key.pub; do
    [ -e "$key" ] && rm -f -- "$key" && log "removed ${key#"$root"}"
done
if [ -d "$root/var/lib/cloud/instances" ]; then
    rm -rf -- "$root"/var/lib/cloud/instances/* "$root/var/lib/cloud/instance"
    log "removed cloud-init instance state"
fi
sync
log "done"
if [ "$root" = "" ] && [ "${PRISM_SCRUB_POWEROFF:-1}" = "1" ]; then
    poweroff || shutdown -h now
fi
