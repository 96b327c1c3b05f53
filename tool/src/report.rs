//! `pmuwatch report` (issue 5).
use std::process::ExitCode;

pub fn run(_a: &crate::cli::ReportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("report: not built yet")
}
