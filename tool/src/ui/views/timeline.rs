//! Timeline: a per-CPU time strip (access on/off, toggles, traps per time bucket) over a
//! scrolling event log, newest first, with the `/` filter. Only the lines on screen are
//! formatted; the filter is matched on fields, so a frame stays cheap.

use ratatui::{buffer::Buffer, layout::Rect, style::Style};

use super::{Theme, put};
use crate::ui::{app::App, describe, history::Mark};

fn mark_style(m: Mark, t: Theme) -> Style {
    match m {
        Mark::Trap => t.bad(),
        Mark::Toggled => t.warn(),
        Mark::On => t.on(),
        Mark::Off | Mark::None => t.dim(),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let strips = &app.shown.strips;
    let ms = strips.bucket_ns / 1_000_000;
    put(
        buf,
        area,
        1,
        0,
        &format!("CPU strip ({ms} ms/column, newest right): # on  . off  | toggled  ! trap"),
        t.title(),
    );
    let ncpu = strips.cpus() as usize;
    let max_strip = (area.height as usize / 4).max(1);
    let shown_cpus = ncpu.min(max_strip);
    let cols = area.width.saturating_sub(9) as usize;
    let mut y = 1u16;
    if ncpu == 0 {
        put(buf, area, 1, y, "(no context switches seen yet)", t.dim());
        y += 1;
    }
    let mut line = String::new();
    for cpu in 0..shown_cpus as u32 {
        let x = put(buf, area, 1, y, &format!("cpu{cpu:<4}|"), Style::new());
        // Runs of one mark share a style: one set_string per run.
        let mut x = x;
        let mut run: Option<Mark> = None;
        let flush = |buf: &mut Buffer, x: u16, run: Option<Mark>, line: &mut String| -> u16 {
            let nx = match run {
                Some(m) => put(buf, area, x, y, line, mark_style(m, t)),
                None => x,
            };
            line.clear();
            nx
        };
        for m in strips.row(cpu, app.shown.at_ns, cols) {
            if run != Some(m) {
                x = flush(buf, x, run, &mut line);
                run = Some(m);
            }
            line.push(m.glyph());
        }
        flush(buf, x, run, &mut line);
        y += 1;
    }
    if ncpu > shown_cpus {
        put(
            buf,
            area,
            1,
            y,
            &format!("... {} more CPUs (see the CPUs view)", ncpu - shown_cpus),
            t.dim(),
        );
        y += 1;
    }

    let mut title = format!("Events, newest first ({} kept)", app.shown.recent.len());
    if !app.event_filter.is_empty() {
        title.push_str(&format!("  filter: {}", app.event_filter.text));
    }
    if app.timeline_scroll > 0 {
        title.push_str(&format!("  scrolled back {}", app.timeline_scroll));
    }
    put(buf, area, 1, y, &title, t.title());
    y += 1;
    let rows = area.height.saturating_sub(y) as usize;
    let t0 = app.counters.first_ns.unwrap_or(0);
    let mut any = false;
    for (n, e) in app
        .timeline_events()
        .skip(app.timeline_scroll)
        .take(rows)
        .enumerate()
    {
        any = true;
        line.clear();
        describe::line(e, t0, &mut line);
        let style = match e {
            common::Event::Trap(_) => t.bad(),
            common::Event::Lost(_) => t.alarm(),
            _ => Style::new(),
        };
        put(buf, area, 1, y + n as u16, &line, style);
    }
    if !any {
        let msg = if app.shown.recent.is_empty() {
            "no events yet"
        } else {
            "no event matches the filter (Esc clears it)"
        };
        put(buf, area, 1, y, msg, t.dim());
    }
}
