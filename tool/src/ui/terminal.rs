//! The terminal guard: raw mode + alternate screen while the view runs, and the terminal put
//! back however it ends: `q`, Ctrl-C, SIGTERM (the loop returns and the guard drops), or a
//! panic (the hook restores before the message is printed, so it is readable).

use std::{
    io::{self, IsTerminal, Stdout, Write},
    sync::{
        Once,
        atomic::{AtomicBool, Ordering},
    },
};

use crossterm::{
    cursor,
    event::{DisableMouseCapture, EnableMouseCapture},
    execute,
    terminal::{
        self, BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen,
        LeaveAlternateScreen,
    },
};
use ratatui::{Terminal, backend::CrosstermBackend};

use super::app::App;
use crate::error::fix;

/// The terminal is in raw mode on the alternate screen (set by `enter`, cleared by the first
/// `restore`).
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back. Safe to call more than once and from a panic hook: only the first
/// call after `enter` acts. (A second "leave the alternate screen" would move the cursor back
/// to where it was on entry, and what follows, such as the rest of a panic's output, would
/// overwrite the message already printed.)
pub fn restore() {
    if !TAKEN.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    // Each step on its own: one failing must not keep the others from running.
    let _ = execute!(out, DisableMouseCapture);
    let _ = execute!(out, LeaveAlternateScreen);
    let _ = execute!(out, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

pub struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    mouse: bool,
}

impl TerminalGuard {
    pub fn enter(mouse: bool) -> anyhow::Result<TerminalGuard> {
        if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
            return Err(fix(
                "the live view needs a terminal (stdin/stdout are not one)",
                "run it in a terminal, or add --no-tui for plain text lines",
            ));
        }
        install_panic_hook();
        TAKEN.store(true, Ordering::SeqCst);
        terminal::enable_raw_mode().map_err(|e| {
            // Nothing was changed: nothing to put back.
            TAKEN.store(false, Ordering::SeqCst);
            fix(
                format!("cannot set the terminal to raw mode: {e}"),
                "use --no-tui",
            )
        })?;
        let mut out = io::stdout();
        let entered = execute!(out, EnterAlternateScreen, cursor::Hide).and_then(|_| {
            if mouse {
                execute!(out, EnableMouseCapture)
            } else {
                Ok(())
            }
        });
        if let Err(e) = entered {
            restore();
            return Err(fix(
                format!("cannot set up the terminal: {e}"),
                "use --no-tui",
            ));
        }
        let terminal = match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(fix(
                    format!("cannot set up the terminal: {e}"),
                    "use --no-tui",
                ));
            }
        };
        Ok(TerminalGuard { terminal, mouse })
    }

    pub fn set_mouse(&mut self, on: bool) {
        if on != self.mouse {
            let r = if on {
                execute!(io::stdout(), EnableMouseCapture)
            } else {
                execute!(io::stdout(), DisableMouseCapture)
            };
            if r.is_ok() {
                self.mouse = on;
            }
        }
    }

    pub fn size(&self) -> (u16, u16) {
        self.terminal
            .size()
            .map(|s| (s.width, s.height))
            .unwrap_or((80, 24))
    }

    /// Draws one frame: only changed cells are written (ratatui diffs against the previous
    /// frame), inside a synchronized update so terminals that support it never show a half
    /// drawn frame.
    pub fn draw(&mut self, app: &App) -> anyhow::Result<()> {
        let _ = execute!(io::stdout(), BeginSynchronizedUpdate);
        let r = self.terminal.draw(|f| f.render_widget(app, f.area()));
        let _ = execute!(io::stdout(), EndSynchronizedUpdate);
        r?;
        Ok(())
    }

    /// After a resize: redraw everything next frame.
    pub fn resized(&mut self) {
        let _ = self.terminal.autoresize();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
