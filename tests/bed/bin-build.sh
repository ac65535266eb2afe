#!/usr/bin/env bash
# Build (once) and cache the test-bed binaries, all from k8s.io/kubernetes (see go.mod):
#   kube-apiserver, kube-controller-manager  (the control plane)
#   kubectl                                  (for tests that drive the bed as a user would)
# Cached in ${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}/bin/<k8s version>/
# and reused when present. Prints the binary directory as the last stdout line.
set -euo pipefail

BED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}"

log() { printf '[bed] %s\n' "$*" >&2; }
die() { printf '[bed] ERROR: %s\n' "$*" >&2; exit 1; }

K8S_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$BED_DIR/go.mod")"
[[ "$K8S_VERSION" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || die "cannot read the k8s.io/kubernetes version from $BED_DIR/go.mod"
BIN_DIR="$CACHE/bin/$K8S_VERSION"

# shellcheck source=tests/bed/go.sh
source "$(dirname "${BASH_SOURCE[0]}")/go.sh"

BINARIES=(kube-apiserver kube-controller-manager kubectl)

# A cached binary counts only if it runs.
have_bin() {
    [[ -x "$BIN_DIR/$1" ]] || return 1
    if [[ "$1" == kubectl ]]; then
        "$BIN_DIR/$1" version --client >/dev/null 2>&1
    else
        "$BIN_DIR/$1" --version >/dev/null 2>&1
    fi
}
have_all() {
    local name
    for name in "${BINARIES[@]}"; do have_bin "$name" || return 1; done
}

build_all() {
    local go_bin major minor ldflags name tmp start
    go_bin="$(find_go)" || die "no Go toolchain found (set GO=/path/to/go)"
    major="${K8S_VERSION#v}"; major="${major%%.*}"
    minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    mkdir -p "$BIN_DIR"
    for name in "${BINARIES[@]}"; do
        if have_bin "$name"; then
            log "$name $K8S_VERSION: cached at $BIN_DIR/$name"
            continue
        fi
        log "building $name $K8S_VERSION with $("$go_bin" env GOVERSION) (first time takes a few minutes; the k8s.io/kubernetes module download is large)..."
        start=$SECONDS
        tmp="$BIN_DIR/.$name.tmp.$$"
        (
            cd "$BED_DIR"
            GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly" CGO_ENABLED=0 \
                "$go_bin" build -trimpath -tags providerless -ldflags "$ldflags" \
                -o "$tmp" "k8s.io/kubernetes/cmd/$name"
        ) || { rm -f "$tmp"; die "go build of $name failed"; }
        mv -f "$tmp" "$BIN_DIR/$name"
        log "built $name in $((SECONDS - start)) s -> $BIN_DIR/$name"
    done
}

mkdir -p "$CACHE"
if have_all; then
    log "binaries for $K8S_VERSION are cached in $BIN_DIR"
else
    # Serialise concurrent builds (e.g. two up.sh at once); bounded wait.
    exec 9>"$CACHE/build.lock"
    flock -w 3600 9 || die "timed out waiting for another bin-build.sh holding $CACHE/build.lock"
    build_all
    exec 9>&-
fi
printf '%s\n' "$BIN_DIR"
