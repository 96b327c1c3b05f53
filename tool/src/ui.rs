//! The live view (issue 6).
use std::process::ExitCode;

use crate::cli::{ReplayArgs, TopArgs, WatchArgs};

pub fn run_watch(_a: &WatchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("live view: not built yet")
}

pub fn run_top(_a: &TopArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("top: not built yet")
}

pub fn run_replay(_a: &ReplayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("replay: not built yet")
}
