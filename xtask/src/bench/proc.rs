//! Processes and /proc for the benchmarks: tracers in the background, workload timings,
//! context-switch counts, eBPF program run statistics.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

pub fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Context switches since boot, all CPUs (`ctxt` in /proc/stat).
pub fn context_switches() -> u64 {
    read_trim("/proc/stat")
        .lines()
        .find_map(|l| l.strip_prefix("ctxt "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time the whole machine spent busy, and stolen by the host, in clock ticks (USER_HZ)
/// from the `cpu` line of /proc/stat: busy = user + nice + system + irq + softirq (guest time
/// is inside user); idle, iowait and steal are not busy.
pub fn cpu_ticks() -> (u64, u64) {
    let stat = read_trim("/proc/stat");
    let v: Vec<u64> = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let f = |i: usize| v.get(i).copied().unwrap_or(0);
    (f(0) + f(1) + f(2) + f(5) + f(6), f(7))
}

/// Runs a workload and returns the seconds it reports (`Total time: S [sec]`, as `perf bench`
/// prints it): its own timing, free of the start-up of whatever wraps it.
pub fn timed(cmd: &mut Command) -> anyhow::Result<f64> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    total_time(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("{shown} printed no `Total time:`"))
}

fn total_time(out: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Total time:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A tracer running in the background until [`Bg::stop`].
pub struct Bg {
    child: Child,
    name: String,
}

impl Bg {
    /// Starts `cmd` and waits until `ready` says it is tracing (at most 60 s).
    pub fn start(name: &str, cmd: &mut Command, ready: impl Fn(u32) -> bool) -> anyhow::Result<Bg> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {name}"))?;
        let mut bg = Bg {
            child,
            name: name.to_string(),
        };
        let t = Instant::now();
        while !ready(bg.child.id()) {
            if let Some(st) = bg.child.try_wait()? {
                bail!("{name} ended before it was tracing ({st}): {}", bg.stderr());
            }
            if t.elapsed() > Duration::from_secs(60) {
                bg.stop();
                bail!("{name} was not tracing after 60 s");
            }
            sleep(Duration::from_millis(50));
        }
        // Attach finishes a little after the sign we can see.
        sleep(Duration::from_millis(300));
        Ok(bg)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s.trim().to_string()
    }

    /// SIGINT (tracers finish their output on it), SIGKILL after 20 s; returns its stderr.
    pub fn stop(&mut self) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.stderr();
            }
            sleep(Duration::from_millis(50));
        }
        eprintln!("bench: {} did not stop on SIGINT; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr()
    }
}

/// Ready when the file exists and is not empty (pmuwatch record writes its header only once
/// the probes are attached).
pub fn file_written(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Ready when the process holds at least one eBPF program.
pub fn holds_programs(pid: u32) -> bool {
    !programs(pid).is_empty()
}

/// Run statistics of one eBPF program (kernel.bpf_stats_enabled=1 makes them count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    pub id: u32,
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

/// The eBPF programs `pid` holds open, from /proc/PID/fdinfo, sorted by id.
pub fn programs(pid: u32) -> Vec<ProgStats> {
    let mut out = Vec::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for fd in fds.flatten() {
        let is_prog = std::fs::read_link(fd.path())
            .is_ok_and(|l| l.to_string_lossy() == "anon_inode:bpf-prog");
        if !is_prog {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        if let Some(p) = parse_fdinfo(&info) {
            out.push(p);
        }
    }
    out.sort_by_key(|p| p.id);
    out.dedup_by_key(|p| p.id);
    out
}

fn parse_fdinfo(info: &str) -> Option<ProgStats> {
    let field = |k: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(ProgStats {
        id: u32::try_from(field("prog_id")?).ok()?,
        run_time_ns: field("run_time_ns").unwrap_or(0),
        run_cnt: field("run_cnt").unwrap_or(0),
    })
}

/// Program names by id from `bpftool -j prog show` (empty when bpftool is missing).
pub fn program_names() -> std::collections::HashMap<u32, String> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else {
        return Default::default();
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = u32::try_from(p.get("id")?.as_u64()?).ok()?;
            let name = p.get("name")?.as_str()?.to_string();
            Some((id, name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_perf_bench_total_time() {
        let out = "# Running 'sched/pipe' benchmark:\n# Executed 20000 pipe operations\n\n     Total time: 0.627 [sec]\n\n      31.395500 usecs/op\n";
        assert_eq!(total_time(out), Some(0.627));
        assert_eq!(total_time("nothing"), None);
    }

    #[test]
    fn reads_prog_fdinfo() {
        let info = "pos:\t0\nflags:\t02000002\nprog_type:\t26\nprog_jited:\t1\nprog_tag:\tab\nmemlock:\t4096\nprog_id:\t123\nrun_time_ns:\t5000\nrun_cnt:\t25\n";
        assert_eq!(
            parse_fdinfo(info),
            Some(ProgStats {
                id: 123,
                run_time_ns: 5000,
                run_cnt: 25
            })
        );
        assert_eq!(parse_fdinfo("pos:\t0\n"), None);
    }
}
