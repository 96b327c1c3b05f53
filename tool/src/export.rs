//! `pmuwatch export` (issue 5).
use std::process::ExitCode;

pub fn run(_a: &crate::cli::ExportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("export: not built yet")
}
