//! What the guest runs: `pmuwatch` cross-built for aarch64 (static musl, probes included: the
//! tool's build.rs has aya-build compile the eBPF side for aarch64), the `mrs-cycles` helper,
//! busybox and the scenario scripts, packed into one initramfs shared by every boot.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context;

use super::cpio::Archive;
use crate::util;

pub const TARGET: &str = "aarch64-unknown-linux-musl";

/// Release build of `pmuwatch` for the guest; returns the binary.
pub fn pmuwatch() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    util::run(
        Command::new(cargo)
            .args(["build", "--release", "-p", "tool", "--target", TARGET])
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")
            // C dependencies (zstd-sys) need a C cross-compiler; Debian has no aarch64 musl
            // gcc, and the glibc one builds self-contained C like zstd fine for a static musl
            // link (no libc-internal symbols are referenced).
            .env("CC_aarch64_unknown_linux_musl", "aarch64-linux-gnu-gcc")
            .env("AR_aarch64_unknown_linux_musl", "aarch64-linux-gnu-ar")
            .current_dir(util::root()),
    )?;
    Ok(util::root().join(format!("target/{TARGET}/release/pmuwatch")))
}

/// The guest helper lab/guest/mrs_cycles.rs, built with plain rustc (no dependencies).
pub fn mrs_cycles(lab: &Path) -> anyhow::Result<PathBuf> {
    let src = util::root().join("lab/guest/mrs_cycles.rs");
    let out = lab.join("mrs-cycles");
    if newer(&out, &src) {
        return Ok(out);
    }
    fs::create_dir_all(lab)?;
    util::run(
        Command::new("rustc")
            .args([
                "--edition",
                "2024",
                "-O",
                "--target",
                TARGET,
                "-C",
                "linker=rust-lld",
                "-o",
            ])
            .arg(&out)
            .arg(&src),
    )?;
    Ok(out)
}

fn newer(a: &Path, b: &Path) -> bool {
    let m = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(a), m(b)), (Some(a), Some(b)) if a >= b)
}

/// Packs the initramfs: busybox (its applet links are made by /init), the binaries, /init and
/// the scenario scripts from lab/.
pub fn initramfs(lab: &Path, pmuwatch: &Path, mrs_cycles: &Path) -> anyhow::Result<PathBuf> {
    let read = |p: &Path| fs::read(p).with_context(|| format!("reading {}", p.display()));
    let src = util::root().join("lab");
    let mut a = Archive::default();
    for d in [
        "/bin",
        "/dev",
        "/proc",
        "/sys",
        "/tmp",
        "/lab",
        "/lab/scenarios",
    ] {
        a.dir(d);
    }
    a.char_dev("/dev/console", 0o600, 5, 1);
    a.file(
        "/bin/busybox",
        0o755,
        &read(&lab.join("bb/usr/bin/busybox"))?,
    );
    a.symlink("/bin/sh", "busybox");
    a.file("/bin/pmuwatch", 0o755, &read(pmuwatch)?);
    a.file("/bin/mrs-cycles", 0o755, &read(mrs_cycles)?);
    a.file("/init", 0o755, &read(&src.join("init"))?);
    a.file("/lab/lib.sh", 0o644, &read(&src.join("lib.sh"))?);
    for script in ["mrs-all.sh", "flip-workload.sh"] {
        a.file(&format!("/bin/{script}"), 0o755, &read(&src.join(script))?);
    }
    let mut scripts: Vec<_> = fs::read_dir(src.join("scenarios"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    for s in scripts {
        let name = s
            .file_name()
            .context("script name")?
            .to_string_lossy()
            .into_owned();
        a.file(&format!("/lab/scenarios/{name}"), 0o644, &read(&s)?);
    }
    let out = lab.join("initrd.cpio");
    fs::write(&out, a.finish()).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}
