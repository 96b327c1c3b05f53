//! The lab's inputs, cached in `target/arm64-lab` between runs: Debian arm64 kernels 6.1 and
//! 6.12, a static arm64 busybox and the device trees (lab/prepare.sh fetches and makes them).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::{setup::is_root, util};

/// Where the lab keeps its cache and its run outputs.
pub fn dir() -> PathBuf {
    util::root().join("target/arm64-lab")
}

/// Makes sure the kernels, busybox and device trees are there (downloads them once, as root).
pub fn ensure(lab: &Path) -> anyhow::Result<()> {
    if ready(lab) {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the arm64 lab is not prepared yet and preparing it needs root (apt); fix: run `sudo cargo xtask lab` once"
        );
    }
    eprintln!(
        "lab: preparing kernels, busybox and device trees in {}",
        lab.display()
    );
    util::run(
        Command::new("bash")
            .arg(util::root().join("lab/prepare.sh"))
            .env("LAB", lab),
    )?;
    if !ready(lab) {
        bail!(
            "lab/prepare.sh finished but {} is incomplete; fix: remove it and run again",
            lab.display()
        );
    }
    Ok(())
}

fn ready(lab: &Path) -> bool {
    kernel(lab, "6.1").is_ok()
        && kernel(lab, "6.12").is_ok()
        && lab.join("bb/usr/bin/busybox").is_file()
        && lab.join("hetero_spi.dtb").is_file()
}

/// The kernel image of one series (`6.1`, `6.12`): `k<series>/boot/vmlinuz-*`.
pub fn kernel(lab: &Path, series: &str) -> anyhow::Result<PathBuf> {
    let boot = lab.join(format!("k{series}/boot"));
    let found = fs::read_dir(&boot)
        .with_context(|| format!("no kernel {series} in {}", boot.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        });
    found.with_context(|| format!("no vmlinuz-* in {}", boot.display()))
}
