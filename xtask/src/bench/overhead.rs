//! Probe overhead: workloads timed bare and under each tracer, as ratios to bare.
//!
//! Each round runs every mode once, starting at a different mode each round (so no mode always
//! follows the same neighbour); a tracer is started once per round and both workloads run
//! under it. A ratio compares a run with the bare run of the same round.

use std::process::Command;

use super::{
    Args, Bins, Row,
    proc::{Bg, cpu_ticks, file_written, holds_programs, timed},
    stats,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bare,
    PmuwatchSystemWide,
    PmuwatchCommand,
    PerfRecord,
    Bpftrace,
}

const MODES: [Mode; 5] = [
    Mode::Bare,
    Mode::PmuwatchSystemWide,
    Mode::PmuwatchCommand,
    Mode::PerfRecord,
    Mode::Bpftrace,
];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::PmuwatchSystemWide => "pmuwatch record --system-wide",
            Mode::PmuwatchCommand => "pmuwatch record -- CMD",
            Mode::PerfRecord => "perf record sched_switch+migrate -a",
            Mode::Bpftrace => "bpftrace count sched_switch+migrate",
        }
    }
}

/// The bpftrace script: in-kernel counts of the tracepoints pmuwatch's sched programs use.
const BPFTRACE: &str =
    "tracepoint:sched:sched_switch, tracepoint:sched:sched_migrate_task { @[probe] = count(); }";

struct Workload {
    name: &'static str,
    argv: Vec<String>,
}

pub fn run(bins: &Bins, a: &Args) -> anyhow::Result<Vec<Row>> {
    let workloads = [
        Workload {
            name: "sched pipe",
            argv: ["perf", "bench", "sched", "pipe", "-l", &a.loops.to_string()]
                .map(String::from)
                .to_vec(),
        },
        Workload {
            name: "self-migrate",
            argv: [
                bins.helper(),
                vec!["migrate".into(), a.migrations.to_string()],
            ]
            .concat(),
        },
    ];
    let have = |bin: &str| {
        crate::util::succeeds(Command::new("sh").args(["-c", &format!("command -v {bin}")]))
    };
    let modes: Vec<Mode> = MODES
        .into_iter()
        .filter(|m| match m {
            Mode::PerfRecord => have("perf"),
            Mode::Bpftrace => have("bpftrace"),
            _ => true,
        })
        .collect();
    if !have("perf") {
        anyhow::bail!(
            "`perf` is missing (the sched pipe workload); fix: apt-get install linux-perf"
        );
    }
    let dir = std::env::temp_dir().join(format!("pmuwatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // secs[mode][workload][round]; busy: CPU ticks the machine was busy during the run.
    let mut secs = vec![vec![Vec::new(); workloads.len()]; modes.len()];
    let mut busy = secs.clone();
    let mut steal = 0;
    let mut lost = Vec::new();
    for round in 0..a.rounds.max(1) {
        for k in 0..modes.len() {
            let mi = (k + round) % modes.len();
            let mode = modes[mi];
            eprintln!(
                "bench: overhead round {}/{}: {}",
                round + 1,
                a.rounds,
                mode.name()
            );
            let out = dir.join("trace");
            let _ = std::fs::remove_file(&out);
            let mut bg = match mode {
                Mode::PmuwatchSystemWide => Some(Bg::start(
                    "pmuwatch record --system-wide",
                    Command::new(&bins.pmuwatch)
                        .args(["record", "--system-wide", "-o"])
                        .arg(&out),
                    |_| file_written(&out),
                )?),
                Mode::PerfRecord => Some(Bg::start(
                    "perf record",
                    Command::new("perf")
                        .args([
                            "record",
                            "-q",
                            "-e",
                            "sched:sched_switch",
                            "-e",
                            "sched:sched_migrate_task",
                            "-a",
                            "-o",
                        ])
                        .arg(&out),
                    |_| file_written(&out),
                )?),
                Mode::Bpftrace => Some(Bg::start(
                    "bpftrace",
                    Command::new("bpftrace").args(["-e", BPFTRACE]),
                    holds_programs,
                )?),
                Mode::Bare | Mode::PmuwatchCommand => None,
            };
            for (wi, w) in workloads.iter().enumerate() {
                let ticks0 = cpu_ticks();
                let t = if mode == Mode::PmuwatchCommand {
                    let _ = std::fs::remove_file(&out);
                    timed(
                        Command::new(&bins.pmuwatch)
                            .args(["record", "-o"])
                            .arg(&out)
                            .arg("--")
                            .args(&w.argv),
                    )?
                } else {
                    timed(Command::new(&w.argv[0]).args(&w.argv[1..]))?
                };
                let ticks1 = cpu_ticks();
                secs[mi][wi].push(t);
                busy[mi][wi].push(ticks1.0.saturating_sub(ticks0.0) as f64);
                steal += ticks1.1.saturating_sub(ticks0.1);
            }
            if let Some(bg) = bg.as_mut() {
                let err = bg.stop();
                if mode == Mode::PmuwatchSystemWide {
                    lost.push(err);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut rows = Vec::new();
    // Per round: traced over bare of the same round; median and range.
    let ratios = |traced: &[f64], bare: &[f64]| {
        let mut r: Vec<f64> = traced
            .iter()
            .zip(bare)
            .map(|(t, b)| t / b.max(f64::MIN_POSITIVE))
            .collect();
        stats(&mut r)
    };
    for (wi, w) in workloads.iter().enumerate() {
        let mut bare = secs[0][wi].clone();
        let (med, lo, hi) = stats(&mut bare);
        rows.push(Row {
            part: "overhead",
            what: format!("{}: bare", w.name),
            value: format!("{med:.3} s"),
            note: format!("median of {}, range {lo:.3}-{hi:.3} s", bare.len()),
        });
        for (mi, mode) in modes.iter().enumerate().skip(1) {
            let (med, lo, hi) = ratios(&secs[mi][wi], &secs[0][wi]);
            // Host interference only ever adds time: the best run of each side is the
            // steadiest pair on a shared VM.
            let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            rows.push(Row {
                part: "overhead",
                what: format!("{}: {}", w.name, mode.name()),
                value: format!("x{med:.3}"),
                note: format!(
                    "vs bare, {} rounds, range x{lo:.2}-x{hi:.2}; best run vs best bare x{:.3}",
                    secs[mi][wi].len(),
                    best(&secs[mi][wi]) / best(&secs[0][wi]).max(f64::MIN_POSITIVE)
                ),
            });
        }
        // The machine's busy CPU time over the same runs: the cost to the system, tracer and
        // its user space included, without the idle-wakeup latency that makes wall time swing.
        for (mi, mode) in modes.iter().enumerate().skip(1) {
            if *mode == Mode::PmuwatchCommand {
                continue; // its runs include pmuwatch's start-up (BTF, program loads)
            }
            let (med, lo, hi) = ratios(&busy[mi][wi], &busy[0][wi]);
            rows.push(Row {
                part: "overhead",
                what: format!("{}: {} (CPU busy)", w.name, mode.name()),
                value: format!("x{med:.3}"),
                note: format!(
                    "machine CPU time vs bare, range x{lo:.2}-x{hi:.2} (/proc/stat 10 ms \
                     ticks; bare median {:.0})",
                    stats(&mut busy[0][wi].clone()).0
                ),
            });
        }
    }
    rows.push(Row {
        part: "overhead",
        what: "host steal during the runs".into(),
        value: format!("{:.2} s", steal as f64 / 100.0),
        note: "CPU time the hypervisor gave to others while the workloads ran (/proc/stat steal)"
            .into(),
    });
    if let Some(last) = lost.last() {
        let line = last.lines().last().unwrap_or("").trim();
        if !line.is_empty() {
            rows.push(Row {
                part: "overhead",
                what: "pmuwatch --system-wide, last round".into(),
                value: String::new(),
                note: line.to_string(),
            });
        }
    }
    Ok(rows)
}
