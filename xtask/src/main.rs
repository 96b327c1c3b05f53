//! Project chores: set-up, demo, test, lab, bench, fuzz. `cargo xtask --help`.

mod bench;
mod fuzz;
mod lab;
mod setup;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing (rust-src, llvm-22-dev, bpf-linker), mount tracefs and bpffs.
    Setup,
    /// Set up, build release and start pmuwatch live on its built-in demo workload.
    Demo {
        /// Extra arguments for pmuwatch.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up and run the whole suite: fmt, clippy, unit and integration tests.
    Test {
        /// Skip fmt and clippy.
        #[arg(long)]
        no_lint: bool,
        /// Skip the arm64 lab (QEMU boots).
        #[arg(long)]
        no_lab: bool,
    },
    /// Boot the arm64 lab (QEMU, kernels 6.1 and 6.12) and check pmuwatch in each scenario.
    Lab(lab::Args),
    /// Overhead next to perf and bpftrace, probe cost per switch, pipeline rates, memory.
    Bench(bench::Args),
    /// Run every cargo-fuzz target (parsers of outside bytes) for a while each.
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Setup => setup::ensure().and_then(|()| setup::ensure_lab()),
        Cmd::Demo { args } => demo(&args),
        Cmd::Test { no_lint, no_lab } => test(no_lint, no_lab),
        Cmd::Lab(args) => lab::run(&args),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Fuzz(args) => fuzz::run(&args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &[String]) -> anyhow::Result<()> {
    setup::ensure()?;
    util::cargo(&["build", "--release", "-p", "tool"])?;
    let bin = util::root().join("target/release/pmuwatch");
    util::exec(&bin, args)
}

fn test(no_lint: bool, no_lab: bool) -> anyhow::Result<()> {
    setup::ensure()?;
    if !no_lint {
        util::cargo(&["fmt", "--all", "--", "--check"])?;
        util::cargo(&[
            "clippy",
            "--workspace",
            "--exclude",
            "probe-ebpf",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])?;
    }
    util::cargo(&["test", "--workspace", "--exclude", "probe-ebpf"])?;
    if !no_lab {
        lab::run(&lab::Args::default())?;
    }
    Ok(())
}
