//! The artifacts of `./build.sh release`, run where users run them: the x86_64 binary from an
//! otherwise empty root filesystem (chroot), the arm64 binary under qemu-user, and each layer
//! zip unpacked the way Lambda unpacks it into `/opt`. Built only with `--features
//! release-tests` and run by `./build.sh test` with `NR_RELEASE_DIR` naming `target/dist`; it
//! never builds anything itself, so it tests the exact bytes that would be published.

mod release {
    pub mod lifecycle;
}

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use release::lifecycle::{launcher, run_lifecycle, Scenario, Scratch, NAME, VERSION};

/// `target/dist`, from `NR_RELEASE_DIR`. Missing means the artifacts were never built: fail,
/// never skip, so a CI that forgot `./build.sh release` cannot pass.
fn dist() -> PathBuf {
    let dir = std::env::var_os("NR_RELEASE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "NR_RELEASE_DIR is not set: run `./build.sh test`, or `./build.sh release` then NR_RELEASE_DIR=target/dist"
        )
    });
    assert!(dir.is_dir(), "NR_RELEASE_DIR={} is not a directory: run ./build.sh release", dir.display());
    dir
}

/// `newrelic-lambda-extension-<version>-<arch>` plus `suffix`; the version is Cargo.toml's.
fn artifact(arch: &str, suffix: &str) -> PathBuf {
    let path = dist().join(format!("{NAME}-{VERSION}-{arch}{suffix}"));
    assert!(path.is_file(), "{} is missing from the release", path.display());
    path
}

/// Where `name` is installed: PATH, then the sbin directories a non-login PATH may lack.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: ./build.sh test installs it"))
}

/// Runs `program args…`, fails with its stderr unless it succeeds, returns stdout.
fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (./build.sh test installs it): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} {args:?} failed ({}): {stderr}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Unpacks the layer zip of `arch` into a fresh directory, as Lambda does into `/opt`, after
/// checking it holds exactly the extension, executable, with the bare binary's bytes.
fn unpack_layer(arch: &str, scratch: &Scratch) -> PathBuf {
    let zip = artifact(arch, ".zip");
    let zip = zip.to_str().expect("UTF-8 path");
    let entries = run("unzip", &["-Z1", zip], scratch.path());
    assert_eq!(entries.lines().collect::<Vec<_>>(), [format!("extensions/{NAME}")], "{zip}");
    let opt = scratch.path().join("opt");
    run("unzip", &["-q", zip, "-d", opt.to_str().expect("UTF-8 path")], scratch.path());
    let exe = opt.join("extensions").join(NAME);
    let mode = fs::metadata(&exe).expect("unpacked extension").permissions().mode();
    assert_eq!(mode & 0o777, 0o755, "the zip must keep the executable bit: {mode:o}");
    let unpacked = fs::read(&exe).expect("read unpacked extension");
    assert!(unpacked == fs::read(artifact(arch, "")).expect("read binary"), "{zip} differs from the binary");
    exe
}

/// The files of `dir` named in its SHA256SUMS, after `sha256sum -c` verified them.
fn checked_sums(dir: &Path) -> Vec<String> {
    run("sha256sum", &["--check", "--strict", "--quiet", "SHA256SUMS"], dir);
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    sums.lines().filter_map(|l| l.split_once("  ").map(|(_, name)| name.to_string())).collect()
}

#[test]
fn x86_64_binary_needs_nothing_from_the_host() {
    let scratch = Scratch::new("chroot");
    // The whole root filesystem: the extension where Lambda puts it, and /tmp for the pipe.
    let root = scratch.path().join("root");
    let ext_dir = root.join("opt/extensions");
    fs::create_dir_all(&ext_dir).expect("root/opt/extensions");
    fs::create_dir_all(root.join("tmp")).expect("root/tmp");
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy(artifact("x86_64", ""), ext_dir.join(NAME)).expect("copy the binary into the root");
    let command = format!("{} '{}' /opt/extensions/{NAME}", program("chroot").display(), root.display());
    let scenario = Scenario {
        executable: launcher(&scratch, &command),
        pipe_inside: "/tmp/newrelic-telemetry".into(),
        pipe_on_host: root.join("tmp/newrelic-telemetry"),
        with_timeout: true,
    };
    run_lifecycle(&scenario);
}

#[test]
fn arm64_layer_runs_under_qemu_user() {
    let scratch = Scratch::new("qemu");
    let exe = unpack_layer("arm64", &scratch);
    let pipe = scratch.path().join("newrelic-telemetry");
    let scenario = Scenario {
        executable: launcher(&scratch, &format!("{} '{}'", program("qemu-aarch64").display(), exe.display())),
        pipe_inside: pipe.clone(),
        pipe_on_host: pipe,
        with_timeout: false,
    };
    run_lifecycle(&scenario);
}

#[test]
fn x86_64_layer_registers_under_its_file_name() {
    let scratch = Scratch::new("layer");
    let exe = unpack_layer("x86_64", &scratch);
    assert!(exe.ends_with(format!("opt/extensions/{NAME}")));
    let pipe = scratch.path().join("newrelic-telemetry");
    // Started directly, as Lambda starts every file of /opt/extensions.
    let scenario = Scenario { executable: exe, pipe_inside: pipe.clone(), pipe_on_host: pipe, with_timeout: false };
    run_lifecycle(&scenario);
}

#[test]
fn checksums_and_license_list_cover_the_release() {
    let dir = dist();
    let mut listed = checked_sums(&dir);
    listed.sort();
    let mut expected: Vec<String> = ["arm64", "arm64.zip", "x86_64", "x86_64.zip"]
        .iter()
        .map(|a| format!("{NAME}-{VERSION}-{a}"))
        .chain(["THIRD-PARTY-LICENSES.txt".to_string()])
        .collect();
    expected.sort();
    assert_eq!(listed, expected, "SHA256SUMS must cover every artifact");
    let licenses = fs::read_to_string(dir.join("THIRD-PARTY-LICENSES.txt")).expect("license list");
    for krate in ["ureq", "rustls", "ring", "miniserde", "flate2", "crossbeam-channel", "libc"] {
        let at = licenses.find(&format!("\n{krate} ")).unwrap_or_else(|| panic!("{krate} missing:\n{licenses}"));
        let entry = licenses.get(at..).and_then(|e| e.lines().nth(2)).unwrap_or_default();
        assert!(entry.trim_start().starts_with("license:") && entry.len() > 16, "{krate}: {entry:?}");
    }
    for build_only in ["syn", "proc-macro2", "cc"] {
        assert!(!licenses.contains(&format!("\n{build_only} ")), "{build_only} is not in the binary");
    }
}
