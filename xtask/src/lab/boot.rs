//! Boots one scenario under qemu-system-aarch64 (TCG) with a time limit, keeping the console in
//! a log file; and runs a list of boots on a few worker threads.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::Context;

/// One guest boot.
pub struct Spec {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// `None`: QEMU's own device tree (one PMU on all CPUs).
    pub dtb: Option<PathBuf>,
    pub scenario: String,
    pub log: PathBuf,
    pub timeout: Duration,
    /// The guest prints its trace files (`LAB_KEEP=1`, see lab/lib.sh).
    pub keep_traces: bool,
}

pub struct Outcome {
    pub console: String,
    pub wall: Duration,
    pub timed_out: bool,
    /// QEMU's exit status; `-no-reboot` + `poweroff -f` in the guest give 0. None when the
    /// lab stopped it (at `@@done`, or at the time limit).
    pub status: Option<i32>,
}

pub fn qemu_command(s: &Spec) -> Command {
    let mut cmd = Command::new("qemu-system-aarch64");
    // pauth-impdef=on halves boot time (QARMA pointer auth is slow to emulate); -nic none
    // because QEMU 7.2 otherwise looks for a network ROM that is not installed.
    cmd.args([
        "-M",
        "virt",
        "-cpu",
        "max,pauth-impdef=on",
        "-smp",
        "4",
        "-m",
        "1G",
    ])
    .args(["-nographic", "-nic", "none", "-no-reboot", "-kernel"])
    .arg(&s.kernel)
    .arg("-initrd")
    .arg(&s.initrd);
    if let Some(dtb) = &s.dtb {
        cmd.arg("-dtb").arg(dtb);
    }
    cmd.arg("-append").arg(format!(
        "console=ttyAMA0 rdinit=/init panic=-1 quiet LAB_SCENARIO={}{}",
        s.scenario,
        if s.keep_traces { " LAB_KEEP=1" } else { "" }
    ));
    cmd
}

pub fn boot(s: &Spec) -> anyhow::Result<Outcome> {
    let log = File::create(&s.log).with_context(|| format!("creating {}", s.log.display()))?;
    let mut cmd = qemu_command(s);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .context("could not start qemu-system-aarch64; fix: run `cargo xtask setup` as root")?;
    let mut looked = Instant::now();
    let (status, timed_out) = loop {
        if let Some(st) = child.try_wait()? {
            break (st.code(), false);
        }
        // The guest's last line is `@@done`; powering off takes it seconds more under TCG,
        // which the lab need not wait for.
        if looked.elapsed() > DONE_POLL {
            looked = Instant::now();
            if done(&s.log) {
                let _ = child.kill();
                let _ = child.wait();
                break (None, false);
            }
        }
        if start.elapsed() > s.timeout {
            // Ignore errors: it may have exited between the two calls.
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        thread::sleep(Duration::from_millis(50));
    };
    let wall = start.elapsed();
    let console = String::from_utf8_lossy(&std::fs::read(&s.log)?).into_owned();
    Ok(Outcome {
        console,
        wall,
        timed_out,
        status,
    })
}

/// How often a running boot's console is looked at for its end.
const DONE_POLL: Duration = Duration::from_millis(250);

/// The console holds the guest's last line (lab/init prints `@@done` just before poweroff).
fn done(log: &Path) -> bool {
    std::fs::read(log).is_ok_and(|c| c.windows(6).any(|w| w == b"@@done"))
}

/// The console a previous boot left (`--recheck`).
pub fn reread(s: &Spec) -> anyhow::Result<Outcome> {
    let console = std::fs::read(&s.log)
        .with_context(|| format!("no console from a previous run in {}", s.log.display()))?;
    Ok(Outcome {
        console: String::from_utf8_lossy(&console).into_owned(),
        wall: Duration::ZERO,
        timed_out: false,
        status: Some(0),
    })
}

/// Runs `f` on every item with at most `jobs` at a time; results in item order.
pub fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().expect("no worker panics holding it")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panics holding it")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

const MAX_TAIL_LINE: usize = 240;

/// The last `n` lines of a console, for failure messages.
pub fn tail(console: &str, n: usize) -> String {
    let lines: Vec<&str> = console.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| {
            let l = l.trim_end_matches('\r');
            // One-line JSON reports run to kilobytes: the start says enough.
            match l.char_indices().nth(MAX_TAIL_LINE) {
                Some((at, _)) => format!("    | {} [...]", &l[..at]),
                None => format!("    | {l}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn log_path(lab: &Path, name: &str) -> PathBuf {
    lab.join("runs").join(format!("{name}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_keeps_item_order_and_runs_everything() {
        let items: Vec<u32> = (0..17).collect();
        let out = parallel(&items, 3, |x| x * 2);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\r\nc\n", 2), "    | b\n    | c");
    }
}
