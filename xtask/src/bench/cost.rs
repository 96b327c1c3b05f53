//! Probe cost per event: the kernel's own run statistics of each eBPF program
//! (`kernel.bpf_stats_enabled=1`: run_time_ns, run_cnt), over one `perf bench sched pipe` run,
//! for pmuwatch's programs and for the bpftrace script. Steadier than wall-clock overhead on a
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

pub fn run(bins: &Bins, loops: u64) -> anyhow::Result<Vec<Row>> {
    let _on = StatsOn::new()?;
    let dir = std::env::temp_dir().join(format!("pmuwatch-bench-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("trace");
    let mut rows = Vec::new();
    let mut pmu = Bg::start(
        "pmuwatch record --system-wide",
        Command::new(&bins.pmuwatch)
            .args(["record", "--system-wide", "-o"])
            .arg(&out),
        |_| file_written(&out),
    )?;
    let measured = measure(pmu.pid(), loops);
    pmu.stop();
    rows.extend(table("pmuwatch", measured?));
    rows.extend(direct_reads(traced_demo(bins, &dir)?));
    // The same switches under bpftrace: a counter, and an empty program (the floor: what
    // running any program costs here, accounting included).
    let scripts = [
        (
            "bpftrace sched_switch count",
            "tracepoint:sched:sched_switch { @ = count(); }",
        ),
        (
            "bpftrace empty program",
            "tracepoint:sched:sched_switch { }",
        ),
    ];
    if crate::util::succeeds(Command::new("sh").args(["-c", "command -v bpftrace"])) {
        for (who, script) in scripts {
            let mut bt = Bg::start(
                "bpftrace",
                Command::new("bpftrace").args(["-e", script]),
                holds_programs,
            )?;
            let measured = measure(bt.pid(), loops);
            bt.stop();
            rows.extend(table(who, measured?));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

struct Measured {
    /// Per program: name, run time and runs over the workload.
    progs: Vec<(String, ProgStats)>,
    switches: u64,
}

fn measure(pid: u32, loops: u64) -> anyhow::Result<Measured> {
    let ctxt0 = context_switches();
    let progs = delta(pid, || {
        super::proc::timed(Command::new("perf").args([
            "bench",
            "sched",
            "pipe",
            "-l",
            &loops.to_string(),
        ]))
        .map(|_| ())
    })?;
    let switches = context_switches().saturating_sub(ctxt0);
    Ok(Measured { progs, switches })
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
            value: format!("{:.0} ns/run", p.run_time_ns as f64 / p.run_cnt as f64),
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

fn table(who: &str, m: Measured) -> Vec<Row> {
    let mut rows = Vec::new();
    let per_switch = |ns: u64| ns as f64 / m.switches.max(1) as f64;
    let mut total = 0;
    for (name, p) in &m.progs {
        total += p.run_time_ns;
        if p.run_cnt == 0 {
            continue;
        }
        rows.push(Row {
            part: "cost",
            what: format!("{who}: {name}"),
            value: format!("{:.0} ns/run", p.run_time_ns as f64 / p.run_cnt as f64),
            note: format!(
                "{} runs, {:.1} ns per context switch",
                p.run_cnt,
                per_switch(p.run_time_ns)
            ),
        });
    }
    rows.push(Row {
        part: "cost",
        what: format!("{who}: all programs"),
        value: format!("{:.0} ns/switch", per_switch(total)),
        note: format!(
            "{} programs, {} context switches (/proc/stat) during sched pipe; goal <= 200",
            m.progs.len(),
            m.switches
        ),
    });
    rows
}
