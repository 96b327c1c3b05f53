//! Live figures that need the probes (root): peak memory of the live view with many tasks,
//! and where the ring buffer starts to drop under a flood of records.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context;

use super::{Bins, Row, si};

/// Peak RSS (`VmHWM`) of `pmuwatch --no-tui -- pmuwatch bench-helper tasks N`: the engine
/// with N task rows (threads alive at once, each with a perf event). Polled from /proc while
/// it runs (the peak only grows, so the last reading is the peak seen); `/usr/bin/time` would
/// count the helper's own threads too.
pub fn memory(bins: &Bins, tasks: u64) -> anyhow::Result<Vec<Row>> {
    eprintln!("bench: live view with {tasks} tasks");
    let t = std::time::Instant::now();
    let mut child = Command::new(&bins.pmuwatch)
        .args(["--no-tui", "--"])
        .args(bins.helper())
        .args(["tasks", &tasks.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start pmuwatch")?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let code = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if let Some(kib) = std::fs::read_to_string(&status).ok().and_then(|s| hwm(&s)) {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !code.success() {
        anyhow::bail!("pmuwatch --no-tui -- bench-helper tasks failed: {code}");
    }
    Ok(vec![Row {
        part: "memory",
        what: format!("pmuwatch --no-tui -- CMD, {} tasks", si(tasks as f64)),
        value: format!("{:.1} MiB", peak_kib as f64 / 1024.0),
        note: format!(
            "peak RSS (VmHWM) of pmuwatch; {tasks} threads alive at once, each with a perf event; {:.1} s",
            t.elapsed().as_secs_f64()
        ),
    }])
}

fn hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `pmuwatch record -- pmuwatch bench-helper flood THREADS SECS RATE`: each read(2) of the
/// flood's perf event is one `PerfRead` record. Steps up the offered rate per thread (one
/// thread = one CPU's worth of records), then one thread per CPU unpaced; each row says how
/// many records the kernel dropped (ring buffer full).
pub fn drops(bins: &Bins, secs: u64) -> anyhow::Result<Vec<Row>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = std::env::temp_dir().join(format!("pmuwatch-bench-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("flood.pmw");
    let mut rows = Vec::new();
    for (threads, rate) in [(1, 100_000u64), (1, 300_000), (1, 0), (cpus, 0)] {
        eprintln!("bench: flood, {threads} thread(s), rate {rate}/s per thread (0 = unpaced)");
        let o = Command::new(&bins.pmuwatch)
            .args(["record", "-o"])
            .arg(&out)
            .arg("--")
            .args(bins.helper())
            .args([
                "flood",
                &threads.to_string(),
                &secs.to_string(),
                &rate.to_string(),
            ])
            .stdin(Stdio::null())
            .output()
            .context("could not start pmuwatch record")?;
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        let v: serde_json::Value = stdout
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .with_context(|| format!("the flood printed no JSON; pmuwatch said: {stderr}"))?;
        let reads = v["reads"].as_f64().unwrap_or(0.0);
        let took = v["secs"].as_f64().unwrap_or(1.0).max(1e-3);
        let (recorded, dropped) = record_line(&stderr);
        let offered = reads / took / threads as f64;
        rows.push(Row {
            part: "drops",
            what: format!(
                "flood: {threads} thread(s), {} per thread",
                if rate == 0 {
                    "unpaced".to_string()
                } else {
                    format!("{}/s", si(rate as f64))
                }
            ),
            value: format!("{dropped} dropped"),
            note: format!(
                "{}/s reads per thread offered ({} reads), {recorded} events recorded",
                si(offered),
                si(reads)
            ),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// (events recorded, events dropped) from `pmuwatch record`'s closing line.
fn record_line(stderr: &str) -> (u64, u64) {
    let num_before = |line: &str, word: &str| -> Option<u64> {
        let i = line.find(word)?;
        line[..i].split_whitespace().last()?.parse().ok()
    };
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("recorded "))
        .unwrap_or("");
    let recorded = line
        .strip_prefix("recorded ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (recorded, num_before(line, " events dropped").unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_and_status_are_parsed() {
        let l = "recorded 1200 events in 2.0 s to /tmp/f (100 bytes, 0.1 bytes/event); stop: target exited (exit status: 0); 34 events dropped by the kernel (ring buffer full)";
        assert_eq!(record_line(l), (1200, 34));
        assert_eq!(record_line("recorded 5 events in 1.0 s to x"), (5, 0));
        assert_eq!(hwm("Name:\tx\nVmHWM:\t  12345 kB\n"), Some(12345));
    }
}
