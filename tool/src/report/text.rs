//! The text report: what a person reads in a bug report, most important first.

use std::fmt::Write;

use serde_json::Value;

use super::Report;
use crate::{
    engine::{Counts, Severity, TaskRow, TaskSort, UserAccess},
    probe::coverage::Coverage,
    sites::Site,
};

/// Task rows shown in text; `--json` has them all.
const MAX_TASK_ROWS: usize = 40;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    // Read once from the trace's JSON: findings name their sites from it too.
    let site_table = r.site_table();
    header(&mut o, r);
    findings(&mut o, r, &site_table);
    sites(&mut o, &site_table);
    counts(&mut o, r);
    drops(&mut o, r);
    notes(&mut o, r);
    tasks(&mut o, r);
    cpus(&mut o, r);
    coverage(&mut o, r);
    o
}

fn header(o: &mut String, r: &Report) {
    let s = &r.summary;
    let m = &r.meta;
    let _ = writeln!(o, "pmuwatch report: {}", r.path);
    let machine = match (m.facts.get("kernel"), m.facts.get("arch")) {
        (Some(Value::String(k)), Some(Value::String(a))) => format!("Linux {k} {a}"),
        _ => "unknown machine".to_string(),
    };
    let ncpus = m.facts.get("cpus").and_then(Value::as_array).map(Vec::len);
    let _ = write!(
        o,
        "  recorded {} by pmuwatch {} on {machine}",
        utc(m.start_unix_ns),
        m.tool_version
    );
    if let Some(n) = ncpus {
        let _ = write!(o, " ({n} CPUs)");
    }
    o.push('\n');
    let target = if m.target.system_wide {
        "system-wide".to_string()
    } else if let Some(pid) = m.target.pid {
        format!("pid {pid}")
    } else if !m.target.command.is_empty() {
        m.target.command.join(" ")
    } else {
        "unknown".to_string()
    };
    let span = s.last_ts_ns.saturating_sub(s.first_ts_ns) as f64 / 1e9;
    let stop = r
        .trailer
        .as_ref()
        .map_or("did not finish (no trailer)", |t| t.stop_reason.as_str());
    let _ = writeln!(o, "  target: {target}; {span:.2} s of events; stop: {stop}");
    let f = &r.file;
    let _ = writeln!(
        o,
        "  file: {} events in {} blocks, {} bytes; {}",
        f.events,
        f.blocks,
        f.file_bytes,
        f.damage.describe()
    );
    if let Some(n) = &r.facts_note {
        let _ = writeln!(o, "  note: {n}: reads are judged without PMU facts");
    }
}

fn findings(o: &mut String, r: &Report, sites: &[Site]) {
    let fs = &r.summary.findings;
    let _ = writeln!(o, "\nFindings ({}):", fs.len());
    if fs.is_empty() {
        let _ = writeln!(o, "  none");
        return;
    }
    // Most severe first, then most frequent; the engine's order (newest first) breaks ties.
    let mut fs: Vec<_> = fs.iter().collect();
    let rank = |s: Severity| match s {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    };
    fs.sort_by(|a, b| {
        rank(a.severity)
            .cmp(&rank(b.severity))
            .then(b.count.cmp(&a.count))
    });
    for f in fs {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = writeln!(o, "  [{sev}] {} (x{})", f.text, f.count);
        let _ = writeln!(o, "      fix: {}", f.remedy);
        if let Some(site) = f.site.and_then(|id| sites.iter().find(|s| s.id == id)) {
            let _ = writeln!(o, "      at: {}", site.describe());
        }
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        match (f.tasks.is_empty(), f.cpus.is_empty()) {
            (false, false) => {
                let _ = writeln!(
                    o,
                    "      threads {} on CPUs {}",
                    list(&f.tasks),
                    list(&f.cpus)
                );
            }
            (false, true) => {
                let _ = writeln!(o, "      threads {}", list(&f.tasks));
            }
            (true, false) => {
                let _ = writeln!(o, "      CPUs {}", list(&f.cpus));
            }
            (true, true) => {}
        }
    }
}

/// Read sites shown in text; `--json` has them all.
const MAX_SITE_ROWS: usize = 20;

/// The target's direct-read instructions: where a person goes to change the code.
fn sites(o: &mut String, sites: &[Site]) {
    let _ = writeln!(o, "\nRead sites ({}):", sites.len());
    if sites.is_empty() {
        let _ = writeln!(o, "  none found (no read-site uprobes, or no direct reads)");
        return;
    }
    for s in sites.iter().take(MAX_SITE_ROWS) {
        let _ = writeln!(o, "  #{} {}", s.id, s.describe());
    }
    if sites.len() > MAX_SITE_ROWS {
        let _ = writeln!(
            o,
            "  ... {} more (report --json has every site)",
            sites.len() - MAX_SITE_ROWS
        );
    }
}

fn counts(o: &mut String, r: &Report) {
    let s = &r.summary;
    let c = &s.totals.counts;
    let _ = writeln!(o, "\nCounts ({} records):", s.totals.records);
    let rd = &c.reads;
    let _ = writeln!(
        o,
        "  reads: ok {}, seq-retry {}, index0-fallback {}, trap {}, silent-wrong-pmu {}, pending {}",
        rd.ok, rd.seq_retry, rd.index0_fallback, rd.trap, rd.silent_wrong_pmu, rd.pending
    );
    let _ = writeln!(
        o,
        "  traps {} (other signals {}), fallback reads {}, direct reads {}, migrations {}, toggles {}",
        c.traps, c.other_signals, c.fallback_reads, c.direct_reads, c.migrations, c.toggles
    );
    let _ = writeln!(
        o,
        "  perf_event_open {} (failed {}), ioctls {}, mmaps {}, munmaps {}, closes {}",
        c.perf_opens, c.perf_open_failed, c.ioctls, c.mmaps, c.munmaps, c.closes
    );
    let kinds: Vec<String> = s
        .records
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(o, "  by kind: {}", kinds.join(", "));
}

fn drops(o: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(o, "\nDrops:");
    if s.totals.lost == 0 {
        let _ = writeln!(o, "  kernel: none lost");
    } else {
        let per: Vec<String> = s
            .lost_per_cpu
            .iter()
            .map(|(cpu, n)| format!("CPU {cpu}: {n}"))
            .collect();
        let _ = writeln!(
            o,
            "  kernel: {} records lost (ring buffer full; counts are lower bounds): {}",
            s.totals.lost,
            per.join(", ")
        );
    }
    if let Some(src) = r.trailer.as_ref().and_then(|t| t.extra.get("source"))
        && src["undecodable"].as_u64().unwrap_or(0) > 0
    {
        let _ = writeln!(
            o,
            "  recorder: {} undecodable records skipped",
            src["undecodable"]
        );
    }
    let d = &s.dropped;
    let engine = d.untracked_task_records + d.findings + d.perf_events + d.bad_cpu_records;
    if engine > 0 || d.folded_tasks > 0 {
        let _ = writeln!(
            o,
            "  engine bounds: {} records of untracked tasks, {} tasks folded, {} findings, {} perf events, {} records with bad CPU",
            d.untracked_task_records, d.folded_tasks, d.findings, d.perf_events, d.bad_cpu_records
        );
    }
    let _ = writeln!(o, "  file: {}", r.file.damage.describe());
}

fn notes(o: &mut String, r: &Report) {
    let notes = r.notes();
    if notes.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nNotes from the recorder:");
    for n in notes {
        let _ = writeln!(o, "  {n}");
    }
}

fn tasks(o: &mut String, r: &Report) {
    let mut rows: Vec<TaskRow> = r.summary.tasks.clone();
    TaskSort::Reads.sort(&mut rows);
    let _ = writeln!(o, "\nTasks ({}):", rows.len());
    if rows.is_empty() {
        let _ = writeln!(o, "  none");
        return;
    }
    let _ = writeln!(
        o,
        "  {:>7} {:>7} {:<16} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  CPUS",
        "TID", "PID", "COMM", "READS", "OK", "TRAP", "FALLBK", "SILENT", "MIGR", "TOGGLE"
    );
    for t in rows.iter().take(MAX_TASK_ROWS) {
        let c: &Counts = &t.counts;
        let cpus: Vec<String> = t.cpus.iter().map(u32::to_string).collect();
        let _ = writeln!(
            o,
            "  {:>7} {:>7} {:<16} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  {}{}",
            t.tid,
            t.pid,
            t.comm,
            c.reads.total(),
            c.reads.ok,
            c.reads.trap,
            c.reads.index0_fallback,
            c.reads.silent_wrong_pmu,
            c.migrations,
            c.toggles,
            cpus.join(","),
            if t.exited { " (exited)" } else { "" }
        );
    }
    if rows.len() > MAX_TASK_ROWS {
        let _ = writeln!(
            o,
            "  ... {} more (report --json has every task)",
            rows.len() - MAX_TASK_ROWS
        );
    }
    let e = &r.summary.exited;
    if e.reads.total() + e.traps + e.migrations > 0 {
        let _ = writeln!(
            o,
            "  folded exited tasks: reads {}, traps {}, migrations {}",
            e.reads.total(),
            e.traps,
            e.migrations
        );
    }
}

fn cpus(o: &mut String, r: &Report) {
    let lanes = &r.summary.cpus;
    let _ = writeln!(o, "\nCPUs ({}):", lanes.len());
    if lanes.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "  {:>4} {:<32} {:<8} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6}",
        "CPU", "PMU", "ACCESS", "TOGGLES", "PEAK/s", "TRAPS", "FALLBK", "SILENT", "LOST"
    );
    for l in lanes {
        let access = match l.access {
            UserAccess::On => "on",
            UserAccess::Off => "off",
            UserAccess::Unknown => "unknown",
        };
        let pmu = match (&l.pmu, &l.model) {
            (Some(p), Some(m)) if !m.is_empty() => format!("{p} ({m})"),
            (Some(p), _) => p.clone(),
            (None, _) => "-".to_string(),
        };
        let _ = writeln!(
            o,
            "  {:>4} {:<32} {:<8} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6}",
            l.cpu,
            pmu,
            format!("{access}{}", if l.hooked { "*" } else { "" }),
            l.toggles,
            l.peak_toggles_per_s,
            l.traps,
            l.fallbacks,
            l.silent,
            l.lost
        );
    }
    if lanes.iter().any(|l| l.hooked) {
        let _ = writeln!(
            o,
            "  * access from a PMU driver hook (exact); else the switch model"
        );
    }
}

fn coverage(o: &mut String, r: &Report) {
    let _ = writeln!(o, "\nCoverage:");
    match serde_json::from_value::<Coverage>(r.coverage().clone()) {
        Ok(c) if !c.attachments.is_empty() => {
            for line in c.summary_lines() {
                let _ = writeln!(o, "  {line}");
            }
        }
        _ => {
            let _ = writeln!(o, "  not recorded in this trace");
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix nanoseconds (no time zone database needed).
pub fn utc(unix_ns: u64) -> String {
    if unix_ns == 0 {
        return "at an unknown time".to_string();
    }
    let secs = unix_ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(1), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            super::utc(1_795_652_652_000_000_000),
            "2026-11-26 00:24:12 UTC"
        );
        assert_eq!(
            super::utc(951_782_400_000_000_000),
            "2000-02-29 00:00:00 UTC"
        );
    }
}
