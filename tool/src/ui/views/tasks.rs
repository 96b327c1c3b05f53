//! Tasks: one row per thread holding user-readable events: its events, CPU, reads by
//! outcome, migrations, toggles. Sorted and filtered in `App::reorder`; only the visible rows
//! are formatted here.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Modifier, Style},
};

use super::{Theme, compact, put, style_row};
use crate::ui::{
    app::{App, SortKey},
    model::{TaskRow, UserEvent},
};

/// A column: heading, width, right-aligned, the sort key it shows.
struct Col {
    head: &'static str,
    width: usize,
    right: bool,
    key: Option<SortKey>,
}

const fn col(head: &'static str, width: usize, right: bool, key: Option<SortKey>) -> Col {
    Col {
        head,
        width,
        right,
        key,
    }
}

/// Columns at 80 columns; wider terminals also get PID and wider name and event columns.
fn columns(width: u16) -> Vec<Col> {
    let wide = width >= 100;
    let mut v = Vec::new();
    if wide {
        v.push(col("PID", 7, true, None));
    }
    v.extend([
        col("TID", 7, true, Some(SortKey::Tid)),
        col(
            "COMM",
            if wide { 16 } else { 10 },
            false,
            Some(SortKey::Name),
        ),
        col("CPU", 3, true, Some(SortKey::Cpu)),
        col("EVENTS", if wide { 14 } else { 9 }, false, None),
        col("OK", 6, true, Some(SortKey::Reads)),
        col("RETRY", 5, true, None),
        col("FALLBK", 6, true, Some(SortKey::Fallbacks)),
        col("TRAP", 5, true, Some(SortKey::Traps)),
        col("WRONG", 5, true, Some(SortKey::WrongPmu)),
        col("MIGR", 5, true, Some(SortKey::Migrations)),
        col("TOGL", 5, true, Some(SortKey::Toggles)),
    ]);
    v
}

/// `a53#3`: the PMU's short name and the counter; `-off` when disabled.
fn event_label(e: &UserEvent) -> String {
    let short = match e.pmu.as_str() {
        "software" => "sw",
        "hardware" => "hw",
        "tracepoint" => "tp",
        p => p.rsplit('_').next().unwrap_or(p),
    };
    let mut s = short.to_string();
    if let Some(c) = e.counter {
        s.push_str(&format!("#{c}"));
    }
    if !e.enabled {
        s.push_str("-off");
    }
    s
}

fn events_cell(t: &TaskRow) -> String {
    match t.events.split_first() {
        None => "-".into(),
        Some((first, [])) => event_label(first),
        Some((first, rest)) => format!("{} +{}", event_label(first), rest.len()),
    }
}

fn cells(t: &TaskRow, wide: bool) -> Vec<String> {
    let mut v = Vec::with_capacity(12);
    if wide {
        v.push(t.pid.to_string());
    }
    let r = &t.reads;
    v.extend([
        t.tid.to_string(),
        t.comm.clone(),
        t.cpu.map_or("-".into(), |c| c.to_string()),
        events_cell(t),
        compact(r.ok),
        compact(r.seq_retry),
        compact(r.index0_fallback),
        compact(r.trap),
        compact(r.silent_wrong_pmu),
        compact(t.migrations),
        compact(t.toggles),
    ]);
    v
}

fn fit(s: &str, width: usize, right: bool) -> String {
    let s: String = s.chars().take(width).collect();
    if right {
        format!("{s:>width$}")
    } else {
        format!("{s:<width$}")
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let order = &app.shown.order;
    let tasks = &app.shown.snap.tasks;
    let mut title = format!(
        "Tasks {} of {}  sort: {} {}",
        order.len(),
        tasks.len(),
        app.sort.name(),
        if app.sort_desc { "(desc)" } else { "(asc)" }
    );
    if !app.task_filter.is_empty() {
        title.push_str(&format!("  filter: {}", app.task_filter.text));
    }
    put(buf, area, 1, 0, &title, t.title());

    let cols = columns(area.width);
    let wide = area.width >= 100;
    let mut x = 2u16;
    for c in &cols {
        let mut style = t.title();
        if c.key == Some(app.sort) {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        put(buf, area, x, 1, &fit(c.head, c.width, c.right), style);
        x += c.width as u16 + 1;
    }
    if order.is_empty() {
        let msg = if tasks.is_empty() {
            "no tasks with user-readable events yet"
        } else {
            "no task matches the filter (Esc clears it)"
        };
        put(buf, area, 2, 3, msg, t.dim());
        return;
    }
    let rows = area.height.saturating_sub(2) as usize;
    let view = app.tasks.scrolled(rows, order.len());
    for (n, &i) in order.iter().enumerate().skip(view.offset).take(rows) {
        let y = (n - view.offset) as u16 + 2;
        let task = &tasks[i];
        let mut x = 2u16;
        for (c, text) in cols.iter().zip(cells(task, wide)) {
            let bad = matches!(c.head, "TRAP" | "WRONG") && text != "0";
            let style = if bad { t.bad() } else { Style::new() };
            put(buf, area, x, y, &fit(&text, c.width, c.right), style);
            x += c.width as u16 + 1;
        }
        if !task.alive {
            put(buf, area, 1, y, "x", t.dim());
        }
        if n == view.selected {
            put(buf, area, 0, y, ">", Style::new());
            style_row(buf, area, y, t.selected());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_eighty() {
        let w: usize = columns(80).iter().map(|c| c.width + 1).sum();
        assert!(w + 2 <= 80, "{w}");
        let w: usize = columns(100).iter().map(|c| c.width + 1).sum();
        assert!(w + 2 <= 100, "{w}");
    }

    #[test]
    fn events_show_pmu_counter_and_state() {
        let mut t = TaskRow::default();
        assert_eq!(events_cell(&t), "-");
        t.events.push(UserEvent {
            pmu: "armv8_cortex_a53".into(),
            counter: Some(3),
            enabled: true,
        });
        assert_eq!(events_cell(&t), "a53#3");
        t.events.push(UserEvent {
            pmu: "software".into(),
            counter: None,
            enabled: false,
        });
        assert_eq!(events_cell(&t), "a53#3 +1");
    }
}
