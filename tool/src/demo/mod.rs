//! `pmuwatch demo`: the built-in workload (issue 3), a self-monitoring process that does what
//! real users of direct counter reads do, and counts its own outcomes: the ground truth the
//! tool's counts are checked against.
//!
//! Each reader thread (`--threads`) opens task-bound events (pid 0, cpu -1) with user access
//! requested (see [`pmus`] for which), mmaps their first page and reads them with the libperf
//! seqlock protocol ([`page::read_self`]) and a real `rdpmc` / `mrs`
//! ([`counter::pmuwatch_demo_read_counter`]), falling back to read(2) when the page says so.
//! Threads move themselves across every allowed CPU (sched_setaffinity, round robin) and
//! toggle their events with ioctl DISABLE/ENABLE (and RESET). With `--careless` every other
//! round executes the counter read even when the page says index 0, with the last index seen
//! (else 1); the trap this raises (x86 SIGSEGV, arm64 SIGILL) is caught ([`trap`]), the
//! instruction skipped, and counted.
//!
//! # Output
//!
//! stdout holds only the JSON report (also written to `--counts FILE`); progress goes to
//! stderr. Top level: `version` (1), `pid`, `arch`, `careless`, `duration_s` (asked),
//! `elapsed_s` (read for), `stopped_by` (`duration` | `SIGINT` | `SIGTERM`: an interrupted
//! demo still reports), `backend`
//! (`hardware` | `software` | `mixed`: which kind of events the threads hold), `cpus`, `plan`
//! (`hardware`, `software`: the event names each thread tries, in that order), `total`
//! (counts summed over threads), `per_thread` (list of `thread`, `tid`, `events` (`name`,
//! `pmu`, `type`, `config`, `config1`), `counts`).
//!
//! Counts (every key always present):
//! - `reads`: self-reads attempted (one run of the protocol on one event).
//! - `reads_ok`: consistent direct reads (counter read, lock unchanged).
//! - `seq_retries`: protocol rounds repeated because `lock` changed mid-read.
//! - `gave_up`: reads abandoned after `page::MAX_RETRIES` retries.
//! - `index0_fallbacks`: read(2) fallbacks because `index` was 0.
//! - `nocap_fallbacks`: read(2) fallbacks because `cap_user_rdpmc` was 0 with a non-zero index.
//! - `read_syscalls`: read(2) calls on perf fds (= `index0_fallbacks + nocap_fallbacks`; the
//!   demo makes no other).
//! - `read_errors`: read(2) calls that failed or returned short.
//! - `careless_reads`: counter reads executed although the page said not to (`--careless`).
//! - `careless_silent`: careless reads that returned a value without trapping (another
//!   counter's stale value: the silent failure).
//! - `careless_traps`: careless reads that trapped.
//! - `traps`: counter reads that trapped, careless or not (a careful read can trap too, e.g.
//!   migrated between reading `index` and the instruction); `traps_by_signal`: `SIGSEGV`,
//!   `SIGILL`.
//! - `no_instruction`: reads skipped because no instruction exists for the counter number.
//! - `migrations`: CPU changes seen by sched_getcpu between two read rounds.
//! - `affinity_moves` / `affinity_errors`: sched_setaffinity calls that worked / failed.
//! - `ioctls`: ioctl calls on perf fds; `ioctls_by_cmd`: `ENABLE`, `DISABLE`, `RESET`;
//!   `ioctl_errors`: those that failed (included in the others).
//! - `opens_ok` / `opens_failed`: perf_event_open calls.
//! - `mmaps` / `mmap_errors` / `munmaps`: of the events' first pages.
//! - `closes`: close calls on perf fds.

pub mod counter;
pub mod counts;
pub mod page;
pub mod perf;
pub mod pmus;
mod stop;
pub mod trap;
mod worker;

use std::{
    io::Write,
    path::Path,
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool, mpsc},
    time::{Duration, Instant},
};

use anyhow::Context;

use self::{
    counts::{Counts, PlanReport, REPORT_VERSION, Report, ThreadReport},
    pmus::{Arch, SYSFS_PMUS},
    worker::Worker,
};
use crate::{cli::DemoArgs, error::fix};

/// Upper bound on `--threads`: each thread holds a few fds and one page per event.
const MAX_THREADS: usize = 256;

pub fn run(a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let report = run_workload(a)?;
    let json = serde_json::to_string_pretty(&report).context("encoding the counts")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}")?;
    out.flush()?;
    if let Some(path) = &a.counts {
        write_counts(path, &json)?;
    }
    let t = &report.total;
    eprintln!(
        "pmuwatch demo: {} reads ({} direct, {} fallback), {} traps, {} migrations, {} ioctls",
        t.reads, t.reads_ok, t.read_syscalls, t.traps, t.migrations, t.ioctls
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs the readers for the requested time and returns their counts.
pub fn run_workload(a: &DemoArgs) -> anyhow::Result<Report> {
    if !a.duration.is_finite() || a.duration < 0.0 || a.duration > 1e7 {
        return Err(fix(
            format!("--duration {} is not a number of seconds", a.duration),
            "pass a duration like --duration 5",
        ));
    }
    if a.threads == 0 || a.threads > MAX_THREADS {
        return Err(fix(
            format!("--threads {} is out of range", a.threads),
            format!("pass 1 to {MAX_THREADS} reader threads"),
        ));
    }
    let mut plan = pmus::plan(Path::new(SYSFS_PMUS), Arch::host());
    if !a.pmus.is_empty() {
        let known: Vec<String> = plan.hardware.iter().map(|e| e.pmu.clone()).collect();
        plan.hardware.retain(|e| a.pmus.contains(&e.pmu));
        if plan.hardware.is_empty() {
            let mut known = known;
            known.dedup();
            return Err(fix(
                format!("no hardware PMU named {}", a.pmus.join(", ")),
                format!("pass --pmu with one of: {}", known.join(", ")),
            ));
        }
    }
    let plan = Arc::new(plan);
    let cpus = Arc::new(worker::allowed_cpus());
    let stop = Arc::new(AtomicBool::new(false));
    let guard = trap::install().map_err(|e| {
        fix(
            format!("cannot install the trap handler: {e}"),
            "run the demo without a seccomp policy or debugger that blocks sigaction",
        )
    })?;
    // Before any thread starts, so every thread inherits the mask and SIGINT/SIGTERM queue
    // for the main thread: an interrupted demo still prints its counts.
    let stop_signals = stop::StopSignals::block();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(a.threads);
    for thread in 0..a.threads {
        let w = Worker {
            thread,
            plan: if a.pmu_per_thread {
                Arc::new(pmus::one_pmu(&plan, thread))
            } else {
                plan.clone()
            },
            cpus: cpus.clone(),
            careless: a.careless,
            interval: Duration::from_millis(1),
            stop: stop.clone(),
            ready: ready_tx.clone(),
        };
        let h = std::thread::Builder::new()
            .name(format!("demo-reader-{thread}"))
            .spawn(move || w.run());
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                join_all(handles)?;
                return Err(fix(
                    format!("cannot start reader thread {thread}: {e}"),
                    "use fewer --threads",
                ));
            }
        }
    }
    drop(ready_tx);
    // Wait for every thread's open phase so the duration counts reading time only.
    let mut opened = 0;
    let mut first_error = None;
    for (n, err) in ready_rx.iter().take(a.threads) {
        opened += n;
        first_error = first_error.or(err);
    }
    if opened == 0 {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        join_all(handles)?;
        let cause = first_error.unwrap_or_else(|| "no event to open".into());
        return Err(fix(
            format!("perf_event_open failed for every event ({cause})"),
            "allow unprivileged perf events (sysctl kernel.perf_event_paranoid=2) or run as root",
        ));
    }
    describe_start(a, &plan, &cpus, first_error.as_deref());
    let started = Instant::now();
    let stopped_by = stop_signals.wait(Duration::from_secs_f64(a.duration));
    let elapsed_s = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let per_thread = join_all(handles)?;
    drop(guard);
    let mut total = Counts::default();
    per_thread.iter().for_each(|t| total.add(&t.counts));
    Ok(Report {
        version: REPORT_VERSION,
        pid: std::process::id(),
        arch: std::env::consts::ARCH,
        careless: a.careless,
        duration_s: a.duration,
        elapsed_s,
        stopped_by,
        backend: backend(&per_thread),
        cpus: cpus.to_vec(),
        plan: PlanReport {
            hardware: plan.hardware.iter().map(|e| e.name.clone()).collect(),
            software: plan.software.iter().map(|e| e.name.clone()).collect(),
        },
        total,
        per_thread,
    })
}

fn join_all(
    handles: Vec<std::thread::JoinHandle<ThreadReport>>,
) -> anyhow::Result<Vec<ThreadReport>> {
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a demo reader thread panicked"))
        })
        .collect()
}

fn backend(threads: &[ThreadReport]) -> &'static str {
    let sw = |t: &ThreadReport| t.events.iter().all(|e| e.pmu == "software");
    match threads.iter().filter(|t| sw(t)).count() {
        0 => "hardware",
        n if n == threads.len() => "software",
        _ => "mixed",
    }
}

fn describe_start(a: &DemoArgs, plan: &pmus::Plan, cpus: &[usize], first_error: Option<&str>) {
    let names = |v: &[counts::EventInfo]| {
        v.iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "pmuwatch demo: pid {}, {} reader thread(s) over CPUs {:?}, {} s{}",
        std::process::id(),
        a.threads,
        cpus,
        a.duration,
        if a.careless {
            ", careless reads on"
        } else {
            ""
        }
    );
    eprintln!("pmuwatch demo: hardware events: {}", names(&plan.hardware));
    if let Some(err) = first_error {
        eprintln!(
            "pmuwatch demo: some events did not open ({err}); software events stand in where no \
             hardware event opened: {}",
            names(&plan.software)
        );
    }
}

fn write_counts(path: &Path, json: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{json}\n")).map_err(|e| {
        fix(
            format!("cannot write the counts to {}: {e}", path.display()),
            "pass a writable path to --counts",
        )
    })
}
