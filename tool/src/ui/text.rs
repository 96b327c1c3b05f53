//! `--no-tui`: plain lines for scripts and CI logs. A status line every few seconds of
//! session time, each new finding as it appears, and a summary at the end. The numbers are
//! the live view's (same snapshot).

use std::io::Write;

use super::{app::App, describe::secs, model::ReadCounts, views::compact};

pub struct TextOut {
    out: Box<dyn Write + Send>,
    /// Session time between status lines.
    every_ns: u64,
    last_ns: Option<u64>,
    start_ns: Option<u64>,
    findings_printed: usize,
}

fn reads_text(r: &ReadCounts) -> String {
    format!(
        "reads ok {} seq-retry {} index0-fallback {} trap {} silent-wrong-pmu {}",
        r.ok, r.seq_retry, r.index0_fallback, r.trap, r.silent_wrong_pmu
    )
}

impl TextOut {
    pub fn new(out: Box<dyn Write + Send>, every_s: f64) -> TextOut {
        TextOut {
            out,
            every_ns: (every_s.max(0.1) * 1e9) as u64,
            last_ns: None,
            start_ns: None,
            findings_printed: 0,
        }
    }

    fn elapsed(&self, app: &App) -> String {
        let s = secs(app.clock_ns, self.start_ns.unwrap_or(app.clock_ns));
        format!("{:>8}s", &s[..s.len() - 3])
    }

    fn status_line(&self, app: &App) -> String {
        let c = &app.counters;
        let snap = &app.shown.snap;
        let tot = &snap.totals;
        format!(
            "[{}] events {} ({}/s) lost {} | tasks {} | {} | migrations {} toggles {} | findings {}",
            self.elapsed(app),
            c.events,
            compact(app.rates.events_per_s.round() as u64),
            c.lost,
            snap.tasks.len(),
            reads_text(&tot.reads),
            tot.migrations,
            tot.toggles,
            snap.findings.len()
        )
    }

    fn new_findings(&mut self, app: &App) -> std::io::Result<()> {
        let findings = &app.shown.snap.findings;
        // A replay seek back restarts the list.
        if findings.len() < self.findings_printed {
            self.findings_printed = 0;
        }
        for f in &findings[self.findings_printed..] {
            writeln!(
                self.out,
                "[{}] finding {} {}: {}; fix: {}",
                self.elapsed(app),
                f.severity.tag(),
                f.rule,
                f.text,
                f.remedy
            )?;
        }
        self.findings_printed = findings.len();
        Ok(())
    }

    /// A status line is due at session time `now_ns`.
    pub fn due(&self, now_ns: u64) -> bool {
        self.last_ns
            .is_none_or(|l| now_ns.saturating_sub(l) >= self.every_ns)
    }

    /// Called on each frame: prints what is due.
    pub fn frame(&mut self, app: &App) -> anyhow::Result<()> {
        if self.start_ns.is_none() {
            self.start_ns = Some(app.clock_ns);
            writeln!(
                self.out,
                "pmuwatch: watching {}; probes: {}",
                app.source.target,
                if app.source.coverage.is_empty() {
                    "(none reported)".to_string()
                } else {
                    app.source.coverage.join(", ")
                }
            )?;
        }
        self.new_findings(app)?;
        if self.due(app.clock_ns) {
            self.last_ns = Some(app.clock_ns);
            let line = self.status_line(app);
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// The closing summary: totals, drops, per-task and per-CPU tables, every finding.
    pub fn summary(&mut self, app: &App) -> anyhow::Result<()> {
        self.new_findings(app)?;
        let o = &mut self.out;
        let c = &app.counters;
        let snap = &app.shown.snap;
        writeln!(o, "summary: {}", app.source.target)?;
        writeln!(o, "  events {} in {} batches", c.events, c.batches)?;
        if c.lost == 0 {
            writeln!(o, "  lost 0")?;
        } else {
            let per: Vec<String> = c
                .lost_by_cpu
                .iter()
                .map(|(cpu, n)| format!("cpu{cpu} {n}"))
                .collect();
            writeln!(o, "  LOST {} ({})", c.lost, per.join(", "))?;
        }
        for l in &app.source.coverage {
            writeln!(o, "  probe {l}")?;
        }
        let tot = &snap.totals;
        writeln!(o, "  {}", reads_text(&tot.reads))?;
        writeln!(
            o,
            "  traps {} fallback-reads {} migrations {} toggles {} perf-opens {} ioctls {}",
            tot.traps, tot.fallback_reads, tot.migrations, tot.toggles, tot.perf_opens, tot.ioctls
        )?;
        writeln!(
            o,
            "tasks: {:>7} {:>7} {:<16} {:>8} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}",
            "pid", "tid", "comm", "ok", "seq-retry", "fallback", "trap", "wrong", "migr", "togl"
        )?;
        // Worst first, at most 50 rows: the log stays readable with thousands of threads.
        // `top` lists the tasks holding user-readable events or reading, as its view does.
        let mut order: Vec<usize> = (0..snap.tasks.len())
            .filter(|&i| {
                let t = &snap.tasks[i];
                !app.holders_only || !t.events.is_empty() || t.reads.total() > 0
            })
            .collect();
        order.sort_by_key(|&i| {
            let t = &snap.tasks[i];
            (std::cmp::Reverse(t.reads.bad()), t.tid)
        });
        for &i in order.iter().take(50) {
            let t = &snap.tasks[i];
            let r = &t.reads;
            writeln!(
                o,
                "       {:>7} {:>7} {:<16} {:>8} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}",
                t.pid,
                t.tid,
                t.comm,
                r.ok,
                r.seq_retry,
                r.index0_fallback,
                r.trap,
                r.silent_wrong_pmu,
                t.migrations,
                t.toggles
            )?;
        }
        if order.len() > 50 {
            writeln!(o, "       ... {} more tasks", order.len() - 50)?;
        }
        if order.len() < snap.tasks.len() {
            writeln!(
                o,
                "       ({} other tasks seen: no user-readable event, no direct read)",
                snap.tasks.len() - order.len()
            )?;
        }
        writeln!(
            o,
            "cpus:  {:>5} {:<20} {:>6} {:>9} {:>6} {:>7}",
            "cpu", "pmu", "access", "toggles", "traps", "aborts"
        )?;
        for cpu in &snap.cpus {
            let access = match cpu.access {
                common::Access::On => "ON",
                common::Access::Off => "off",
                common::Access::Unknown => "?",
            };
            writeln!(
                o,
                "       {:>5} {:<20} {:>6} {:>9} {:>6} {:>7}",
                cpu.cpu,
                cpu.pmu.as_deref().unwrap_or("-"),
                access,
                cpu.toggles,
                cpu.traps,
                cpu.aborts
            )?;
        }
        writeln!(o, "findings: {}", snap.findings.len())?;
        for f in &snap.findings {
            writeln!(o, "  {} {}: {}", f.severity.tag(), f.rule, f.text)?;
            writeln!(o, "      fix: {}", f.remedy)?;
            if let Some(site) = app.source.site(f.site) {
                writeln!(o, "      at: {site}")?;
            }
        }
        if let Some(n) = &app.notice {
            writeln!(o, "note: {n}")?;
        }
        o.flush()?;
        Ok(())
    }
}
