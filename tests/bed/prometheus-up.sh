#!/usr/bin/env bash
# Start a throwaway Prometheus on 127.0.0.1 serving a backfilled metrics history.
# Usage: prometheus-up.sh STATE_DIR OPENMETRICS_FILE [127.0.0.1:PORT ...]
#
# Installs Debian's `prometheus` package if prometheus/promtool are missing (without
# letting the package start its own service), turns OPENMETRICS_FILE into TSDB blocks
# with `promtool tsdb create-blocks-from openmetrics` in STATE_DIR/prometheus/data,
# starts prometheus on a free loopback port, waits (bounded) for /-/ready and for a
# query on the backfilled data to answer, appends `prometheus PID` to STATE_DIR/pids
# (down.sh STATE_DIR stops it), writes the URL to STATE_DIR/prometheus-url and prints
# it as the last stdout line. The history may lie in the future: Prometheus serves it.
#
# Each 127.0.0.1:PORT is also scraped every second, as job `kube-reclaimer` (a running
# daemon's /metrics). Live samples older than the newest backfilled one are refused, so
# a history meant to sit beside live targets must end at the present.
#
# Optional: KUBE_RECLAIMER_BED_PROM_EXTERNAL_LABELS, YAML flow-mapping entries such as
# `cluster: a` (global.external_labels, as a Thanos sidecar needs); KUBE_RECLAIMER_BED_PROM_BIN,
# the prometheus binary to serve with (default: Debian's `prometheus` on PATH; promtool is
# always Debian's).
set -euo pipefail

CACHE="${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}"
TIMEOUT="${KUBE_RECLAIMER_BED_PROM_TIMEOUT:-120}"
# Largest TSDB block promtool writes; it rounds down to 2h*3^k (162h, 486h, ...).
# Large blocks: promtool reads the input once per block, and Prometheus has few
# blocks to open. 744h (31d) is also Prometheus' own upper bound. A Go duration.
MAX_BLOCK="${KUBE_RECLAIMER_BED_PROM_MAX_BLOCK:-744h}"
EXTERNAL_LABELS="${KUBE_RECLAIMER_BED_PROM_EXTERNAL_LABELS:-}"
PROM_BIN="${KUBE_RECLAIMER_BED_PROM_BIN:-prometheus}"

log() { printf '[prometheus] %s\n' "$*" >&2; }
die() { printf '[prometheus] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 2 && -n "$1" && -n "$2" ]] || { echo "usage: $0 STATE_DIR OPENMETRICS_FILE [127.0.0.1:PORT ...]" >&2; exit 2; }
TARGETS=("${@:3}")
for target in "${TARGETS[@]}"; do
    [[ "$target" =~ ^127\.0\.0\.1:[0-9]{1,5}$ ]] || die "scrape target '$target' is not 127.0.0.1:PORT"
done
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "KUBE_RECLAIMER_BED_PROM_TIMEOUT must be a number of seconds"
[[ -r "$2" ]] || die "cannot read $2"
mkdir -p "$1"
STATE="$(cd "$1" && pwd)"
INPUT="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
PROM="$STATE/prometheus"
DATA="$PROM/data"
PIDS="$STATE/pids"
LOG="$STATE/logs/prometheus.log"

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
ms() { date +%s%3N; }

if [[ -s "$PIDS" ]]; then
    while read -r name pid; do
        if [[ "$name" == prometheus ]] && alive "$pid" && grep -qF "$STATE" "/proc/$pid/cmdline" 2>/dev/null; then
            die "prometheus is already running for $STATE (pid $pid); run down.sh $STATE first"
        fi
    done <"$PIDS"
fi

# ---------------------------------------------------------------- install
# shellcheck source=tests/bed/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

# shellcheck source=tests/bed/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
install_prometheus() {
    apt_install prometheus
    # Whatever the init system, leave nothing of the package's own services running.
    local svc
    for svc in prometheus prometheus-node-exporter; do
        if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
            systemctl stop "$svc" >/dev/null 2>&1 || true
            systemctl disable "$svc" >/dev/null 2>&1 || true
        elif [[ -x /etc/init.d/$svc ]]; then
            "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
        fi
    done
    local port
    for port in $(used_ports listening); do
        if [[ $port -eq 9090 || $port -eq 9100 ]]; then
            die "something listens on port $port after installing prometheus; stop it (service prometheus stop)"
        fi
    done
}
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    install_prometheus
fi
command -v prometheus >/dev/null 2>&1 || die "prometheus not found after install"
command -v promtool >/dev/null 2>&1 || die "promtool not found after install"
command -v "$PROM_BIN" >/dev/null 2>&1 || die "KUBE_RECLAIMER_BED_PROM_BIN: $PROM_BIN not found"

# ---------------------------------------------------------------- backfill
rm -rf "$PROM"
mkdir -p "$DATA" "$STATE/logs"
T0=$(ms)
log "backfilling $INPUT ($(du -h "$INPUT" | cut -f1)) into $DATA"
promtool tsdb create-blocks-from openmetrics --max-block-duration="$MAX_BLOCK" "$INPUT" "$DATA" \
    >"$STATE/logs/promtool.log" 2>&1 || {
    tail -n 20 "$STATE/logs/promtool.log" >&2
    die "promtool tsdb create-blocks-from openmetrics failed (log: $STATE/logs/promtool.log)"
}
T1=$(ms)
# Newest sample instant over all blocks (meta.json maxTime is exclusive, in ms): the
# readiness query is asked there, since the history may lie in the future.
MAX_T=0
for meta in "$DATA"/*/meta.json; do
    [[ -e $meta ]] || continue
    t="$(tr -d ' \n' <"$meta" | sed -n 's/.*"maxTime":\([0-9]*\).*/\1/p')"
    if [[ -n "$t" ]] && ((t > MAX_T)); then MAX_T=$t; fi
done
BLOCKS=$(find "$DATA" -mindepth 2 -maxdepth 2 -name meta.json | wc -l)
log "backfill: ${BLOCKS} block(s), $(du -sh "$DATA" | cut -f1) in $((T1 - T0))ms"

{
    cat <<'EOF'
# Throwaway Prometheus of the kube-reclaimer test bed: serves backfilled blocks, and
# scrapes the targets given on the command line.
global:
  scrape_interval: 1m
  evaluation_interval: 1m
EOF
    if [[ -n "$EXTERNAL_LABELS" ]]; then
        printf '  external_labels: {%s}\n' "$EXTERNAL_LABELS"
    fi
    if ((${#TARGETS[@]} == 0)); then
        echo 'scrape_configs: []'
    else
        printf 'scrape_configs:\n  - job_name: kube-reclaimer\n    scrape_interval: 1s\n    scrape_timeout: 1s\n'
        printf '    static_configs:\n      - targets: ['
        printf "'%s'," "${TARGETS[@]}" | sed 's/,$//'
        printf ']\n'
    fi
} >"$PROM/prometheus.yml"

# ---------------------------------------------------------------- free port
lock_ports
PORT="$(pick_port)"
URL="http://127.0.0.1:$PORT"

# ---------------------------------------------------------------- start
# Long retention: time-based retention counts back from the newest block, and every
# backfilled block must be kept whatever the wall clock says.
setsid "$PROM_BIN" \
    --config.file="$PROM/prometheus.yml" \
    --storage.tsdb.path="$DATA" \
    --storage.tsdb.retention.time=10y \
    --web.listen-address="127.0.0.1:$PORT" \
    --log.level=info \
    </dev/null >"$LOG" 2>&1 8>&- &
PID=$!
printf 'prometheus %d\n' "$PID" >>"$PIDS"
log "started prometheus (pid $PID) on $URL"

fail() {
    printf '[prometheus] ---- last lines of %s ----\n' "$LOG" >&2
    tail -n 30 "$LOG" >&2 || true
    kill -TERM "$PID" 2>/dev/null || true
    die "$*"
}
DEADLINE=$((SECONDS + TIMEOUT))
until curl -fsS --max-time 2 "$URL/-/ready" >/dev/null 2>&1; do
    alive "$PID" || fail "prometheus (pid $PID) exited"
    ((SECONDS < DEADLINE)) || fail "$URL/-/ready: not ready after ${TIMEOUT}s"
    sleep 0.2
done
exec 8>&-
T2=$(ms)
if ((MAX_T > 0)); then
    AT="$(awk -v t="$MAX_T" 'BEGIN { printf "%.3f", (t - 1) / 1000 }')"
    until curl -fsS --max-time 10 "$URL/api/v1/query" --data-urlencode 'query=count({__name__=~".+"})' \
        --data-urlencode "time=$AT" 2>/dev/null | grep -q '"result":\[{'; do
        alive "$PID" || fail "prometheus (pid $PID) exited"
        ((SECONDS < DEADLINE)) || fail "no answer on the backfilled data at $AT after ${TIMEOUT}s"
        sleep 0.2
    done
else
    log "no samples in $INPUT: nothing to check"
fi
T3=$(ms)
printf '%s\n' "$URL" >"$STATE/prometheus-url"
printf 'backfill_ms=%d ready_ms=%d query_ms=%d\n' $((T1 - T0)) $((T2 - T1)) $((T3 - T2)) >"$PROM/timings"
log "ready: start to /-/ready $((T2 - T1))ms, first query on backfilled data $((T3 - T2))ms"
printf '%s\n' "$URL"
