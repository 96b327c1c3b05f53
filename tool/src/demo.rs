//! The built-in demo workload (issue 3).
use std::process::ExitCode;

pub fn run(_a: &crate::cli::DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("demo: not built yet")
}
