#!/usr/bin/env bash
# Stop the control plane started by up.sh STATE_DIR (idempotent).
# SIGTERM in reverse start order, bounded wait, then SIGKILL.
# Usage: down.sh STATE_DIR
set -euo pipefail

GRACE="${KUBE_RECLAIMER_BED_STOP_GRACE:-10}"

log() { printf '[bed] %s\n' "$*" >&2; }

[[ $# -eq 1 && -n "$1" ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
if [[ ! -d "$1" ]]; then
    log "no state dir $1; nothing to stop"
    exit 0
fi
STATE="$(cd "$1" && pwd)"
PIDS="$STATE/pids"
if [[ ! -s "$PIDS" ]]; then
    log "nothing to stop in $STATE"
    exit 0
fi

# Only signal a pid that is still one of ours: its command line names STATE.
ours() { kill -0 "$1" 2>/dev/null && grep -qF "$STATE" "/proc/$1/cmdline" 2>/dev/null; }

names=(); pids=()
while read -r name pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    names=("$name" "${names[@]}"); pids=("$pid" "${pids[@]}")   # reverse order
done <"$PIDS"

for i in "${!pids[@]}"; do
    pid="${pids[$i]}"; name="${names[$i]}"
    ours "$pid" || continue
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + GRACE))
    while ours "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if ours "$pid"; then
        log "$name (pid $pid) still running after ${GRACE}s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    fi
done

left=0
for pid in "${pids[@]}"; do
    if ours "$pid"; then log "pid $pid is still running"; left=1; fi
done
[[ $left -eq 0 ]] || exit 1
: >"$PIDS"
log "stopped (state kept in $STATE)"
