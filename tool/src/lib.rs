//! pmuwatch: sources (kernel probes, trace files) -> one event ABI (`common`) -> one pure
//! correlation engine -> views (TUI, report, export, recorder).

pub mod bench;
pub mod btf;
pub mod cli;
pub mod demo;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod export;
pub mod probe;
pub mod record;
pub mod report;
pub mod sites;
pub mod sys;
pub mod trace;
pub mod ui;
