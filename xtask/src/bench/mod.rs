//! `cargo xtask bench` (issue 8): overhead next to perf and bpftrace, probe cost per context
//! switch, pipeline throughput and memory, measured in one run and printed as one table.
//!
//! Everything is measured against the release build of this checkout. The overhead figures
//! are ratios to a bare run taken in the same round (rounds alternate the modes), so a
//! neighbour's load shifts both sides of a ratio; the median and the spread over rounds are
//! shown because single runs on a shared 2-CPU VM vary by 2x.

mod cost;
mod live;
mod overhead;
mod pipeline;
mod proc;

use std::path::PathBuf;

use anyhow::bail;

use crate::{setup, util};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Rounds of each (workload, mode) pair; the modes alternate inside a round.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// `perf bench sched pipe` loops per run (each loop is two context switches).
    #[arg(long, default_value_t = 50_000)]
    pub loops: u64,
    /// Self-migrations per run of the migration workload.
    #[arg(long, default_value_t = 50_000)]
    pub migrations: u64,
    /// Synthetic events for the pipeline rates.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Events in the synthetic trace that `pmuwatch report` reads for the memory figure.
    #[arg(long, default_value_t = 10_000_000)]
    pub file_events: u64,
    /// Threads alive at once for the live memory figure.
    #[arg(long, default_value_t = 10_000)]
    pub tasks: u64,
    /// Seconds of each flood step of the drop figure.
    #[arg(long, default_value_t = 2)]
    pub flood_secs: u64,
    /// Only these parts (comma-separated): overhead, cost, pipeline, memory, drops.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// Use the release binaries already in target/release.
    #[arg(long)]
    pub no_build: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Overhead,
    Cost,
    Pipeline,
    Memory,
    Drops,
}

/// The release binary under test.
pub struct Bins {
    pub pmuwatch: PathBuf,
}

impl Bins {
    /// `pmuwatch bench-helper` (tool/src/bench.rs, hidden): pipeline rates, synthetic traces,
    /// the migration workload.
    pub fn helper(&self) -> Vec<String> {
        vec![self.pmuwatch.display().to_string(), "bench-helper".into()]
    }

    pub fn helper_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.pmuwatch);
        c.arg("bench-helper");
        c
    }
}

/// One row of the closing table.
pub struct Row {
    pub part: &'static str,
    pub what: String,
    pub value: String,
    pub note: String,
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    let want = |p: Part| a.only.is_empty() || a.only.contains(&p);
    let live = want(Part::Overhead) || want(Part::Cost) || want(Part::Drops);
    if live && !setup::is_root() {
        bail!(
            "the overhead, cost and drop figures load eBPF programs; fix: run as root, or pass `--only pipeline,memory`"
        );
    }
    setup::ensure()?;
    if live {
        setup::ensure_bench();
    }
    if !a.no_build {
        util::cargo(&["build", "--release", "-p", "tool", "--bin", "pmuwatch"])?;
    }
    let target = util::root().join("target/release");
    let bins = Bins {
        pmuwatch: target.join("pmuwatch"),
    };
    let mut rows = Vec::new();
    if want(Part::Pipeline) {
        rows.extend(pipeline::rates(&bins, a.events)?);
        rows.extend(pipeline::scan(&bins)?);
    }
    if want(Part::Memory) {
        rows.extend(pipeline::memory(&bins, a.file_events)?);
        if setup::is_root() {
            rows.extend(live::memory(&bins, a.tasks)?);
        } else {
            eprintln!("bench: not root, no live memory figure");
        }
    }
    if want(Part::Drops) {
        rows.extend(live::drops(&bins, a.flood_secs)?);
    }
    if want(Part::Cost) {
        rows.extend(cost::run(&bins, a.loops, a.migrations)?);
    }
    if want(Part::Overhead) {
        rows.extend(overhead::run(&bins, a)?);
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[Row]) {
    let w = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (wp, ww, wv) = (
        w(|r| r.part.len()).max(4),
        w(|r| r.what.len()).max(4),
        w(|r| r.value.len()).max(5),
    );
    println!();
    println!("{:wp$}  {:ww$}  {:>wv$}  note", "part", "what", "value");
    println!("{}", "-".repeat(wp + ww + wv + 12));
    for r in rows {
        println!(
            "{:wp$}  {:ww$}  {:>wv$}  {}",
            r.part, r.what, r.value, r.note
        );
    }
    println!(
        "\nmachine: {} CPUs, kernel {}, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        proc::read_trim("/proc/sys/kernel/osrelease"),
        proc::read_trim("/proc/loadavg")
    );
}

/// Median and (min, max) of `v` (not empty).
pub fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

/// `12345678.9` -> `12.35 M`.
pub fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.1} k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        assert_eq!(stats(&mut [3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(&mut [4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(si(2_500_000.0), "2.50 M");
        assert_eq!(si(999.0), "999");
    }
}
