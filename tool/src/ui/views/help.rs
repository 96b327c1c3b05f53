//! `?`: every key, the legend, and the attach methods in full.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    widgets::{Block, Borders, Clear, Widget},
};

use super::{Theme, put};
use crate::ui::{app::App, keys::HELP};

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    Clear.render(area, buf);
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" Help (? or Esc closes) ");
    let inner = block.inner(area);
    block.render(area, buf);
    let mut y = 0u16;
    for (keys, what) in HELP {
        put(buf, inner, 0, y, &format!("{keys:>14}"), t.title());
        put(buf, inner, 16, y, what, ratatui::style::Style::new());
        y += 1;
    }
    let legend = [
        "ACCESS: ON = user counter reads allowed on that CPU now, off = not.",
        "probes: ~model = derived in user space, not an exact kernel hook.",
    ];
    for l in legend {
        put(buf, inner, 0, y, l, t.dim());
        y += 1;
    }
    for l in &app.source.coverage {
        put(buf, inner, 2, y, l, ratatui::style::Style::new());
        y += 1;
    }
}
