//! Two header lines: counts (drops early: never cut off) and the replay position; then the
//! target and the attach methods in use, so exact and modelled values are told apart.

use ratatui::{buffer::Buffer, layout::Rect, style::Style};

use super::{Theme, compact, put};
use crate::{
    probe::coverage::{Coverage, Method},
    ui::app::App,
};

/// One short item per signal for the header: `sched_switch tp_btf`, `driver hooks ~model`
/// (`~`: modelled in user space, not an exact kernel hook), `traps NONE`.
pub fn coverage_items(c: &Coverage) -> Vec<String> {
    let mut signals: Vec<&str> = Vec::new();
    for a in &c.attachments {
        if !signals.contains(&a.signal.as_str()) {
            signals.push(&a.signal);
        }
    }
    signals
        .into_iter()
        .map(|s| match c.in_use(s) {
            Some(a) if matches!(a.method, Method::Model | Method::Sampling) => {
                format!("{s} ~{}", a.method)
            }
            Some(a) => format!("{s} {}", a.method),
            None => format!("{s} NONE"),
        })
        .collect()
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let c = &app.counters;
    let mut x = put(buf, area, 1, 0, "events ", t.dim());
    x = put(buf, area, x, 0, &compact(c.events), t.title());
    x = put(
        buf,
        area,
        x,
        0,
        &format!(" ({}/s)  ", compact(app.rates.events_per_s.round() as u64)),
        Style::new(),
    );
    if c.lost == 0 {
        x = put(buf, area, x, 0, "lost 0", Style::new());
    } else {
        // The total, and the CPUs that lost most (all of them are in the text summary).
        let mut worst: Vec<(u32, u64)> = c.lost_by_cpu.iter().map(|(c, n)| (*c, *n)).collect();
        worst.sort_by_key(|&(cpu, n)| (std::cmp::Reverse(n), cpu));
        let mut per_cpu: Vec<String> = worst
            .iter()
            .take(2)
            .map(|(cpu, n)| format!("cpu{cpu}:{}", compact(*n)))
            .collect();
        if worst.len() > 2 {
            per_cpu.push(format!("+{} cpus", worst.len() - 2));
        }
        let s = format!("LOST {} ({})", compact(c.lost), per_cpu.join(" "));
        x = put(buf, area, x, 0, &s, t.alarm());
    }
    let snap = &app.shown.snap;
    x = put(
        buf,
        area,
        x,
        0,
        &format!(
            "  tasks {}  findings {}  ",
            snap.tasks.len(),
            snap.findings.len()
        ),
        Style::new(),
    );
    let _ = x;

    // Line 2: what is watched, then how (cut at the right edge; `?` lists it all).
    let x = put(buf, area, 1, 1, &app.source.target, t.title());
    let x = put(buf, area, x, 1, "  probes: ", t.dim());
    if app.source.coverage.is_empty() {
        put(buf, area, x, 1, "(none reported)", t.dim());
    } else {
        put(
            buf,
            area,
            x,
            1,
            &app.source.coverage.join(" | "),
            Style::new(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::coverage::Status;

    #[test]
    fn coverage_marks_modelled_and_missing_signals() {
        let mut c = Coverage::default();
        c.push(
            "driver hooks",
            "cr4_update_pce",
            Method::Fentry,
            Status::Refused("EPERM".into()),
        );
        c.push("driver hooks", "-", Method::Model, Status::Active);
        c.push(
            "sched_switch",
            "sched_switch",
            Method::TpBtf,
            Status::Active,
        );
        c.push(
            "traps",
            "signal_generate",
            Method::Tracepoint,
            Status::Unavailable("x".into()),
        );
        assert_eq!(
            coverage_items(&c),
            vec!["driver hooks ~model", "sched_switch tp_btf", "traps NONE"]
        );
    }
}
