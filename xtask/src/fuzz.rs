//! `cargo xtask fuzz`: every cargo-fuzz target in fuzz/ for a fixed time each, then one line
//! per target with its run count. Needs the nightly toolchain and cargo-fuzz (installed here
//! when missing). Not part of `cargo xtask test`: tests/parsers.rs checks the same parsers on
//! random input in CI; this is the long run.

use std::process::Command;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;

use crate::util::{self, succeeds};

/// Parsers of outside bytes, one target each (fuzz/fuzz_targets/NAME.rs).
const TARGETS: &[&str] = &[
    "trace_reader",
    "record_decode",
    "kernel_btf",
    "elf_sites",
    "text_inputs",
    "sysfs_facts",
];

#[derive(ClapArgs, Default)]
pub struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u32,
    /// Only these targets (default: all).
    targets: Vec<String>,
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    ensure_cargo_fuzz()?;
    let chosen: Vec<&str> = if a.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &a.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("no fuzz target {t}; targets: {}", TARGETS.join(", "));
            }
        }
        a.targets.iter().map(String::as_str).collect()
    };
    let dir = util::root().join("fuzz");
    let mut lines = Vec::new();
    for t in chosen {
        let corpus = dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&dir)
            .args(["+nightly", "fuzz", "run", t])
            .arg(&corpus);
        let seeds = dir.join("seeds").join(t);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        cmd.args([
            "--",
            &format!("-max_total_time={}", a.seconds),
            "-rss_limit_mb=1024",
            "-print_final_stats=1",
        ]);
        let out = cmd
            .output()
            .with_context(|| format!("could not start {cmd:?}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            eprintln!("{log}");
            bail!(
                "fuzz target {t} failed ({}); the crash input is under fuzz/artifacts/{t}",
                out.status
            );
        }
        let runs = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map_or("?".to_string(), |n| n.trim().to_string());
        lines.push(format!("{t}: {runs} runs in {} s, no crash", a.seconds));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    // The nightly toolchain (and everything the eBPF build needs).
    crate::setup::ensure()?;
    if !succeeds(Command::new("cargo").args(["fuzz", "--version"])) {
        eprintln!("fuzz: installing cargo-fuzz");
        util::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}
