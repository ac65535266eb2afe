#!/usr/bin/env bash
# Render an HTML file to PNG with headless Chromium (Debian's `chromium` package), so a
# test can look at what a mail looks like, not only parse it.
# Usage: screenshot.sh HTML_FILE PNG_FILE [WIDTH [HEIGHT]]   (default 1280 x 2000)
#
# Installs Debian's chromium with apt-get if /usr/bin/chromium is missing (as root;
# about 100 MB). The render is bounded (KUBE_RECLAIMER_SCREENSHOT_TIMEOUT, default 60 s),
# runs with a throwaway profile, no network use of its own, no sandbox (root in a
# container has none to give). Prints the PNG's path as the last stdout line.
set -euo pipefail

TIMEOUT="${KUBE_RECLAIMER_SCREENSHOT_TIMEOUT:-60}"
CHROMIUM=/usr/bin/chromium

log() { printf '[screenshot] %s\n' "$*" >&2; }
die() { printf '[screenshot] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { echo "usage: $0 HTML_FILE PNG_FILE [WIDTH [HEIGHT]]" >&2; exit 2; }

[[ $# -ge 2 && $# -le 4 ]] || usage
HTML="$1"
PNG="$2"
WIDTH="${3:-1280}"
HEIGHT="${4:-2000}"
[[ -f "$HTML" ]] || die "no such file: $HTML"
[[ "$WIDTH" =~ ^[0-9]+$ && "$HEIGHT" =~ ^[0-9]+$ ]] || die "WIDTH and HEIGHT must be numbers of pixels"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "KUBE_RECLAIMER_SCREENSHOT_TIMEOUT must be a number of seconds"

# ---------------------------------------------------------------- install
missing=()
[[ -x "$CHROMIUM" ]] || missing+=(chromium)
command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
if [[ ${#missing[@]} -gt 0 ]]; then
    # shellcheck source=tests/bed/apt.sh
    source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
    apt_install "${missing[@]}"
    [[ -x "$CHROMIUM" ]] || die "$CHROMIUM is missing after installing chromium"
fi

# ---------------------------------------------------------------- render
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
mkdir -p "$(dirname "$PNG")"
rm -f "$PNG"
HTML_ABS="$(cd "$(dirname "$HTML")" && pwd)/$(basename "$HTML")"
PNG_ABS="$(cd "$(dirname "$PNG")" && pwd)/$(basename "$PNG")"
started=$SECONDS
# Chromium's own chatter (GPU, D-Bus) goes to a log that is shown only on failure.
if ! timeout --kill-after=5 "$TIMEOUT" "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-extensions --disable-sync --no-first-run \
    --disable-component-update --disable-default-apps --mute-audio --hide-scrollbars \
    --user-data-dir="$PROFILE" --window-size="$WIDTH,$HEIGHT" \
    --screenshot="$PNG_ABS" "file://$HTML_ABS" >"$PROFILE/chromium.log" 2>&1; then
    tail -n 30 "$PROFILE/chromium.log" >&2 || true
    die "chromium failed or did not finish within ${TIMEOUT}s"
fi
[[ -s "$PNG_ABS" ]] || { tail -n 30 "$PROFILE/chromium.log" >&2 || true; die "chromium wrote no $PNG_ABS"; }
log "rendered $HTML_ABS to $PNG_ABS (${WIDTH}x${HEIGHT}) in $((SECONDS - started)) s"
printf '%s\n' "$PNG_ABS"
