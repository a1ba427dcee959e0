#!/usr/bin/env bash
# One entry point for everything a newcomer or CI runs. See README.md.
#   ./build.sh demo    build the release binary and run it through a simulated Lambda lifecycle
#   ./build.sh test    install what the tests need, then run the whole test suite
#   ./build.sh bench   measure cold start, overhead, memory, CPU and throughput
#   ./build.sh lint    rustfmt and clippy, as CI runs them
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

need_rust() {
    command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (https://rustup.rs)" >&2; exit 1; }
}

# Debian packages the tests use, installed only when missing (CI starts from a clean machine).
install_test_deps() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

case "${1:-help}" in
    demo)
        need_rust
        say "building the release binary"
        cargo build --release --locked -p newrelic-lambda-extension -p nr-bench
        shift
        exec target/release/demo --extension target/release/newrelic-lambda-extension "$@"
        ;;
    test)
        need_rust
        say "building"
        cargo build --locked --workspace --all-targets
        say "running the test suite"
        cargo test --locked --workspace
        ;;
    bench)
        need_rust
        install_test_deps valgrind
        cargo build --release --locked -p newrelic-lambda-extension -p nr-bench
        shift
        exec target/release/bench --extension target/release/newrelic-lambda-extension \
            --floor target/release/floor-extension "$@"
        ;;
    lint)
        need_rust
        cargo fmt --all --check
        cargo clippy --locked --workspace --all-targets -- -D warnings
        ;;
    *)
        sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
        [ "${1:-help}" = help ] || exit 2
        ;;
esac
