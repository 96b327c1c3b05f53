//! Findings, newest first, two lines each (what happened; the fix). Enter opens the
//! evidence: the finding in full and the events around it.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::Style,
    widgets::{Block, Borders, Clear, Widget},
};

use super::{Theme, put, style_row};
use crate::ui::{
    app::App,
    describe,
    model::{FindingRow, Severity},
};

fn severity_style(s: Severity, t: Theme) -> Style {
    match s {
        Severity::Error => t.bad(),
        Severity::Warning => t.warn(),
        Severity::Info => Style::new(),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let findings = &app.shown.snap.findings;
    put(
        buf,
        area,
        1,
        0,
        &format!("Findings {} (newest first)", findings.len()),
        t.title(),
    );
    if findings.is_empty() {
        put(
            buf,
            area,
            1,
            2,
            "no findings yet: nothing has gone wrong with direct counter reads so far",
            t.dim(),
        );
        return;
    }
    let t0 = app.counters.first_ns.unwrap_or(0);
    let per_page = (area.height.saturating_sub(1) / 2).max(1) as usize;
    let view = app.findings.scrolled(per_page, findings.len());
    for (n, f) in findings
        .iter()
        .rev()
        .enumerate()
        .skip(view.offset)
        .take(per_page)
    {
        let y = 1 + 2 * (n - view.offset) as u16;
        let time = describe::secs(f.ts_ns, t0);
        let mut x = put(
            buf,
            area,
            2,
            y,
            &format!("{:>8}s ", &time[..time.len() - 3]),
            t.dim(),
        );
        x = put(
            buf,
            area,
            x,
            y,
            &format!("{:<5} ", f.severity.tag()),
            severity_style(f.severity, t),
        );
        x = put(buf, area, x, y, &format!("{} ", f.rule), t.title());
        put(buf, area, x, y, &f.text, Style::new());
        put(
            buf,
            area,
            12,
            y + 1,
            &format!("fix: {}", f.remedy),
            Style::new(),
        );
        if n == view.selected {
            put(buf, area, 0, y, ">", Style::new());
            style_row(buf, area, y, t.selected());
            style_row(buf, area, y + 1, t.selected());
        }
    }
}

/// Wraps `text` to `width` columns at spaces (long words are cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

/// The evidence overlay's lines for a finding.
fn evidence_lines(f: &FindingRow, site: Option<&str>, t0: u64, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let list = |v: &[u32]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut head = format!("{} {}  seen {} times", f.severity.tag(), f.rule, f.count);
    if !f.tasks.is_empty() {
        head.push_str(&format!("  threads {}", list(&f.tasks)));
    }
    if !f.cpus.is_empty() {
        head.push_str(&format!("  cpus {}", list(&f.cpus)));
    }
    lines.push(head);
    lines.extend(wrap(&f.text, width));
    lines.extend(wrap(&format!("fix: {}", f.remedy), width));
    if let Some(site) = site {
        lines.extend(wrap(&format!("at: {site}"), width));
    }
    lines.push(String::new());
    lines.push(format!(
        "evidence: {} events, oldest first",
        f.evidence.len()
    ));
    for e in &f.evidence {
        lines.push(describe::row_line(
            e.ts_ns, t0, e.cpu, e.pid, e.tid, &e.kind, &e.text,
        ));
    }
    lines
}

pub fn render_evidence(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let Some(f) = app.evidence.and_then(|i| app.shown.snap.findings.get(i)) else {
        return;
    };
    Clear.render(area, buf);
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" Evidence (Esc closes, Up/Down scroll) ");
    let inner = block.inner(area);
    block.render(area, buf);
    let lines = evidence_lines(
        f,
        app.source.site(f.site),
        app.counters.first_ns.unwrap_or(0),
        inner.width as usize,
    );
    let scroll = app
        .evidence_scroll
        .min(lines.len().saturating_sub(inner.height as usize));
    for (y, l) in lines
        .iter()
        .skip(scroll)
        .take(inner.height as usize)
        .enumerate()
    {
        let style = if y + scroll == 0 {
            t.title()
        } else {
            Style::new()
        };
        put(buf, inner, 0, y as u16, l, style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_and_width() {
        let w = wrap(
            "pin the thread to CPUs 0-1, or open one event per PMU type",
            20,
        );
        assert!(w.iter().all(|l| l.chars().count() <= 20), "{w:?}");
        assert_eq!(
            w.join(" "),
            "pin the thread to CPUs 0-1, or open one event per PMU type"
        );
        assert!(wrap("", 10).is_empty());
    }
}
