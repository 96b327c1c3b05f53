//! Idempotent set-up of what the eBPF build and the tests need. Quiet when nothing is missing.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

use crate::util::{run, succeeds};

const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn ensure() -> anyhow::Result<()> {
    rust_src()?;
    bpf_linker()?;
    mounts();
    python_perfetto();
    tmux();
    Ok(())
}

/// tmux: the real-terminal test of the live view (tool/tests/ui_tmux.rs) runs the binary in
/// it. A failure is only a warning; that test then says it was skipped.
fn tmux() {
    if succeeds(Command::new("tmux").arg("-V")) {
        return;
    }
    if !is_root() {
        eprintln!("setup: tmux is missing (UI terminal test); install it with apt-get as root");
        return;
    }
    eprintln!("setup: installing tmux (UI terminal test)");
    let apt = |args: &[&str]| {
        succeeds(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    let install = ["install", "-y", "-qq", "--no-install-recommends", "tmux"];
    // The package lists may be stale on a fresh machine: update once, only if needed.
    let installed = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
    if !installed {
        eprintln!("setup: could not install tmux; the UI terminal test will be skipped");
    }
}

/// Perfetto's Python package: its compiled schema checks `pmuwatch export --format perfetto`
/// output in tool/tests/export.rs. A failure here is only a warning; that test then says why.
fn python_perfetto() {
    let probe = "from google.protobuf import unknown_fields; \
                 from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace";
    if succeeds(Command::new("python3").args(["-c", probe])) {
        return;
    }
    eprintln!("setup: installing the perfetto and protobuf Python packages (export tests)");
    let pip = |extra: &[&str]| {
        succeeds(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(extra)
                .args(["perfetto", "protobuf"]),
        )
    };
    // Debian's own python3 refuses plain pip installs (PEP 668); pyenv's and venvs take them.
    let ok = pip(&[]) || pip(&["--break-system-packages"]);
    if !ok {
        eprintln!(
            "setup: pip install perfetto protobuf failed; the Perfetto export test will fail"
        );
    }
}

/// What the arm64 lab needs on top of [`ensure`]: QEMU, dtc and python3 (lab/prepare.sh makes
/// the device trees), the aarch64 musl target and a C cross-compiler (for C dependencies such as
/// zstd-sys) for the cross-build.
pub fn ensure_lab() -> anyhow::Result<()> {
    let missing: Vec<&str> = [
        ("qemu-system-aarch64", "qemu-system-arm"),
        ("dtc", "device-tree-compiler"),
        ("python3", "python3"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
        ("aarch64-linux-gnu-gcc", "libc6-dev-arm64-cross"),
    ]
    .into_iter()
    .filter(|(bin, _)| !succeeds(Command::new("sh").args(["-c", &format!("command -v {bin}")])))
    .map(|(_, pkg)| pkg)
    .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!(
                "the arm64 lab needs {} and installing it needs root; fix: run `sudo cargo xtask setup`",
                missing.join(", ")
            );
        }
        eprintln!("setup: installing {} (arm64 lab)", missing.join(", "));
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed for the arm64 lab's cross-build")?;
    if !String::from_utf8_lossy(&targets.stdout).contains(LAB_TARGET) {
        eprintln!("setup: adding the {LAB_TARGET} target (arm64 lab)");
        run(Command::new("rustup").args(["target", "add", LAB_TARGET]))?;
    }
    Ok(())
}

/// What only `cargo xtask bench` uses, installed lazily by it (never by `test`: CI does not
/// pay for them): linux-perf (`perf bench`, `perf record`), bpftrace, bpftool (program names).
/// A tool that cannot be installed only drops its rows; the bench says so.
pub fn ensure_bench() {
    let missing: Vec<&str> = [
        ("perf", "linux-perf"),
        ("bpftrace", "bpftrace"),
        ("bpftool", "bpftool"),
    ]
    .into_iter()
    .filter(|(bin, _)| !succeeds(Command::new("sh").args(["-c", &format!("command -v {bin}")])))
    .map(|(_, pkg)| pkg)
    .collect();
    if missing.is_empty() || !is_root() {
        return;
    }
    eprintln!("setup: installing {} (bench)", missing.join(", "));
    let ok = succeeds(Command::new("apt-get").args(["update", "-qq"]))
        && succeeds(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
    if !ok {
        eprintln!(
            "setup: could not install {}; their bench rows are skipped",
            missing.join(", ")
        );
    }
}

const LAB_TARGET: &str = "aarch64-unknown-linux-musl";

fn rust_src() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .context("rustup is needed to build the eBPF programs")?;
    if !out.status.success() {
        eprintln!("setup: installing the nightly toolchain (eBPF build)");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    if !String::from_utf8_lossy(&out.stdout).contains("rust-src") {
        eprintln!("setup: adding rust-src to nightly");
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    Ok(())
}

fn bpf_linker() -> anyhow::Result<()> {
    let have = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION));
    if have {
        return Ok(());
    }
    if !Path::new(LLVM_PREFIX).join("bin/llvm-config").exists() {
        if !is_root() {
            bail!(
                "llvm-22-dev is missing and installing it needs root; fix: run `sudo cargo xtask setup`"
            );
        }
        eprintln!("setup: installing llvm-22-dev (for bpf-linker)");
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "llvm-22-dev",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    eprintln!("setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22");
    run(Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--locked",
            "--version",
            BPF_LINKER_VERSION,
            "--no-default-features",
            "--features",
            "llvm-22",
        ])
        .env("LLVM_PREFIX", LLVM_PREFIX))
}

/// tracefs and bpffs for the live tests. pmuwatch mounts them itself too; this only saves the
/// tests a message.
fn mounts() {
    if !is_root() {
        return;
    }
    for (fs, dir) in [("tracefs", "/sys/kernel/tracing"), ("bpf", "/sys/fs/bpf")] {
        let mounted = std::fs::read_to_string("/proc/self/mounts")
            .is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(1) == Some(dir)));
        if !mounted && !succeeds(Command::new("mount").args(["-t", fs, fs, dir])) {
            eprintln!("setup: could not mount {fs} on {dir}; live tests will say so");
        }
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
