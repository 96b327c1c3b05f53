//! `pmuwatch record` (issues 3 and 5).
use std::process::ExitCode;

pub fn run(_a: &crate::cli::RecordArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("record: not built yet")
}
