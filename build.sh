#!/usr/bin/env bash
# One entry point for everything a newcomer or CI runs. See README.md.
#   ./build.sh demo    build the release binary and run it through a simulated Lambda lifecycle
#   ./build.sh test    install what the tests need, then run the whole test suite
#   ./build.sh bench   measure cold start, overhead, memory, CPU and throughput
#   ./build.sh lint    rustfmt and clippy, as CI runs them
#   ./build.sh release static x86_64/arm64 binaries and Lambda layer zips in target/dist
#                      (--check-reproducible: build twice and compare the checksums)
#   ./build.sh soak    long runs: 100,000 invocations, a New Relic outage, deep property tests
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

# moto (a local AWS API emulator, pinned) in a venv under target/, created once. The tests find
# it through NR_TEST_MOTO_VENV and fail, naming this function, when it is missing.
MOTO_VERSION=5.2.5
moto_venv() {
    local venv=target/moto-venv
    if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        say "installing moto[server]==$MOTO_VERSION into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION"
    fi
    NR_TEST_MOTO_VENV="$PWD/$venv"
    export NR_TEST_MOTO_VENV
}

# ---- release artifacts -------------------------------------------------------------------------
# Users run the binary on Amazon Linux 2 (glibc 2.26), AL2023 and any container image, so it is
# linked statically against musl: nothing is taken from the host at exec time.
# Rust target : Lambda's architecture name (used in file names and --compatible-architectures).
RELEASE_TARGETS="x86_64-unknown-linux-musl:x86_64 aarch64-unknown-linux-musl:arm64"
RELEASE_BIN=newrelic-lambda-extension
# Size budget of each stripped binary, bytes: issue 6's 1.8 MB. Measured 2026-12-07 on x86_64
# musl: 1,712,320 with panic = "abort" and no unwind tables (Cargo.toml says why we chose
# abort; unwind was 2,097,344). The largest parts (cargo bloat): std ~325 KiB of code, ~165 KiB
# of it the panic backtrace printer the default hook always links on stable Rust; rustls
# ~255 KiB; this crate ~215 KiB; ring ~110 KiB plus its 148 KiB P-256 table; ureq and its HTTP
# crates ~165 KiB.
RELEASE_MAX_BYTES=1800000
RELEASE_DIST=target/dist

release_version() {
    local id; id=$(cargo pkgid --locked -p "$RELEASE_BIN")
    echo "${id##*@}"
}

release_deps() {
    command -v rustup >/dev/null || { echo "rustup is needed to add the musl targets (https://rustup.rs)" >&2; exit 1; }
    local installed; installed=$(rustup target list --installed)
    for pair in $RELEASE_TARGETS; do
        grep -qx "${pair%%:*}" <<<"$installed" || rustup target add "${pair%%:*}"
    done
    # ring compiles C and assembly for its target: musl-gcc for x86_64, the Debian aarch64 cross
    # compiler (also our linker) for arm64. Rust's musl targets bring their own libc and crt files.
    install_test_deps musl-tools gcc-aarch64-linux-gnu zip file
    command -v python3 >/dev/null || install_test_deps python3
}

# Compilers, linkers and flags for both targets, and the timestamp the zips carry. What makes
# two builds of the same commit byte-identical, wherever the checkout and the target dir live:
#   --remap-path-prefix   source paths (panic locations) of the checkout and of the crates in
#                         CARGO_HOME become /build and /cargo; the toolchain's are /rustc/<hash>
#   --build-id=none       no .note.gnu.build-id: nothing looks it up in a stripped binary
#   LTO, codegen-units=1  (Cargo.toml) a single, deterministic code generation unit
#   SOURCE_DATE_EPOCH     the last commit's time: every zip entry's mtime
# and, for size (measured on x86_64 at 0.1.0):
#   relocation-model=static   non-PIE, like the aarch64 target already is: no .rela.dyn (-66 KB)
#   no-unwind-tables.ld       the linker drops .eh_frame (-215 KB); see release_unwind_script
release_env() {
    export CC_x86_64_unknown_linux_musl=musl-gcc
    export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
    export SOURCE_DATE_EPOCH
    local flags=(
        "--remap-path-prefix=$PWD=/build"
        "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
        -Crelocation-model=static
        -Clink-arg=-Wl,--build-id=none
        "-Clink-arg=-Wl,-T,$(release_unwind_script)"
    )
    # The encoded form survives spaces in paths and, with --target, reaches only the target
    # crates (never build scripts); an outer RUSTFLAGS would silently replace it, so drop that.
    unset RUSTFLAGS
    local IFS=$'\x1f'
    export CARGO_ENCODED_RUSTFLAGS="${flags[*]}"
}

# Writes the linker script that drops the unwind tables (.eh_frame) and prints its path.
# With panic = "abort" (Cargo.toml) nothing reads them: no panic unwinds, and the only other
# reader, the backtrace printer of a panic with RUST_BACKTRACE set, then prints no frames before
# the process aborts. rustc's -C force-unwind-tables=no cannot do this: std comes precompiled
# with unwind tables, and LTO gives every function of the binary std's setting. The tables of
# crtbegin.o/crtend.o stay (80 bytes): crtbegin's init code refers to them. INSERT adds the rule
# to GNU ld's default script (of both targets' linkers) instead of replacing it.
release_unwind_script() {
    local script=$PWD/target/no-unwind-tables.ld
    mkdir -p target
    cat >"$script" <<'LD'
SECTIONS
{
  /DISCARD/ : { EXCLUDE_FILE(*crtbegin*.o *crtend*.o) *(.eh_frame) }
}
INSERT AFTER .text;
LD
    echo "$script"
}

# Builds both targets into target dir $1.
release_build() {
    local args=()
    for pair in $RELEASE_TARGETS; do args+=(--target "${pair%%:*}"); done
    CARGO_TARGET_DIR="$1" cargo build --release --locked -p "$RELEASE_BIN" "${args[@]}"
}

# Fails unless $1 is a static, stripped ELF for architecture $2 (file(1)'s name) within budget.
release_check_binary() {
    local bin=$1 machine=$2 what size
    what=$(file -b "$bin")
    case "$what" in
        *"$machine"*"statically linked"*", stripped"*) ;;
        *) echo "$bin is not a static, stripped $machine executable: $what" >&2; return 1 ;;
    esac
    size=$(stat -c %s "$bin")
    printf '    %-8s %9d bytes (budget %d)\n' "${bin##*-}" "$size" "$RELEASE_MAX_BYTES"
    if [ "$size" -gt "$RELEASE_MAX_BYTES" ]; then
        echo "$bin is $size bytes, over the $RELEASE_MAX_BYTES-byte budget" >&2
        return 1
    fi
}

# Crates compiled into the binaries (normal dependencies reachable from ours on the release
# targets; build scripts and proc macros run only at build time), from cargo metadata. Its
# resolve also lists optional dependencies named only by a weak `dep?/feature` (cargo #10801),
# so an optional edge counts only when an enabled feature turns it on; `cargo tree`, which
# resolves features exactly as the release build does, must then agree, or nothing is written.
release_licenses() {
    local triples=() pair
    for pair in $RELEASE_TARGETS; do triples+=("${pair%%:*}"); done
    python3 - "$RELEASE_BIN" "$1" "${triples[@]}" <<'EOF'
import json, subprocess, sys
root_name, version, triples = sys.argv[1], sys.argv[2], sys.argv[3:]
cargo = lambda *a: subprocess.run(["cargo", *a, "--locked"], check=True, capture_output=True, text=True).stdout
norm = lambda n: n.replace("-", "_")
def turned_on(pkg, enabled, dep):
    opt = [d for d in pkg["dependencies"] if d["optional"] and norm(d.get("rename") or d["name"]) == dep]
    if not opt: return True
    n = opt[0].get("rename") or opt[0]["name"]
    return any(v in (n, "dep:" + n) or v.startswith(n + "/")
               for f in enabled for v in pkg["features"].get(f, [f]))
crates = {}
for triple in triples:
    meta = json.loads(cargo("metadata", "--format-version", "1", "--filter-platform", triple))
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    macro = lambda p: any("proc-macro" in t["kind"] for t in p["targets"])
    todo, seen = [i for i in members if pkgs[i]["name"] == root_name], set()
    while todo:
        i = todo.pop()
        if i in seen: continue
        seen.add(i)
        todo += [d["pkg"] for d in nodes[i]["deps"] if not macro(pkgs[d["pkg"]])
                 and any(k["kind"] is None for k in d["dep_kinds"])
                 and turned_on(pkgs[i], nodes[i]["features"], d["name"])]
    found = {(pkgs[i]["name"], pkgs[i]["version"]) for i in seen - members}
    tree = cargo("tree", "-p", root_name, "--target", triple, "-e", "normal,no-proc-macro",
                 "--prefix", "none", "-f", "{p}").split("\n")
    expect = {(l.split()[0], l.split()[1][1:]) for l in tree if l.strip() and "(/" not in l}
    if found != expect:
        sys.exit(f"cargo metadata and cargo tree disagree for {triple}: {sorted(found ^ expect)}")
    crates.update({(pkgs[i]["name"], pkgs[i]["version"]): pkgs[i] for i in seen - members})
print(f"Third-party software in {root_name} {version} ({', '.join(triples)}).")
print("Generated by ./build.sh release from cargo metadata; do not edit.\n")
print("Statically linked from the Rust toolchain: the Rust standard library (MIT OR Apache-2.0),")
print("musl libc (MIT), LLVM libunwind (Apache-2.0 WITH LLVM-exception).\n")
print(f"Crates ({len(crates)}):\n")
for (name, ver), p in sorted(crates.items()):
    print(f"{name} {ver}\n    license:    {p['license'] or 'see ' + (p['license_file'] or 'package')}"
          f"\n    repository: {p['repository'] or ''}")
EOF
}

# Zips, bare binaries, the license list and SHA256SUMS of target dir $1 into $2.
release_package() {
    local target_dir=$1 dist=$2 version pair triple arch machine stage failed=""
    version=$(release_version)
    rm -rf "$dist" && mkdir -p "$dist" && dist=$(cd "$dist" && pwd)
    for pair in $RELEASE_TARGETS; do  # every size is printed before failing on any
        triple=${pair%%:*} arch=${pair##*:}
        machine=$([ "$arch" = arm64 ] && echo "ARM aarch64" || echo "x86-64")
        install -m 0755 "$target_dir/$triple/release/$RELEASE_BIN" "$dist/$RELEASE_BIN-$version-$arch"
        release_check_binary "$dist/$RELEASE_BIN-$version-$arch" "$machine" || failed=1
    done
    [ -z "$failed" ] || return 1
    for pair in $RELEASE_TARGETS; do
        arch=${pair##*:}
        # The layer layout Lambda expects: /opt/extensions/<name>, name = registered name.
        stage=$(mktemp -d)
        mkdir "$stage/extensions"
        install -m 0755 "$dist/$RELEASE_BIN-$version-$arch" "$stage/extensions/$RELEASE_BIN"
        touch -d "@$SOURCE_DATE_EPOCH" "$stage/extensions/$RELEASE_BIN"
        # -X: no uid/gid or extra timestamps; -D: no directory entries; zip writes DOS local time.
        (cd "$stage" && TZ=UTC zip -q -X -D -9 "$dist/$RELEASE_BIN-$version-$arch.zip" "extensions/$RELEASE_BIN")
        rm -rf "$stage"
    done
    release_licenses "$version" >"$dist/THIRD-PARTY-LICENSES.txt"
    (cd "$dist" && LC_ALL=C sha256sum -- $(LC_ALL=C ls | grep -vx SHA256SUMS) >SHA256SUMS)
}

# Builds twice (the second time in another target dir) and compares the checksums.
release_check_reproducible() {
    local other=target/release-repro
    say "second build in $other, to compare"
    release_build "$other"
    release_package "$other" "$other/dist" >/dev/null
    if ! diff -u "$RELEASE_DIST/SHA256SUMS" "$other/dist/SHA256SUMS"; then
        echo "the release is not reproducible: see the differing checksums above" >&2
        return 1
    fi
    say "reproducible: both builds have the same SHA256SUMS"
}

# A subshell: the compilers and flags of release_env must not reach later host builds.
release() (
    case "${1:-}" in
        "" | --check-reproducible) ;;
        *) echo "usage: ./build.sh release [--check-reproducible]" >&2; exit 2 ;;
    esac
    release_deps
    release_env
    say "building the release binaries ($(rustc -V))"
    release_build target
    say "packaging into $RELEASE_DIST (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
    release_package target "$RELEASE_DIST"
    (cd "$RELEASE_DIST" && ls -l)
    if [ "${1:-}" = --check-reproducible ]; then release_check_reproducible; fi
)

# Builds the release, then runs its artifacts where users run them (tests/release.rs).
release_tests() {
    release
    install_test_deps qemu-user unzip
    say "testing the release artifacts"
    NR_RELEASE_DIR="$PWD/$RELEASE_DIST" cargo test --locked --features release-tests --test release
    # The integration suite again, against what ships: the static x86_64 binary, built with
    # panic = "abort" and without unwind tables (the debug build the suite ran first unwinds).
    say "the integration tests again, against the release binary"
    NR_TEST_EXTENSION="$PWD/target/x86_64-unknown-linux-musl/release/$RELEASE_BIN" cargo test --locked --test it
}

case "${1:-help}" in
    demo)
        # Options: --invocations N, --require-logs, --real (with NEW_RELIC_LICENSE_KEY set).
        need_rust
        say "building the release binary"
        cargo build --release --locked -p newrelic-lambda-extension -p nr-bench
        shift
        say "running the extension in the simulated Lambda"
        exec target/release/demo --extension target/release/newrelic-lambda-extension "$@"
        ;;
    test)
        need_rust
        # License key and proxy tests (tests/it/license.rs, tests/it/proxy.rs): an HTTP CONNECT
        # proxy, a SOCKS5 proxy, a TLS front for the collector, openssl for a private CA, and
        # moto (AWS Secrets Manager / SSM emulator) in a venv.
        install_test_deps tinyproxy-bin microsocks socat openssl python3-venv
        moto_venv
        say "building"
        cargo build --locked --workspace --all-targets
        say "running the test suite"
        cargo test --locked --workspace
        release_tests  # static binaries and layer zips, run in a chroot and under qemu-user
        ;;
    bench)
        # Options: --reps N (default 5), --invocations N, --json PATH (default target/bench.json),
        # --no-callgrind.
        need_rust
        install_test_deps valgrind
        say "building the release binaries"
        cargo build --release --locked -p newrelic-lambda-extension -p nr-bench
        # Measure what users run, the static x86_64 binary of the layer (musl), against a floor
        # built the same way: static binaries start without the dynamic loader.
        (release_deps && release_env && cargo build --release --locked --target x86_64-unknown-linux-musl \
            -p newrelic-lambda-extension -p nr-bench --bin newrelic-lambda-extension --bin floor-extension)
        shift
        say "measuring (about 3 minutes on 2 cores)"
        musl=target/x86_64-unknown-linux-musl/release
        exec target/release/bench --extension "$musl/newrelic-lambda-extension" --floor "$musl/floor-extension" "$@"
        ;;
    release)
        need_rust
        shift
        release "$@"
        ;;
    soak)
        # Options: --invocations N, --outage-secs S, --no-freeze, … (target/release/soak --help).
        # PROPTEST_CASES (default 20000) and PROPTEST_RNG_SEED (default random) for the properties.
        need_rust
        say "building the release binaries"
        cargo build --release --locked -p newrelic-lambda-extension -p nr-bench
        shift
        say "long runs: 100,000 invocations, then New Relic down for minutes (about 10 minutes on 2 cores)"
        target/release/soak --extension target/release/newrelic-lambda-extension "$@"
        export PROPTEST_CASES=${PROPTEST_CASES:-20000} PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-$((RANDOM * 32768 + RANDOM))}
        say "property tests: $PROPTEST_CASES cases each, seed $PROPTEST_RNG_SEED"
        cargo test --locked --release --test props
        cargo test --locked --release --lib props::
        ;;
    lint)
        need_rust
        cargo fmt --all --check
        cargo clippy --locked --workspace --all-targets --all-features -- -D warnings
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        [ "${1:-help}" = help ] || exit 2
        ;;
esac
