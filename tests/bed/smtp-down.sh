#!/usr/bin/env bash
# Stop the SMTP server started by smtp-up.sh STATE_DIR, and nothing else in STATE_DIR
# (idempotent): SIGTERM, bounded wait (KUBE_RECLAIMER_BED_STOP_GRACE, default 10 s),
# then SIGKILL. Tests use it to check that a send to a server that is down fails.
# Usage: smtp-down.sh STATE_DIR
set -euo pipefail

GRACE="${KUBE_RECLAIMER_BED_STOP_GRACE:-10}"

log() { printf '[smtp] %s\n' "$*" >&2; }

[[ $# -eq 1 && -n "$1" ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
if [[ ! -s "$1/pids" ]]; then
    log "nothing to stop in $1"
    exit 0
fi
STATE="$(cd "$1" && pwd)"

# Only signal a pid that is still one of ours: its command line names STATE.
ours() { kill -0 "$1" 2>/dev/null && grep -qF "$STATE" "/proc/$1/cmdline" 2>/dev/null; }

while read -r name pid; do
    [[ "$name" == smtp && "$pid" =~ ^[0-9]+$ ]] || continue
    ours "$pid" || continue
    log "stopping the SMTP server (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + GRACE))
    while ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if ours "$pid"; then
        log "pid $pid still running after ${GRACE}s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    fi
    if ours "$pid"; then
        log "pid $pid is still running"
        exit 1
    fi
done <"$STATE/pids"
rm -f "$STATE/smtp.ready"
log "stopped (state kept in $STATE)"
