# Sourced by bin-build.sh and stores-build.sh: find_go prints the Go toolchain to build
# with ($GO, else `go` on PATH, else /usr/local/go/bin/go) or fails.
find_go() {
    if [[ -n "${GO:-}" ]]; then
        printf '%s\n' "$GO"
    elif command -v go >/dev/null 2>&1; then
        command -v go
    elif [[ -x /usr/local/go/bin/go ]]; then
        printf '%s\n' /usr/local/go/bin/go
    else
        return 1
    fi
}
