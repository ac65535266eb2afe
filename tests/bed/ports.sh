# shellcheck shell=bash
# Free loopback ports for the bed's servers; sourced by up.sh and prometheus-up.sh, which
# define die() and CACHE first.
#
# lock_ports takes $CACHE/ports.lock on fd 8, so concurrent starts serialise from port
# choice until the caller has bound its ports and exits. pick_port prints a port that is
# in no socket table and outside the ephemeral range; the caller adds it to USED.

used_ports() {
    # every local port in /proc/net/tcp{,6} as decimal; with `listening`, only those
    # in state LISTEN (0A)
    local f state="${1:-any}"
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        awk -v state="$state" 'NR > 1 && (state == "any" || $4 == "0A") { split($2, a, ":"); print a[2] }' "$f"
    done | while read -r hex; do printf '%d\n' "0x$hex"; done | sort -u
}

lock_ports() {
    mkdir -p "$CACHE"
    exec 8>"$CACHE/ports.lock"
    flock -w 180 8 || die "timed out waiting for $CACHE/ports.lock (another bed starting?)"
    read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range
    USED=" $(used_ports any | tr '\n' ' ') "
}

pick_port() {
    local p tries=0
    while ((tries++ < 2000)); do
        p=$((20000 + RANDOM % 12000))
        ((p >= EPH_LO && p <= EPH_HI)) && continue
        [[ "$USED" == *" $p "* ]] && continue
        printf '%d\n' "$p"
        return 0
    done
    die "could not find a free port"
}
