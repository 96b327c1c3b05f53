//! Project chores: set-up, demo, test, lab, bench. `cargo xtask --help`.

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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Setup => setup::ensure(),
        Cmd::Demo { args } => demo(&args),
        Cmd::Test { no_lint } => test(no_lint),
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

fn test(no_lint: bool) -> anyhow::Result<()> {
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
    Ok(())
}
