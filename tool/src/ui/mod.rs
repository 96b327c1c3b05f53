//! The live view (issue 6): `pmuwatch -p PID`, `pmuwatch -- CMD`, `pmuwatch` (the built-in
//! demo), `pmuwatch top` and `pmuwatch replay FILE`.
//!
//! Data flows one way: a source (kernel probes, a trace file) sends batches of events into
//! the loop's inbox ([`runner`]); the loop feeds the engine ([`model::Model`]) and the app's
//! own history, and on each frame copies the engine's rows into the snapshot the views draw
//! (not while paused). Keys become actions on [`app::App`], the one owner of UI state.

pub mod app;
pub mod describe;
pub mod filter;
pub mod history;
pub mod keys;
pub mod model;
pub mod replay;
pub mod runner;
pub mod terminal;
pub mod text;
pub mod views;

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
