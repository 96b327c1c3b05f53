//! `pmuwatch doctor` (issue 2).
use std::process::ExitCode;

pub fn run(_a: &crate::cli::DoctorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("doctor: not built yet")
}
