#!/usr/bin/env bash
# Start a throwaway SMTP server (tests/bed/smtp_server.py, Python's aiosmtpd) on
# 127.0.0.1:<free port>. Every accepted message is written to STATE_DIR/mail/<n>.eml.
# Usage: smtp-up.sh STATE_DIR [--tls starttls|tls|none] [--user NAME]
#
#   --tls     none (default): plain SMTP; starttls: STARTTLS required before MAIL;
#             tls: implicit TLS. Both TLS modes use a fresh throwaway CA, written to
#             STATE_DIR/smtp-ca.crt; the server's certificate is for 127.0.0.1 and
#             localhost.
#   --user    require AUTH (PLAIN or LOGIN) as NAME, with the password from the
#             environment variable KUBE_RECLAIMER_SMTP_PASSWORD (must be set). Like any
#             SMTP server, it offers AUTH only over TLS.
#
# Installs Debian's python3-aiosmtpd with apt-get if /usr/bin/python3 cannot import
# aiosmtpd, and runs the server with /usr/bin/python3 (Debian's, whatever python3 comes
# first on PATH). Waits (bounded, KUBE_RECLAIMER_SMTP_TIMEOUT, default 20 s) until the
# server answers, appends `smtp PID` to STATE_DIR/pids (down.sh or smtp-down.sh stops
# it), writes STATE_DIR/smtp.env (KEY=value lines) and prints the port as the last
# stdout line. Log: STATE_DIR/logs/smtp.log.
set -euo pipefail

BED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}"
TIMEOUT="${KUBE_RECLAIMER_SMTP_TIMEOUT:-20}"
PYTHON=/usr/bin/python3

log() { printf '[smtp] %s\n' "$*" >&2; }
die() { printf '[smtp] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { echo "usage: $0 STATE_DIR [--tls starttls|tls|none] [--user NAME]" >&2; exit 2; }

[[ $# -ge 1 && -n "$1" && "$1" != -* ]] || usage
STATE_ARG="$1"; shift
TLS=none
USER_NAME=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --tls) [[ $# -ge 2 ]] || usage; TLS="$2"; shift 2 ;;
        --user) [[ $# -ge 2 && -n "$2" ]] || usage; USER_NAME="$2"; shift 2 ;;
        *) usage ;;
    esac
done
[[ "$TLS" =~ ^(none|starttls|tls)$ ]] || die "--tls must be none, starttls or tls, not '$TLS'"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "KUBE_RECLAIMER_SMTP_TIMEOUT must be a number of seconds"
if [[ -n "$USER_NAME" && -z "${KUBE_RECLAIMER_SMTP_PASSWORD:-}" ]]; then
    die "--user needs the password in KUBE_RECLAIMER_SMTP_PASSWORD"
fi
mkdir -p "$STATE_ARG"
STATE="$(cd "$STATE_ARG" && pwd)"
PIDS="$STATE/pids"
LOG="$STATE/logs/smtp.log"
PKI="$STATE/smtp-pki"

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

if [[ -s "$PIDS" ]]; then
    while read -r name pid; do
        if [[ "$name" == smtp ]] && alive "$pid" && grep -qF "$STATE" "/proc/$pid/cmdline" 2>/dev/null; then
            die "an SMTP server is already running for $STATE (pid $pid); run smtp-down.sh $STATE first"
        fi
    done <"$PIDS"
fi

# ---------------------------------------------------------------- install
missing=()
"$PYTHON" -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
if [[ ${#missing[@]} -gt 0 ]]; then
    # shellcheck source=tests/bed/apt.sh
    source "$BED_DIR/apt.sh"
    apt_install "${missing[@]}"
    "$PYTHON" -c 'import aiosmtpd' || die "$PYTHON cannot import aiosmtpd after installing python3-aiosmtpd"
fi

# ---------------------------------------------------------------- fresh state
rm -rf "$STATE/mail" "$PKI" "$STATE/smtp-ca.crt" "$STATE/smtp.ready" "$STATE/smtp.env"
mkdir -p "$STATE/mail" "$STATE/logs"
touch "$PIDS"

# ---------------------------------------------------------------- certificates
TLS_ARGS=()
if [[ "$TLS" != none ]]; then
    mkdir -p "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
        -keyout "$PKI/ca.key" -out "$STATE/smtp-ca.crt" \
        -subj "/CN=kube-reclaimer test SMTP CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 \
        || die "openssl could not create the test CA"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$PKI/server.key" -out "$PKI/server.csr" -subj "/CN=localhost" >/dev/null 2>&1 \
        || die "openssl could not create the server key"
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$PKI/server.ext"
    openssl x509 -req -in "$PKI/server.csr" -CA "$STATE/smtp-ca.crt" -CAkey "$PKI/ca.key" \
        -CAcreateserial -days 7 -extfile "$PKI/server.ext" -out "$PKI/server.crt" >/dev/null 2>&1 \
        || die "openssl could not sign the server certificate"
    TLS_ARGS=(--cert "$PKI/server.crt" --key "$PKI/server.key")
fi
AUTH_ARGS=()
[[ -z "$USER_NAME" ]] || AUTH_ARGS=(--user "$USER_NAME")

# ---------------------------------------------------------------- start
# shellcheck source=tests/bed/ports.sh
source "$BED_DIR/ports.sh"
lock_ports
PORT="$(pick_port)"

# 8>&-: the server must not inherit (and so hold) the ports lock. --state puts STATE
# on its command line, which is how down.sh recognises it as ours.
setsid "$PYTHON" "$BED_DIR/smtp_server.py" --state "$STATE" --port "$PORT" --tls "$TLS" \
    "${TLS_ARGS[@]}" "${AUTH_ARGS[@]}" </dev/null >"$LOG" 2>&1 8>&- &
PID=$!
printf 'smtp %d\n' "$PID" >>"$PIDS"
log "started the SMTP server (pid $PID) on 127.0.0.1:$PORT, tls $TLS, auth ${USER_NAME:-off}"

DEADLINE=$((SECONDS + TIMEOUT))
until [[ -s "$STATE/smtp.ready" ]]; do
    why=""
    alive "$PID" || why="the server (pid $PID) exited"
    ((SECONDS < DEADLINE)) || why="${why:-not ready after ${TIMEOUT}s}"
    if [[ -n "$why" ]]; then
        printf '[smtp] ---- last lines of %s ----\n' "$LOG" >&2
        tail -n 30 "$LOG" >&2 || true
        kill -TERM "$PID" 2>/dev/null || true
        die "$why"
    fi
    sleep 0.1
done
exec 8>&-

{
    printf 'KUBE_RECLAIMER_SMTP_HOST=127.0.0.1\n'
    printf 'KUBE_RECLAIMER_SMTP_PORT=%d\n' "$PORT"
    printf 'KUBE_RECLAIMER_SMTP_TLS=%s\n' "$TLS"
    [[ "$TLS" == none ]] || printf 'KUBE_RECLAIMER_SMTP_CA=%s\n' "$STATE/smtp-ca.crt"
    [[ -z "$USER_NAME" ]] || printf 'KUBE_RECLAIMER_SMTP_USER=%s\n' "$USER_NAME"
    printf 'KUBE_RECLAIMER_SMTP_MAIL_DIR=%s\n' "$STATE/mail"
} >"$STATE/smtp.env"
log "ready; mail goes to $STATE/mail"
printf '%d\n' "$PORT"
