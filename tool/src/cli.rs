//! Command line: parse, dispatch, print errors as one line.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "pmuwatch",
    version,
    about = "Shows why direct user-space reads of hardware performance counters go wrong",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand: watch a target live (the built-in demo when none is given).
    #[command(flatten)]
    pub watch: WatchArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Can direct counter reads work on this machine, and where?
    Doctor(DoctorArgs),
    /// Built-in workload: opens user-readable events and reads them directly.
    Demo(DemoArgs),
    /// System-wide live view of every task holding user-readable events.
    Top(TopArgs),
    /// Record a trace for a bug report.
    Record(RecordArgs),
    /// Summarise a trace: findings, per-task and per-CPU tables.
    Report(ReportArgs),
    /// Open a trace in the live view.
    Replay(ReplayArgs),
    /// Convert a trace for other tools (Perfetto).
    Export(ExportArgs),
    /// In-process parts of `cargo xtask bench` (issue 8): `rate N`, `write FILE N`, `migrate N`.
    #[command(hide = true)]
    BenchHelper(BenchHelperArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct BenchHelperArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Which tasks to trace.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// Trace this process (all its threads, following forks).
    #[arg(short = 'p', long = "pid", conflicts_with = "system_wide")]
    pub pid: Option<u32>,
    /// Trace every task.
    #[arg(short = 'a', long = "system-wide")]
    pub system_wide: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Do not put uprobes on the target's counter read sites; sample its perf pages instead.
    #[arg(long)]
    pub no_read_probes: bool,
    /// Stop each process of the command at exec until its counter read sites are probed
    /// (SIGSTOP, then SIGCONT): readers a script starts are seen from their first read, at
    /// the cost of delaying every exec (a poll period; longer for a file not scanned yet).
    #[arg(long, conflicts_with_all = ["pid", "system_wide", "no_read_probes"])]
    pub hold_exec: bool,
    /// Command to run and trace (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Plain text lines instead of the TUI (for scripts and CI logs).
    #[arg(long)]
    pub no_tui: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct DoctorArgs {
    /// Machine-readable output (keys documented in docs/doctor-json.md).
    #[arg(long)]
    pub json: bool,
    /// Read system files under this root instead of `/` (fixtures, tests).
    #[arg(long, hide = true)]
    pub root: Option<PathBuf>,
    /// Skip loading test programs (attach-method checks).
    #[arg(long)]
    pub no_attach: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Reader threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Also read with a stale index on purpose (traps are caught and counted).
    #[arg(long)]
    pub careless: bool,
    /// Write the outcome counts (JSON) here as well as to stdout.
    #[arg(long)]
    pub counts: Option<PathBuf>,
    /// Only open hardware events of this PMU (sysfs name, e.g. armv8_cortex_a53); repeatable.
    #[arg(long = "pmu", value_name = "NAME")]
    pub pmus: Vec<String>,
    /// Each thread opens the events of one PMU only (thread i: the i-th PMU type, round
    /// robin), like a reader that opens its counters on the PMU of the CPU it starts on.
    #[arg(long)]
    pub pmu_per_thread: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct TopArgs {
    #[arg(long)]
    pub no_tui: bool,
    #[arg(long)]
    pub duration: Option<f64>,
}

#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// Output trace file.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub no_tui: bool,
    /// Playback speed factor.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Perfetto,
    Jsonl,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "perfetto")]
    pub format: ExportFormat,
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("pmuwatch: {err:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Doctor(a)) => crate::doctor::run(&a),
        Some(Command::Demo(a)) => crate::demo::run(&a),
        Some(Command::Top(a)) => crate::ui::run_top(&a),
        Some(Command::Record(a)) => crate::record::run(&a),
        Some(Command::Report(a)) => crate::report::run(&a),
        Some(Command::Replay(a)) => crate::ui::run_replay(&a),
        Some(Command::Export(a)) => crate::export::run(&a),
        Some(Command::BenchHelper(a)) => crate::bench::run(&a.args),
        None => crate::ui::run_watch(&cli.watch),
    }
}
