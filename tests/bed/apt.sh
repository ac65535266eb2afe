#!/usr/bin/env bash
# Install Debian packages for the test suite, one apt-get at a time on this machine.
#   apt.sh --all        every package in debian-packages.txt (what .ci/run calls)
#   apt.sh PKG ...      just these
# Sourced by the bed scripts, it defines apt_install PKG ... (they define log and die).
#
# Every caller takes the same lock ($CACHE/apt.lock) and passes DPkg::Lock::Timeout, so
# tests that start together wait for each other, and for any other apt-get, instead of
# failing on dpkg's lock. Packages' own services are never started (policy-rc.d), so
# Debian's prometheus does not take port 9090. Already installed packages are skipped.
# shellcheck shell=bash

APT_LOCK_TIMEOUT="${KUBE_RECLAIMER_APT_TIMEOUT:-1200}"

apt_missing() {
    local pkg
    for pkg in "$@"; do
        [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] ||
            printf '%s\n' "$pkg"
    done
}

apt_install() {
    local missing cache="${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}"
    mapfile -t missing < <(apt_missing "$@")
    [[ ${#missing[@]} -gt 0 ]] || return 0
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install ${missing[*]} (or install them yourself)"
    mkdir -p "$cache"
    exec 7>"$cache/apt.lock"
    flock -w "$APT_LOCK_TIMEOUT" 7 || die "timed out after ${APT_LOCK_TIMEOUT} s waiting for $cache/apt.lock"
    # Another caller may have installed them while this one waited.
    mapfile -t missing < <(apt_missing "${missing[@]}")
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing Debian packages: ${missing[*]}"
        local policy=/usr/sbin/policy-rc.d created=0 rc=0 started=$SECONDS
        if [[ ! -e $policy ]]; then
            # invoke-rc.d and deb-systemd-invoke ask this script; 101 = action forbidden
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod 755 "$policy"
            created=1
        fi
        local apt=(apt-get -y -qq -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT")
        {
            DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
                "${apt[@]}" update >/dev/null &&
                    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null
            }
        } || rc=$?
        [[ $created -eq 0 ]] || rm -f "$policy"
        [[ $rc -eq 0 ]] || { exec 7>&-; die "apt-get install ${missing[*]} failed ($rc)"; }
        log "installed in $((SECONDS - started)) s"
    fi
    exec 7>&-
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    log() { printf '[apt] %s\n' "$*" >&2; }
    die() { printf '[apt] ERROR: %s\n' "$*" >&2; exit 1; }
    if [[ "${1:-}" == --all && $# -eq 1 ]]; then
        mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]*$//' \
            "$(dirname "${BASH_SOURCE[0]}")/debian-packages.txt")
        set -- "${pkgs[@]}"
    fi
    [[ $# -gt 0 && "$1" != -* ]] || { echo "usage: $0 --all | PACKAGE ..." >&2; exit 2; }
    apt_install "$@"
fi
