//! Keys and mouse -> [`Action`]. The meaning of a key depends only on the app's mode (typing
//! a filter, help open, replay or live), never on timing.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::app::{Action, App, View};

/// The key help, one entry per line of the `?` screen: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("1 2 3 4, Tab", "CPUs, Tasks, Findings, Timeline"),
    ("Up/Down j/k", "move the selection / scroll"),
    ("PgUp/PgDn g/G", "page, top, bottom"),
    ("Enter", "finding: its evidence; task: its events"),
    ("Esc", "close / clear the filter"),
    ("/", "filter: words, N, cpu=N pid=N tid=N, !term"),
    ("s  r", "next sort column, reverse the order"),
    (
        "space",
        "pause the view (data still counted); replay: play/pause",
    ),
    ("Left/Right", "replay: seek 5 s back/forward"),
    ("- +  [ ]", "replay: slower, faster"),
    ("0", "replay: back to the start"),
    ("m", "mouse on/off (off lets the terminal select text)"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

/// The footer's short list, for the current mode.
pub fn footer(app: &App) -> &'static str {
    if app.filter_edit.is_some() {
        return "type a filter  Enter keep  Esc clear";
    }
    if app.evidence.is_some() {
        return "Up/Down scroll  Esc close  q quit";
    }
    match (app.replay.is_some(), app.view) {
        (true, _) => "1-4 views  space play/pause  <- -> seek  -/+ speed  / filter  ? help  q quit",
        (false, View::Tasks) => {
            "1-4 views  / filter  s r sort  Enter events  space pause  ? help  q quit"
        }
        (false, View::Findings) => {
            "1-4 views  Up/Down select  Enter evidence  space pause  ? help  q quit"
        }
        (false, _) => "1-4 views  Up/Down scroll  / filter  space pause  ? help  q quit",
    }
}

pub fn key_action(app: &App, k: KeyEvent) -> Option<Action> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(k.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Some(Action::Quit);
    }
    if app.filter_edit.is_some() {
        return match k.code {
            KeyCode::Enter => Some(Action::FilterDone),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    let replay = app.replay.is_some();
    Some(match k.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('1') => Action::Show(View::Cpus),
        KeyCode::Char('2') => Action::Show(View::Tasks),
        KeyCode::Char('3') => Action::Show(View::Findings),
        KeyCode::Char('4') => Action::Show(View::Timeline),
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter => Action::Enter,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('s') => Action::NextSort,
        KeyCode::Char('r') => Action::ReverseSort,
        KeyCode::Char('m') => Action::ToggleMouse,
        KeyCode::Left if replay => Action::Seek(-5),
        KeyCode::Right if replay => Action::Seek(5),
        KeyCode::Char('+') | KeyCode::Char(']') if replay => Action::Faster(true),
        KeyCode::Char('-') | KeyCode::Char('[') if replay => Action::Faster(false),
        KeyCode::Char('0') if replay => Action::Restart,
        _ => return None,
    })
}

/// Wheel scrolls; a click on the tab line picks a view.
pub fn mouse_action(m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::ScrollUp => Some(Action::Up),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::Down(MouseButton::Left) if m.row == 0 => {
            super::views::tab_at(m.column).map(Action::Show)
        }
        _ => None,
    }
}
