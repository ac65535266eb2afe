#!/usr/bin/env bash
# End-to-end check of the test bed: two beds at once, namespace
# with labels, pod status via the status subresource, ResourceQuota usage filled
# by the controller-manager, namespace deletion finished by the namespace
# controller, and nothing left running after down.sh.
# Usage: smoke.sh [WORK_DIR]   (default: a new temp dir, removed on success)
set -euo pipefail

BED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${1:-$(mktemp -d "${TMPDIR:-/tmp}/kube-reclaimer-bed-smoke.XXXXXX")}"
S1="$WORK/bed1"
S2="$WORK/bed2"

log() { printf '[smoke] %s\n' "$*" >&2; }
fail() { printf '[smoke] FAIL: %s\n' "$*" >&2; exit 1; }
# the kubectl bin-build.sh built alongside the control plane (same version)
KUBECTL="$("$BED_DIR/bin-build.sh" | tail -n 1)/kubectl"

cleanup() {
    "$BED_DIR/down.sh" "$S2" >/dev/null 2>&1 || true
    "$BED_DIR/down.sh" "$S1" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# poll SECONDS CMD...: bounded retry until CMD succeeds
poll() {
    local limit=$(($1 * 4)) i=0; shift
    until "$@" >/dev/null 2>&1; do
        ((++i < limit)) || return 1
        sleep 0.25
    done
}

rss() { awk '/VmRSS/ { printf "%d MiB", $2 / 1024 }' "/proc/$1/status"; }

t0=$SECONDS
"$BED_DIR/up.sh" "$S1" >/dev/null
log "bed1 up in $((SECONDS - t0)) s"
k1() { "$KUBECTL" --kubeconfig "$S1/kubeconfig" --request-timeout=10s "$@"; }

k1 create namespace smoke-a >/dev/null
k1 label namespace smoke-a kube-reclaimer.io/owner=smoke kube-reclaimer.io/ttl=1h >/dev/null
[[ "$(k1 get ns smoke-a -o jsonpath='{.metadata.labels.kube-reclaimer\.io/owner}')" == smoke ]] ||
    fail "namespace label not set"
log "namespace smoke-a created with labels"

poll 20 k1 -n smoke-a get serviceaccount default || fail "no default ServiceAccount in smoke-a"
k1 -n smoke-a run p1 --image=registry.invalid/none:1 --restart=Never >/dev/null
[[ "$(k1 -n smoke-a get pod p1 -o jsonpath='{.status.phase}')" == Pending ]] || fail "pod not Pending"
k1 -n smoke-a patch pod p1 --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null
[[ "$(k1 -n smoke-a get pod p1 -o jsonpath='{.status.phase}')" == Running ]] || fail "pod not Running"
log "pod p1 Pending -> Running via status subresource"

k1 -n smoke-a create quota q1 --hard=pods=10,configmaps=20 >/dev/null
quota_used() { [[ "$(k1 -n smoke-a get quota q1 -o jsonpath='{.status.used.pods}')" == 1 ]]; }
poll 30 quota_used || fail "ResourceQuota status.used.pods not filled"
log "ResourceQuota status.used: $(k1 -n smoke-a get quota q1 -o jsonpath='{.status.used}')"

t0=$SECONDS
"$BED_DIR/up.sh" "$S2" >/dev/null
log "bed2 up in $((SECONDS - t0)) s while bed1 runs"
k2() { "$KUBECTL" --kubeconfig "$S2/kubeconfig" --request-timeout=10s "$@"; }
k2 get namespace default >/dev/null || fail "bed2 not answering"
if k2 get namespace smoke-a >/dev/null 2>&1; then fail "bed2 shares state with bed1"; fi
# shellcheck disable=SC1091
p1="$(. "$S1/env" && echo "$KUBE_RECLAIMER_BED_API_PORT")"
# shellcheck disable=SC1091
p2="$(. "$S2/env" && echo "$KUBE_RECLAIMER_BED_API_PORT")"
[[ "$p1" != "$p2" ]] || fail "both beds on port $p1"
log "bed1 apiserver :$p1, bed2 apiserver :$p2"

while read -r name pid; do log "bed1 $name RSS $(rss "$pid")"; done <"$S1/pids"

t0=$SECONDS
k1 delete namespace smoke-a --wait=false >/dev/null
ns_gone() { ! k1 get namespace smoke-a >/dev/null 2>&1 && [[ -z "$(k1 get namespace smoke-a --ignore-not-found -o name)" ]]; }
poll 30 ns_gone || fail "namespace smoke-a still there after 30 s: $(k1 get ns smoke-a -o jsonpath='{.status}')"
log "namespace smoke-a deleted by the namespace controller in $((SECONDS - t0)) s"

"$BED_DIR/down.sh" "$S2" >/dev/null 2>&1
"$BED_DIR/down.sh" "$S1" >/dev/null 2>&1
left=""
for d in /proc/[0-9]*; do
    read -r comm <"$d/comm" 2>/dev/null || continue
    case "$comm" in
        etcd | kube-apiserver | kube-controller*)
            if grep -qsF "$WORK" "$d/cmdline"; then left+=" ${d#/proc/}($comm)"; fi ;;
    esac
done
[[ -z "$left" ]] || fail "processes left after down.sh: $left"
if ss -ltn 2>/dev/null | grep -qE ":($p1|$p2)\b"; then fail "ports still listening"; fi
log "down.sh left no processes"
trap - EXIT
[[ $# -ge 1 ]] || rm -rf "$WORK"
echo "1 passed, 0 failed"
