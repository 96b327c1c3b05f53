//! `cargo xtask lab`: the arm64 lab as a system test. Real Debian arm64 kernels (6.1, 6.12)
//! under qemu-system-aarch64 give a real PMUv3 with user access, real SIGILL traps and, with an
//! edited device tree, two PMU types. Each scenario boots with `pmuwatch` (cross-built, probes
//! included) in its initramfs; its /init prints `@@` lines that are checked here.

mod boot;
mod build;
mod checks;
mod console;
mod cpio;
mod demo;
mod doctor;
mod insn;
mod prepare;
mod report;
mod scenario;

use std::{
    fs,
    time::{Duration, Instant},
};

use anyhow::bail;
use checks::{Checks, Verdict};
use console::Console;
use scenario::Scenario;

use crate::setup;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Only boots whose name (`6.12/hetero`) contains one of these.
    #[arg(long)]
    pub only: Vec<String>,
    /// Boots at a time (default: the host's CPU count; each guest has 4 vCPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Check the consoles of the last run again (after changing the checks), without building
    /// or booting.
    #[arg(long)]
    pub recheck: bool,
    /// Keep each scenario's trace (`runs/<kernel>-<scenario>.pmw`, for `pmuwatch report`):
    /// the guest prints it base64 on the console.
    #[arg(long)]
    pub keep_traces: bool,
    /// Seconds before a boot is given up.
    #[arg(long, default_value_t = TIMEOUT_S)]
    pub timeout_s: u64,
}

/// Generous: a boot takes 20-55 s on a 2-CPU host loaded with other builds (two boots at a
/// time); a hang must still end the run well inside CI's time.
const TIMEOUT_S: u64 = 150;

impl Default for Args {
    fn default() -> Self {
        Args {
            only: Vec::new(),
            jobs: None,
            recheck: false,
            keep_traces: false,
            timeout_s: TIMEOUT_S,
        }
    }
}

struct Boot {
    series: &'static str,
    scenario: Scenario,
}

impl Boot {
    fn name(&self) -> String {
        format!("{}/{}", self.series, self.scenario.name())
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let t_all = Instant::now();
    let lab = prepare::dir();
    let (mut t_prepare, mut t_build) = (Duration::ZERO, Duration::ZERO);
    let initrd = lab.join("initrd.cpio");
    if !args.recheck {
        setup::ensure_lab()?;
        // The download (network) and the cross-build (CPU) overlap.
        let (prepared, built) = std::thread::scope(|scope| {
            let prep = scope.spawn(|| {
                let t = Instant::now();
                prepare::ensure(&lab).map(|()| t.elapsed())
            });
            let t = Instant::now();
            let built = build::pmuwatch()
                .and_then(|p| Ok((p, build::mrs_cycles(&lab)?)))
                .map(|bins| (bins, t.elapsed()));
            (prep.join(), built)
        });
        let prepared = prepared.map_err(|_| anyhow::anyhow!("the lab's preparation panicked"))?;
        t_prepare = prepared?;
        let ((pmuwatch, mrs), took) = built?;
        t_build = took;
        build::initramfs(&lab, &pmuwatch, &mrs)?;
    }

    let boots: Vec<Boot> = scenario::ALL
        .iter()
        .flat_map(|&scenario| scenario::KERNELS.map(|series| Boot { series, scenario }))
        .filter(|b| args.only.is_empty() || args.only.iter().any(|o| b.name().contains(o)))
        .collect();
    if boots.is_empty() {
        bail!("no lab boot matches --only {:?}", args.only);
    }
    fs::create_dir_all(lab.join("runs"))?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!("lab: {} boots, {jobs} at a time", boots.len());
    let t = Instant::now();
    let results = boot::parallel(
        &boots,
        jobs,
        |b| -> anyhow::Result<(boot::Outcome, Checks)> {
            let spec = boot::Spec {
                kernel: prepare::kernel(&lab, b.series)?,
                initrd: initrd.clone(),
                dtb: b.scenario.dtb().map(|d| lab.join(d)),
                scenario: b.scenario.name().into(),
                log: boot::log_path(&lab, &b.name().replace('/', "-")),
                timeout: Duration::from_secs(args.timeout_s),
                keep_traces: args.keep_traces,
            };
            let out = if args.recheck {
                boot::reread(&spec)?
            } else {
                boot::boot(&spec)?
            };
            let console = Console::parse(&out.console);
            keep_traces(&console, &spec)?;
            let mut checks = b.scenario.check(b.series, &console);
            finished(&mut checks, &out, &console, &spec);
            eprintln!("lab: {} done in {:.1} s", b.name(), out.wall.as_secs_f64());
            Ok((out, checks))
        },
    );
    let t_boots = t.elapsed();

    let mut failed = 0;
    println!("\narm64 lab");
    for (b, r) in boots.iter().zip(&results) {
        match r {
            Ok((out, checks)) => {
                let (p, f, s) = (
                    checks.count(Verdict::Pass),
                    checks.count(Verdict::Fail),
                    checks.count(Verdict::Skip),
                );
                println!(
                    "{:<16} {:>6.1} s  {p} passed, {f} failed, {s} skipped",
                    b.name(),
                    out.wall.as_secs_f64()
                );
                for c in &checks.0 {
                    println!("    {c}");
                }
                failed += f;
            }
            Err(e) => {
                println!("{:<16} could not boot: {e:#}", b.name());
                failed += 1;
            }
        }
    }
    println!(
        "timings: prepare {:.1} s, cross-build {:.1} s, boots {:.1} s ({} boots, {jobs} at a time), total {:.1} s",
        t_prepare.as_secs_f64(),
        t_build.as_secs_f64(),
        t_boots.as_secs_f64(),
        boots.len(),
        t_all.elapsed().as_secs_f64()
    );
    if failed > 0 {
        bail!(
            "arm64 lab: {failed} checks failed (consoles in {})",
            lab.join("runs").display()
        );
    }
    Ok(())
}

/// Writes the traces the guest printed (`--keep-traces`) next to the console log.
fn keep_traces(c: &Console, spec: &boot::Spec) -> anyhow::Result<()> {
    for (name, text) in &c.traces {
        let Some(bytes) = console::base64(text) else {
            eprintln!("lab: {name}: the trace on the console is not base64; not kept");
            continue;
        };
        let path = spec.log.with_extension("pmw");
        fs::write(&path, bytes)?;
        eprintln!("lab: kept {}", path.display());
    }
    Ok(())
}

/// The boot itself: it must reach the end of its scenario in time; otherwise the failure shows
/// the console's tail.
fn finished(k: &mut Checks, out: &boot::Outcome, c: &Console, spec: &boot::Spec) {
    let why = if out.timed_out {
        Some(format!("no end after {} s", spec.timeout.as_secs()))
    } else if !c.done {
        Some(format!(
            "the guest stopped before the end (qemu status {:?})",
            out.status
        ))
    } else if !c.errors.is_empty() {
        Some(c.errors.join("; "))
    } else {
        None
    };
    match why {
        Some(why) => k.fail(
            "boot",
            format!(
                "{why}; console {}:\n{}",
                spec.log.display(),
                boot::tail(&out.console, 25)
            ),
        ),
        None => {
            k.check(
                "boot",
                true,
                format!("reached the end in {:.1} s", out.wall.as_secs_f64()),
            );
        }
    }
}
