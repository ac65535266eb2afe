#!/usr/bin/env bash
# Start a real, throwaway Kubernetes control plane on 127.0.0.1:
#   etcd + kube-apiserver + kube-controller-manager, no kubelet/scheduler.
# Usage: up.sh STATE_DIR
# Writes STATE_DIR/kubeconfig (admin, client cert), STATE_DIR/env (ports, URLs),
# STATE_DIR/pids and STATE_DIR/logs/*.log. Stop with down.sh STATE_DIR.
set -euo pipefail

BED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KUBE_RECLAIMER_BED_CACHE:-$HOME/.cache/kube-reclaimer-bed}"
TIMEOUT="${KUBE_RECLAIMER_BED_TIMEOUT:-60}"
CONTROLLERS="${KUBE_RECLAIMER_BED_CONTROLLERS:-namespace-controller,garbage-collector-controller,resourcequota-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller}"
VERBOSITY="${KUBE_RECLAIMER_BED_VERBOSITY:-2}"

log() { printf '[bed] %s\n' "$*" >&2; }
die() { printf '[bed] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && -n "$1" ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "KUBE_RECLAIMER_BED_TIMEOUT must be a number of seconds"
mkdir -p "$1"
STATE="$(cd "$1" && pwd)"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"

# ---------------------------------------------------------------- prerequisites
# shellcheck source=tests/bed/apt.sh
source "$BED_DIR/apt.sh"
ensure_pkgs() {
    local missing=() cmd pkg
    for pair in etcd:etcd-server openssl:openssl curl:curl flock:util-linux setsid:util-linux; do
        cmd="${pair%%:*}"; pkg="${pair#*:}"
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] || apt_install "${missing[@]}"
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

if [[ -s "$PIDS" ]]; then
    while read -r _name pid; do
        if alive "$pid" && grep -qF "$STATE" "/proc/$pid/cmdline" 2>/dev/null; then
            die "a bed is already running in $STATE (pid $pid); run down.sh $STATE first"
        fi
    done <"$PIDS"
fi

ensure_pkgs
BIN_DIR="$("$BED_DIR/bin-build.sh" | tail -n 1)"
APISERVER="$BIN_DIR/kube-apiserver"
KCM="$BIN_DIR/kube-controller-manager"
ETCD="${KUBE_RECLAIMER_BED_ETCD:-$(command -v etcd)}"

# Fresh state every time (keeps nothing from an earlier run in this dir).
rm -rf "$PKI" "$LOGS" "$STATE/etcd" "$STATE/apiserver-certs" "$STATE/kcm-certs" \
    "$PIDS" "$STATE/env" "$STATE/kubeconfig" "$STATE/kcm.kubeconfig" "$STATE/tokens.csv" "$STATE/admin-token"
mkdir -p "$PKI" "$LOGS" "$STATE/apiserver-certs" "$STATE/kcm-certs"
: >"$PIDS"

# ---------------------------------------------------------------- failure path
STARTED=0
CURRENT=""   # component being started or waited for: its log is shown on failure
on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && $STARTED -eq 1 ]]; then
        if [[ -n "$CURRENT" && -s "$LOGS/$CURRENT.log" ]]; then
            printf '[bed] ---- last lines of %s ----\n' "$LOGS/$CURRENT.log" >&2
            tail -n 30 "$LOGS/$CURRENT.log" >&2 || true
            printf '[bed] ---- end of %s ----\n' "$LOGS/$CURRENT.log" >&2
        fi
        log "startup failed; stopping what was started (state kept in $STATE)"
        "$BED_DIR/down.sh" "$STATE" >&2 || true
    fi
}
trap on_exit EXIT

# ---------------------------------------------------------------- PKI (throwaway CA)
ossl() { openssl "$@" >/dev/null 2>&1 || die "openssl $1 failed"; }
newkey() { ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/$1.key"; }
newca() { # NAME CN
    newkey "$1"
    ossl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$PKI/$1.crt"
}
sign() { # CA NAME SUBJECT EXTENSIONS...
    local ca="$1" name="$2" subj="$3"; shift 3
    newkey "$name"
    ossl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr"
    printf '%s\n' "$@" >"$PKI/$name.ext"
    ossl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt"
}
log "generating throwaway CAs and certificates in $PKI"
newca ca kube-reclaimer-bed-ca
# Separate CA for the aggregation layer's front proxy (requestheader auth); having it
# keeps the controller-manager's delegated authentication quiet.
newca front-proxy-ca kube-reclaimer-bed-front-proxy-ca
sign ca apiserver "/CN=kube-apiserver" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
CLIENT_EXT=("basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth")
sign ca admin "/O=system:masters/CN=kube-reclaimer-admin" "${CLIENT_EXT[@]}"
sign ca kcm "/CN=system:kube-controller-manager" "${CLIENT_EXT[@]}"
sign front-proxy-ca front-proxy-client "/CN=front-proxy-client" "${CLIENT_EXT[@]}"
newkey sa
ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
rm -f "$PKI"/*.csr "$PKI"/*.ext "$PKI"/*.srl
chmod 600 "$PKI"/*.key

ADMIN_TOKEN="$(openssl rand -hex 24)"
printf '%s\n' "$ADMIN_TOKEN" >"$STATE/admin-token"
printf '%s,kube-reclaimer-admin-token,kube-reclaimer-admin-token,"system:masters"\n' "$ADMIN_TOKEN" >"$STATE/tokens.csv"
chmod 600 "$STATE/admin-token" "$STATE/tokens.csv"

# ---------------------------------------------------------------- free ports
# shellcheck source=tests/bed/ports.sh
source "$BED_DIR/ports.sh"
lock_ports
ETCD_PORT="$(pick_port)"; USED+="$ETCD_PORT "
ETCD_PEER_PORT="$(pick_port)"; USED+="$ETCD_PEER_PORT "
API_PORT="$(pick_port)"; USED+="$API_PORT "
KCM_PORT="$(pick_port)"; USED+="$KCM_PORT "
API_URL="https://127.0.0.1:$API_PORT"
ETCD_URL="http://127.0.0.1:$ETCD_PORT"

# ---------------------------------------------------------------- kubeconfigs
b64() { base64 -w0 <"$1"; }
write_kubeconfig() { # FILE USER CERT KEY
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-reclaimer-bed
  cluster:
    server: $API_URL
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$3")
    client-key-data: $(b64 "$4")
contexts:
- name: kube-reclaimer-bed
  context:
    cluster: kube-reclaimer-bed
    user: $2
current-context: kube-reclaimer-bed
EOF
    chmod 600 "$1"
}
write_kubeconfig "$STATE/kubeconfig" admin "$PKI/admin.crt" "$PKI/admin.key"
write_kubeconfig "$STATE/kcm.kubeconfig" kube-controller-manager "$PKI/kcm.crt" "$PKI/kcm.key"

# ---------------------------------------------------------------- processes
start() { # NAME CMD...
    local name="$1" pid; shift
    # 8>&-: the daemons must not inherit (and so hold) the ports lock
    setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 8>&- &
    pid=$!
    STARTED=1
    CURRENT="$name"
    printf '%s %d\n' "$name" "$pid" >>"$PIDS"
    log "started $name (pid $pid)"
}
# wait_for COMPONENT WHAT CMD...: run CMD until it succeeds, bounded by the
# deadline; fails early if COMPONENT's process has exited.
START_T=$SECONDS
DEADLINE=$((SECONDS + TIMEOUT))
wait_for() {
    local what="$2" pid
    CURRENT="$1"
    shift 2
    pid="$(pid_of "$CURRENT")"
    until "$@" >/dev/null 2>&1; do
        alive "$pid" || die "$what: $CURRENT (pid $pid) exited"
        ((SECONDS < DEADLINE)) || die "$what: not ready after ${TIMEOUT}s"
        sleep 0.25
    done
}
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$PIDS"; }
CURL_ADMIN=(curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key")

start etcd "$ETCD" \
    --name bed \
    --data-dir "$STATE/etcd" \
    --listen-client-urls "$ETCD_URL" \
    --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "bed=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state new \
    --logger zap \
    --log-outputs stderr
wait_for etcd "etcd $ETCD_URL/health" curl -fsS --max-time 2 "$ETCD_URL/health"

start kube-apiserver "$APISERVER" \
    --etcd-servers "$ETCD_URL" \
    --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 \
    --secure-port "$API_PORT" \
    --cert-dir "$STATE/apiserver-certs" \
    --tls-cert-file "$PKI/apiserver.crt" \
    --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$STATE/tokens.csv" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
    --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --authorization-mode RBAC \
    --anonymous-auth=false \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --endpoint-reconciler-type none \
    --allow-privileged=false \
    --profiling=false \
    --v "$VERBOSITY"
wait_for kube-apiserver "kube-apiserver $API_URL/readyz" "${CURL_ADMIN[@]}" "$API_URL/readyz"

start kube-controller-manager "$KCM" \
    --kubeconfig "$STATE/kcm.kubeconfig" \
    --authentication-kubeconfig "$STATE/kcm.kubeconfig" \
    --authorization-kubeconfig "$STATE/kcm.kubeconfig" \
    --bind-address 127.0.0.1 \
    --secure-port "$KCM_PORT" \
    --cert-dir "$STATE/kcm-certs" \
    --leader-elect=false \
    --controllers "$CONTROLLERS" \
    --use-service-account-credentials=true \
    --root-ca-file "$PKI/ca.crt" \
    --service-account-private-key-file "$PKI/sa.key" \
    --profiling=false \
    --v "$VERBOSITY"
wait_for kube-controller-manager "kube-controller-manager https://127.0.0.1:$KCM_PORT/healthz" \
    curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"

# All ports are bound now; let other up.sh runs pick theirs.
exec 8>&-

wait_for kube-apiserver "namespace default" "${CURL_ADMIN[@]}" "$API_URL/api/v1/namespaces/default"
if [[ ",$CONTROLLERS," == *,serviceaccount-controller,* || ",$CONTROLLERS," == *,serviceaccount,* ]]; then
    # pods can only be created once the namespace's "default" ServiceAccount exists
    wait_for kube-controller-manager "serviceaccount default/default" \
        "${CURL_ADMIN[@]}" "$API_URL/api/v1/namespaces/default/serviceaccounts/default"
fi

cat >"$STATE/env" <<EOF
# sourced by tests: control plane started by $BED_DIR/up.sh
KUBECONFIG=$STATE/kubeconfig
KUBE_RECLAIMER_BED_STATE=$STATE
KUBE_RECLAIMER_BED_API_URL=$API_URL
KUBE_RECLAIMER_BED_API_PORT=$API_PORT
KUBE_RECLAIMER_BED_ETCD_URL=$ETCD_URL
KUBE_RECLAIMER_BED_KCM_PORT=$KCM_PORT
KUBE_RECLAIMER_BED_CA=$PKI/ca.crt
KUBE_RECLAIMER_BED_ADMIN_TOKEN_FILE=$STATE/admin-token
KUBE_RECLAIMER_BED_K8S_VERSION=$(basename "$BIN_DIR")
KUBE_RECLAIMER_BED_KUBECTL=$BIN_DIR/kubectl
EOF
log "ready in $((SECONDS - START_T))s: $API_URL (etcd $ETCD_URL, controller-manager :$KCM_PORT)"
log "export KUBECONFIG=$STATE/kubeconfig"
printf '%s\n' "$STATE/kubeconfig"
