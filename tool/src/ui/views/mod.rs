//! Drawing: `impl Widget for &App`. Reads state, never changes it; formats only the rows that
//! are visible, so a frame costs the same with 10 or 10,000 tasks behind it.
//!
//! Meaning never rests on colour alone: access is spelled `ON`/`off`, the selection is
//! reversed and marked `>`, severities are words, strip cells are distinct glyphs.

mod cpus;
mod findings;
mod header;
mod help;
mod tasks;
mod timeline;

pub use header::coverage_items;

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Color, Modifier, Style},
    widgets::Widget,
};

use super::app::{App, View};

/// Smallest size laid out normally; below it one line says so.
pub const MIN_SIZE: (u16, u16) = (40, 10);

/// Styles, with colour only as an extra (off for `NO_COLOR`).
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new()
        }
    }
    pub fn on(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn alarm(self) -> Style {
        self.bad().add_modifier(Modifier::REVERSED)
    }
}

/// Writes `text` at row `y`, column `x` of `area`, clipped to the area; returns the column
/// after it.
pub fn put(buf: &mut Buffer, area: Rect, x: u16, y: u16, text: &str, style: Style) -> u16 {
    if y >= area.height || x >= area.width {
        return x;
    }
    let (end, _) = buf.set_stringn(
        area.x + x,
        area.y + y,
        text,
        (area.width - x) as usize,
        style,
    );
    end - area.x
}

/// Sets a style on a whole row of `area`.
pub fn style_row(buf: &mut Buffer, area: Rect, y: u16, style: Style) {
    if y < area.height {
        buf.set_style(Rect::new(area.x, area.y + y, area.width, 1), style);
    }
}

/// `1234` -> `1234`, `12345` -> `12.3k`, `1234567` -> `1.2M`.
pub fn compact(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// Eight-level bars, scaled to the largest value shown.
pub fn sparkline(values: impl Iterator<Item = u64> + Clone, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let n = values.clone().count();
    let skip = n.saturating_sub(width);
    let max = values.clone().skip(skip).max().unwrap_or(0);
    let mut s: String = std::iter::repeat_n(' ', width.saturating_sub(n - skip)).collect();
    for v in values.skip(skip) {
        s.push(if v == 0 || max == 0 {
            ' '
        } else {
            BARS[(v as u128 * 7 / max as u128).min(7) as usize]
        });
    }
    s
}

/// The tab line's labels and where each starts: shared by drawing and mouse clicks.
fn tabs() -> impl Iterator<Item = (u16, View, String)> {
    let mut x = 11u16; // after " pmuwatch  "
    View::ALL.into_iter().enumerate().map(move |(i, v)| {
        let label = format!(" {} {} ", i + 1, v.title());
        let at = x;
        x += label.len() as u16 + 1;
        (at, v, label)
    })
}

/// The view whose tab is at column `x` of the first line.
pub fn tab_at(x: u16) -> Option<View> {
    tabs()
        .find(|(at, _, l)| x >= *at && x < at + l.len() as u16)
        .map(|(_, v, _)| v)
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = Theme { color: self.color };
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            put(
                buf,
                area,
                0,
                0,
                &format!(
                    "pmuwatch needs {}x{} (have {}x{}); q quits",
                    MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
                ),
                t.title(),
            );
            return;
        }
        // Tabs, header, coverage, body, [notice], footer.
        let notice = self.notice.is_some() as u16;
        let row = |y: u16, h: u16| Rect::new(area.x, area.y + y, area.width, h);
        let body_h = area.height - 4 - notice;
        self.render_tabs(row(0, 1), buf, t);
        header::render(self, row(1, 2), buf, t);
        let body = row(3, body_h);
        match self.view {
            View::Cpus => cpus::render(self, body, buf, t),
            View::Tasks => tasks::render(self, body, buf, t),
            View::Findings => findings::render(self, body, buf, t),
            View::Timeline => timeline::render(self, body, buf, t),
        }
        if let Some(n) = &self.notice {
            put(buf, row(3 + body_h, 1), 0, 0, n, t.warn());
        }
        self.render_footer(row(area.height - 1, 1), buf, t);
        if self.evidence.is_some() && self.view == View::Findings {
            findings::render_evidence(self, body, buf, t);
        }
        if self.help {
            help::render(self, body, buf, t);
        }
    }
}

impl App {
    fn render_tabs(&self, area: Rect, buf: &mut Buffer, t: Theme) {
        put(buf, area, 1, 0, "pmuwatch", t.title());
        for (x, v, label) in tabs() {
            let style = if v == self.view {
                t.selected().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            put(buf, area, x, 0, &label, style);
        }
        let state = match &self.replay {
            Some(r) => {
                let word = if r.done {
                    "END"
                } else if r.playing {
                    "PLAYING"
                } else {
                    "PAUSED"
                };
                let tenths = |ns: u64| format!("{:.1}", ns.saturating_sub(r.start_ns) as f64 / 1e9);
                let end = r
                    .end_ns
                    .map(|e| format!("/{}", tenths(e)))
                    .unwrap_or_default();
                let speed = if r.speed >= 1.0 {
                    format!("x{:.0}", r.speed)
                } else {
                    format!("x1/{:.0}", 1.0 / r.speed)
                };
                format!("{word} {}{end}s {speed}", tenths(r.pos_ns))
            }
            None if self.paused => "PAUSED (still counting)".to_string(),
            None => String::new(),
        };
        if !state.is_empty() {
            let x = area.width.saturating_sub(state.len() as u16 + 1);
            put(buf, area, x, 0, &state, t.alarm());
        }
    }

    fn render_footer(&self, area: Rect, buf: &mut Buffer, t: Theme) {
        if let Some(f) = &self.filter_edit {
            let x = put(buf, area, 0, 0, "/", t.title());
            let x = put(buf, area, x, 0, &f.text, Style::new());
            let x = put(buf, area, x, 0, "_", t.selected());
            put(buf, area, x + 2, 0, super::keys::footer(self), t.dim());
            return;
        }
        put(buf, area, 0, 0, super::keys::footer(self), t.dim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sparklines_stay_narrow() {
        assert_eq!(compact(9999), "9999");
        assert_eq!(compact(12_345), "12.3k");
        assert_eq!(compact(1_234_567), "1.2M");
        assert_eq!(sparkline([0, 1, 7, 14].into_iter(), 6), "   ▁▄█");
        assert_eq!(sparkline([5; 10].into_iter(), 3), "███");
        assert_eq!(sparkline(std::iter::empty(), 2), "  ");
    }

    #[test]
    fn clicks_on_tabs_pick_views() {
        let found: Vec<_> = tabs().map(|(x, v, _)| (tab_at(x + 1), v)).collect();
        for (got, want) in found {
            assert_eq!(got, Some(want));
        }
        assert_eq!(tab_at(0), None);
    }
}
