//! Probe cost per event: the kernel's own run statistics of each eBPF program
//! (`kernel.bpf_stats_enabled=1`: run_time_ns, run_cnt), over one `perf bench sched pipe` run,
//! for pmuwatch's programs and for the bpftrace script, per context switch; then over one
//! self-migration loop, per migration (with the bare loop's time per migration, so that the
//! share the programs take of that loop is plain). Steadier than wall-clock overhead on a
//! loaded machine: it counts only the time spent inside the programs.

use std::{collections::HashMap, process::Command};

use anyhow::Context;

use super::{
    Bins, Row,
    proc::{Bg, ProgStats, context_switches, file_written, holds_programs, programs},
};

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Turns the statistics on and back to what they were when dropped.
struct StatsOn(String);

impl StatsOn {
    fn new() -> anyhow::Result<StatsOn> {
        let old =
            std::fs::read_to_string(SYSCTL).context("cannot read kernel.bpf_stats_enabled")?;
        std::fs::write(SYSCTL, "1").context("cannot set kernel.bpf_stats_enabled=1")?;
        Ok(StatsOn(old.trim().to_string()))
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, &self.0);
    }
}

/// What the programs are measured over.
#[derive(Clone, Copy)]
enum Work {
    /// `perf bench sched pipe -l N`: figures per context switch.
    Pipe(u64),
    /// `pmuwatch bench-helper migrate N`: figures per migration.
    Migrate(u64),
}

pub fn run(bins: &Bins, loops: u64, migrations: u64) -> anyhow::Result<Vec<Row>> {
    let _on = StatsOn::new()?;
    let dir = std::env::temp_dir().join(format!("pmuwatch-bench-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("trace");
    let works = [Work::Pipe(loops), Work::Migrate(migrations)];
    // Each workload untraced first: its own time per context switch / migration, against
    // which the programs' time per event is a share (an overhead estimate that does not swing
    // with the host as wall-clock ratios do on this VM).
    let bare: Vec<f64> = works
        .iter()
        .map(|w| bare_ns_per_unit(bins, *w))
        .collect::<anyhow::Result<_>>()?;
    let mut rows = Vec::new();
    let mut pmu = Bg::start(
        "pmuwatch record --system-wide",
        Command::new(&bins.pmuwatch)
            .args(["record", "--system-wide", "-o"])
            .arg(&out),
        |_| file_written(&out),
    )?;
    let measured: anyhow::Result<Vec<Measured>> =
        works.iter().map(|w| measure(pmu.pid(), bins, *w)).collect();
    pmu.stop();
    for (m, bare_ns) in measured?.into_iter().zip(&bare) {
        rows.extend(table("pmuwatch", m, *bare_ns));
    }
    rows.extend(direct_reads(traced_demo(bins, &dir)?));
    // The same workloads under bpftrace on the tracepoints of the overhead figure: a counter,
    // and an empty program (the floor: what running any program costs here, accounting
    // included).
    let scripts = [
        (
            "bpftrace count",
            "tracepoint:sched:sched_switch, tracepoint:sched:sched_migrate_task { @ = count(); }",
        ),
        (
            "bpftrace empty program",
            "tracepoint:sched:sched_switch, tracepoint:sched:sched_migrate_task { }",
        ),
    ];
    if crate::util::succeeds(Command::new("sh").args(["-c", "command -v bpftrace"])) {
        for (who, script) in scripts {
            let mut bt = Bg::start(
                "bpftrace",
                Command::new("bpftrace").args(["-e", script]),
                holds_programs,
            )?;
            let measured: anyhow::Result<Vec<Measured>> =
                works.iter().map(|w| measure(bt.pid(), bins, *w)).collect();
            bt.stop();
            for (m, bare_ns) in measured?.into_iter().zip(&bare) {
                rows.extend(table(who, m, *bare_ns));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// The untraced workload's wall time per unit (context switch / migration), in ns.
fn bare_ns_per_unit(bins: &Bins, w: Work) -> anyhow::Result<f64> {
    let ctxt0 = context_switches();
    let secs = super::proc::timed(&mut work_cmd(bins, w))?;
    let units = match w {
        Work::Pipe(_) => context_switches().saturating_sub(ctxt0),
        Work::Migrate(n) => n,
    };
    Ok(1e9 * secs / units.max(1) as f64)
}

fn work_cmd(bins: &Bins, w: Work) -> Command {
    match w {
        Work::Pipe(loops) => {
            let mut c = Command::new("perf");
            c.args(["bench", "sched", "pipe", "-l", &loops.to_string()]);
            c
        }
        Work::Migrate(n) => {
            let mut c = bins.helper_cmd();
            c.args(["migrate", &n.to_string()]);
            c
        }
    }
}

struct Measured {
    /// Per program: name, run time and runs over the workload.
    progs: Vec<(String, ProgStats)>,
    switches: u64,
    work: Work,
}

fn measure(pid: u32, bins: &Bins, work: Work) -> anyhow::Result<Measured> {
    let ctxt0 = context_switches();
    let progs = delta(pid, || {
        super::proc::timed(&mut work_cmd(bins, work)).map(|_| ())
    })?;
    let switches = context_switches().saturating_sub(ctxt0);
    Ok(Measured {
        progs,
        switches,
        work,
    })
}

/// Per program of process `pid`: name, run time and runs while `work` ran.
fn delta(
    pid: u32,
    work: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<(String, ProgStats)>> {
    let before = programs(pid);
    work()?;
    let after = programs(pid);
    let names: HashMap<u32, String> = super::proc::program_names();
    let progs = after
        .iter()
        .map(|a| {
            let b = before
                .iter()
                .find(|b| b.id == a.id)
                .copied()
                .unwrap_or_default();
            let name = names
                .get(&a.id)
                .cloned()
                .unwrap_or_else(|| format!("prog id {}", a.id));
            (
                name,
                ProgStats {
                    id: a.id,
                    run_time_ns: a.run_time_ns.saturating_sub(b.run_time_ns),
                    run_cnt: a.run_cnt.saturating_sub(b.run_cnt),
                },
            )
        })
        .collect();
    Ok(progs)
}

/// Program statistics of `pmuwatch record -- pmuwatch demo --careless`: the demo's counter
/// reads, each under a read-site uprobe (probed before the demo runs) and each trapping here
/// (no hardware PMU). Read from /proc while it runs; the last reading counts.
fn traced_demo(bins: &Bins, dir: &std::path::Path) -> anyhow::Result<Vec<(String, ProgStats)>> {
    let mut child = Command::new(&bins.pmuwatch)
        .args(["record", "-o"])
        .arg(dir.join("demo.pmw"))
        .arg("--")
        .arg(&bins.pmuwatch)
        .args(["demo", "--careless", "--duration", "2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("could not start pmuwatch record")?;
    let pid = child.id();
    let mut last = Vec::new();
    let mut names = HashMap::new();
    while child.try_wait()?.is_none() {
        // Programs load one by one at the start and go one by one at the end: keep the
        // latest reading that has them all.
        let now = programs(pid);
        if now.len() > last.len() {
            names = super::proc::program_names();
        }
        if now.len() >= last.len() {
            last = now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(last
        .into_iter()
        .map(|p| {
            let name = names
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| format!("prog id {}", p.id));
            (name, p)
        })
        .collect())
}

/// The read-site uprobe program per direct read (and the trap program it is followed by).
fn direct_reads(progs: Vec<(String, ProgStats)>) -> Vec<Row> {
    progs
        .iter()
        .filter(|(name, p)| {
            p.run_cnt > 0 && (name.starts_with("read_site") || name.starts_with("trap_signal"))
        })
        .map(|(name, p)| Row {
            part: "cost",
            what: format!("pmuwatch: {name} (demo --careless)"),
            value: ns_per_run(p),
            note: format!(
                "{} runs: {}",
                p.run_cnt,
                if name.starts_with("read_site") {
                    "the uprobe program per direct counter read (the uprobe's own trap and single-step come on top)"
                } else {
                    "per SIGSEGV of a counter read"
                }
            ),
        })
        .collect()
}

/// A program's mean run time (runs > 0), as the rows show it.
fn ns_per_run(p: &ProgStats) -> String {
    format!("{:.0} ns/run", p.run_time_ns as f64 / p.run_cnt as f64)
}

/// Rows per program and in all: per context switch over sched pipe, per migration over the
/// migration loop (`bare_ns`: the untraced workload's wall time per unit).
fn table(who: &str, m: Measured, bare_ns: f64) -> Vec<Row> {
    let (units, unit, workload) = match m.work {
        Work::Pipe(_) => (m.switches, "context switch", "sched pipe"),
        Work::Migrate(n) => (n, "migration", "self-migrate"),
    };
    let per = |ns: u64| ns as f64 / units.max(1) as f64;
    let mut rows = Vec::new();
    let (mut total, mut runs) = (0, 0);
    for (name, p) in &m.progs {
        total += p.run_time_ns;
        runs += p.run_cnt;
        if p.run_cnt == 0 || per(p.run_time_ns) < 0.05 {
            continue;
        }
        rows.push(Row {
            part: "cost",
            what: format!("{who}: {name} ({workload})"),
            value: ns_per_run(p),
            note: format!(
                "{} runs, {:.1} ns per {unit}",
                p.run_cnt,
                per(p.run_time_ns)
            ),
        });
    }
    let share = format!(
        "the bare workload takes {bare_ns:.0} ns per {unit}: the programs are {:.1} % of it",
        100.0 * per(total) / bare_ns.max(1.0)
    );
    let note = match m.work {
        Work::Pipe(_) => format!(
            "{} programs, {} context switches (/proc/stat) during sched pipe; goal <= 200; {share}",
            m.progs.len(),
            m.switches
        ),
        Work::Migrate(_) => format!(
            "{:.1} program runs and {:.1} context switches per migration; {share}",
            runs as f64 / units.max(1) as f64,
            m.switches as f64 / units.max(1) as f64,
        ),
    };
    rows.push(Row {
        part: "cost",
        what: format!("{who}: all programs ({workload})"),
        value: format!(
            "{:.0} ns/{}",
            per(total),
            unit.split(' ').next_back().unwrap_or(unit)
        ),
        note,
    });
    rows
}
