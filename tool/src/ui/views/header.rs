//! Two header lines: counts (the drop total early: never cut off); then the target and the
//! attach methods in use, so exact and modelled values are told apart. At 80 columns both
//! lines shorten by rules, not by cutting at the edge: the per-CPU drop detail goes first,
//! the methods are summed up (`14 exact | driver hooks ~model | 4 NONE`), a long target
//! loses its middle. `?` lists every method.

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

/// How an item of [`coverage_items`] is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Exact,
    Modelled,
    Missing,
}

fn kind(item: &str) -> Kind {
    if item.ends_with(" NONE") {
        Kind::Missing
    } else if item.contains(" ~") {
        Kind::Modelled
    } else {
        Kind::Exact
    }
}

/// The attach methods in at most `width` columns. Every item when they fit; else, step by
/// step: the exact ones counted (`15 exact`), the missing ones counted (`4 NONE`), the
/// modelled ones counted. What is modelled rather than exact stays visible at every step;
/// `?` lists every item.
pub fn probes_text(items: &[String], width: usize) -> String {
    if items.is_empty() {
        return "(none reported)".into();
    }
    let full = items.join(" | ");
    if full.chars().count() <= width {
        return full;
    }
    let of = |k: Kind| -> Vec<&str> {
        items
            .iter()
            .filter(|i| kind(i) == k)
            .map(String::as_str)
            .collect()
    };
    let (exact, modelled, missing) = (of(Kind::Exact), of(Kind::Modelled), of(Kind::Missing));
    let summed = |named_modelled: bool, named_missing: bool| {
        let mut parts = vec![format!("{} exact", exact.len())];
        if named_modelled {
            parts.extend(modelled.iter().map(|s| s.to_string()));
        } else if !modelled.is_empty() {
            parts.push(format!("{} ~modelled", modelled.len()));
        }
        if named_missing {
            parts.extend(missing.iter().map(|s| s.to_string()));
        } else if !missing.is_empty() {
            parts.push(format!("{} NONE", missing.len()));
        }
        parts.join(" | ")
    };
    // Naming the modelled signals matters more than naming the missing ones.
    [summed(true, true), summed(true, false)]
        .into_iter()
        .find(|s| s.chars().count() <= width)
        .unwrap_or_else(|| summed(false, false))
}

/// `s` in at most `width` columns, the middle replaced by `…` when cut: both ends of a path
/// or of `replay FILE (pid N)` stay readable.
pub fn shorten(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width <= 1 {
        return "…".chars().take(width).collect();
    }
    let keep = width - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// The first line: events and rate, drops, tasks, findings. The per-CPU drop detail goes
/// first when the line is too long; the drop total never does.
fn counts_line(app: &App, width: usize) -> Vec<(String, bool)> {
    let c = &app.counters;
    let snap = &app.shown.snap;
    let events = format!(
        "events {} ({}/s)",
        compact(c.events),
        compact(app.rates.events_per_s.round() as u64)
    );
    let rest = format!(
        "  tasks {}  findings {}",
        snap.tasks.len(),
        snap.findings.len()
    );
    if c.lost == 0 {
        return vec![(events, false), ("  lost 0".into(), false), (rest, false)];
    }
    // The CPUs that lost most (all of them are in the text summary).
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
    let total = format!("LOST {}", compact(c.lost));
    let detailed = format!("{total} ({})", per_cpu.join(" "));
    let fits = 1 + events.len() + 2 + detailed.chars().count() + rest.len() <= width;
    let lost = if fits { detailed } else { total };
    vec![
        (events, false),
        ("  ".into(), false),
        (lost, true),
        (rest, false),
    ]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let width = area.width as usize;
    let mut x = 1;
    for (i, (part, alarm)) in counts_line(app, width).into_iter().enumerate() {
        let style = match (i, alarm) {
            (_, true) => t.alarm(),
            (0, _) => t.title(),
            _ => Style::new(),
        };
        x = put(buf, area, x, 0, &part, style);
    }

    // Line 2: what is watched, then how. The attach methods get the room they need (down to
    // their shortest form); the target gets the rest, cut in the middle if it must.
    const LABEL: &str = "  probes: ";
    const MIN_TARGET: usize = 16;
    let room = width.saturating_sub(1 + LABEL.len());
    let target_len = app.source.target.chars().count();
    let probes = probes_text(
        &app.source.coverage,
        room.saturating_sub(target_len.min(MIN_TARGET)),
    );
    let target = shorten(
        &app.source.target,
        room.saturating_sub(probes.chars().count()).max(MIN_TARGET),
    );
    let x = put(buf, area, 1, 1, &target, t.title());
    let x = put(buf, area, x, 1, LABEL, t.dim());
    let style = if app.source.coverage.is_empty() {
        t.dim()
    } else {
        Style::new()
    };
    put(buf, area, x, 1, &probes, style);
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

    fn items(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn probes_shorten_step_by_step_and_keep_the_modelled_ones() {
        let v = items(&[
            "sched_switch tp_btf",
            "migrations tp_btf",
            "hook cr4_update_pce NONE",
            "hook perf_clear_dirty_counters NONE",
            "driver hooks ~model",
            "traps tp_btf",
        ]);
        let full = v.join(" | ");
        assert_eq!(probes_text(&v, 200), full);
        assert_eq!(
            probes_text(&v, 100),
            "3 exact | driver hooks ~model | hook cr4_update_pce NONE | hook perf_clear_dirty_counters NONE"
        );
        assert_eq!(
            probes_text(&v, 60),
            "3 exact | driver hooks ~model | 2 NONE"
        );
        assert_eq!(probes_text(&v, 30), "3 exact | 1 ~modelled | 2 NONE");
        // Narrower still: the shortest form, cut at the edge by the caller.
        assert_eq!(probes_text(&v, 5), "3 exact | 1 ~modelled | 2 NONE");
        assert_eq!(probes_text(&[], 5), "(none reported)");
        assert_eq!(
            probes_text(&items(&["a tp_btf", "b kprobe"]), 10),
            "2 exact"
        );
    }

    #[test]
    fn long_targets_lose_their_middle() {
        assert_eq!(shorten("abcdef", 6), "abcdef");
        assert_eq!(shorten("abcdefgh", 5), "ab…gh");
        assert_eq!(shorten("abcdefgh", 6), "abc…gh");
        assert_eq!(shorten("abc", 1), "…");
        assert_eq!(shorten("abc", 0), "");
    }
}
