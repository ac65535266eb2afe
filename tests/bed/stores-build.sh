#!/usr/bin/env bash
# Build (once) and cache the metrics stores the fleet tests run against, each from its own
# release on the Go module proxy, built as its own main module (so its go.mod's replace
# directives and go.sum apply):
#   thanos            github.com/thanos-io/thanos                 ./cmd/thanos
#   victoria-metrics  github.com/VictoriaMetrics/VictoriaMetrics  ./app/victoria-metrics
#   prometheus (3.x)  github.com/prometheus/prometheus            ./cmd/prometheus
# Cached in ${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}/stores/<name>-<version>/
# and reused when present. Prints the cache's stores directory as the last stdout line.
# Built with each project's own release build tags (.promu.yml): Thanos needs `slicelabels`
# (without it, its gRPC label marshalling panics on the first Series call). GOWORK=off:
# Prometheus ships a go.work that would otherwise take over.
set -euo pipefail

CACHE="${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}"
STORES="$CACHE/stores"

# name module version package  (keep in step with tests/support/stores.rs)
STORE_LIST=(
    "thanos github.com/thanos-io/thanos v0.42.4 ./cmd/thanos"
    "victoria-metrics github.com/VictoriaMetrics/VictoriaMetrics v1.151.0 ./app/victoria-metrics"
    "prometheus github.com/prometheus/prometheus v0.316.0 ./cmd/prometheus"
)

log() { printf '[stores] %s\n' "$*" >&2; }
die() { printf '[stores] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=tests/bed/go.sh
source "$(dirname "${BASH_SOURCE[0]}")/go.sh"

# A cached binary counts only if it runs and was built with the tags asked for now.
have_bin() {
    [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1 && [[ "$(cat "$1.tags" 2>/dev/null)" == "$2" ]]
}

# Release build tags (.promu.yml of each project).
tags_of() {
    case "$1" in
        thanos) echo netgo,slicelabels ;;
        *) echo netgo ;;
    esac
}

build_one() {
    local name=$1 module=$2 version=$3 pkg=$4 go_bin dir src work out start ldflags tags
    out="$STORES/$name-$version/$name"
    tags="$(tags_of "$name")"
    if have_bin "$out" "$tags"; then
        log "$name $version: cached at $out"
        return 0
    fi
    go_bin="$(find_go)" || die "no Go toolchain found (set GO=/path/to/go)"
    log "building $name $version with $("$go_bin" env GOVERSION) (first time takes a few minutes)..."
    start=$SECONDS
    src="$(GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod "$go_bin" mod download -json "$module@$version" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" \
        || die "go mod download $module@$version failed"
    work="$(mktemp -d "$CACHE/.build-$name.XXXXXX")"
    cp -r "$src/." "$work/"
    chmod -R u+w "$work"
    ldflags="-s -w"
    case "$name" in
        thanos | prometheus)
            ldflags+=" -X github.com/prometheus/common/version.Version=${version#v}"
            ldflags+=" -X github.com/prometheus/common/version.Revision=release"
            ;;
        victoria-metrics)
            ldflags+=" -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-metrics-$version"
            ;;
    esac
    mkdir -p "$STORES/$name-$version"
    (
        cd "$work"
        GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
            "$go_bin" build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg"
    ) || { rm -rf "$work" "$out.tmp.$$"; die "go build of $name $version failed"; }
    rm -rf "$work"
    mv -f "$out.tmp.$$" "$out"
    printf '%s\n' "$tags" >"$out.tags"
    have_bin "$out" "$tags" || die "$out was built but does not run"
    log "built $name $version in $((SECONDS - start)) s -> $out"
}

mkdir -p "$STORES"
exec 9>"$CACHE/stores.lock"
flock -w 3600 9 || die "timed out waiting for another stores-build.sh holding $CACHE/stores.lock"
for entry in "${STORE_LIST[@]}"; do
    # shellcheck disable=SC2086
    build_one $entry
done
exec 9>&-
printf '%s\n' "$STORES"
