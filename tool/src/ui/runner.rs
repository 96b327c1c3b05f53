//! The loop: one inbox of [`Inbox`] messages (keys, event batches, source end, terminate),
//! a tick interval (clock, rates, replay steps) and a frame interval (snapshot + draw) in one
//! `tokio::select!`, stopped by a cancellation token. Ingestion never waits for drawing and
//! goes on while the view is paused.

use std::time::{Duration, Instant};

use common::Event;
use crossterm::event::{KeyEvent, MouseEvent};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
    time::{MissedTickBehavior, interval},
};

use super::{
    app::{Action, App, Command},
    keys,
    model::Model,
    replay::Player,
    terminal::TerminalGuard,
    text::TextOut,
};

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Inbox {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Events in stream order.
    Batch(Vec<Event>),
    /// The read sites found so far, described, indexed by id (sent when the table grows).
    Sites(Vec<String>),
    /// The source stopped; the text says why (`target exited`, an error).
    SourceEnded(String),
    Tick,
    Terminate,
}

/// Batches in flight between a source and the loop: a slow consumer slows the source, and
/// the kernel side counts what it then drops (shown in the header).
pub const INBOX_CAPACITY: usize = 256;

/// A cancellation token: cloned into every task the session starts.
#[derive(Clone, Debug)]
pub struct Cancel {
    tx: watch::Sender<bool>,
}

impl Default for Cancel {
    fn default() -> Cancel {
        Cancel {
            tx: watch::Sender::new(false),
        }
    }
}

impl Cancel {
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // wait_for returns at once when already cancelled; Err only if the sender is gone,
        // which cannot happen while `self` holds it.
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// Tick and frame periods.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub tick: Duration,
    pub frame: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            tick: Duration::from_millis(100),
            // 10 snapshots/s, the rate the view promises; keys draw at once in between.
            frame: Duration::from_millis(100),
        }
    }
}

/// The session clock, in the time base of the events.
pub enum Clock {
    /// CLOCK_MONOTONIC, the base of `bpf_ktime_get_ns`.
    Monotonic,
    /// Trace time of the replay position.
    Replay,
}

/// Where frames go.
pub enum Frontend {
    Tui(TerminalGuard),
    Text(TextOut),
}

/// App + engine + replay player: what one inbox message acts on.
pub struct Session<M: Model> {
    pub app: App,
    pub model: M,
    pub player: Option<Player>,
    pub clock: Clock,
    /// Reused buffer for replay steps.
    scratch: Vec<Event>,
    /// Something changed that the next frame should show.
    pub redraw: bool,
}

impl<M: Model> Session<M> {
    pub fn new(app: App, model: M, player: Option<Player>) -> Session<M> {
        let clock = if player.is_some() {
            Clock::Replay
        } else {
            Clock::Monotonic
        };
        Session {
            app,
            model,
            player,
            clock,
            scratch: Vec::new(),
            redraw: true,
        }
    }

    /// Feeds a batch to the engine and the app's history.
    pub fn ingest(&mut self, batch: &[Event]) {
        self.model.feed_batch(batch);
        self.app.ingest(batch);
    }

    /// Applies one message. Keys act at once; data is drawn at the next frame.
    pub fn handle(&mut self, msg: Inbox) {
        match msg {
            Inbox::Key(k) => {
                if let Some(a) = keys::key_action(&self.app, k) {
                    self.act(a);
                }
            }
            Inbox::Mouse(m) => {
                if let Some(a) = keys::mouse_action(m) {
                    self.act(a);
                }
            }
            Inbox::Resize(w, h) => self.act(Action::Resize(w, h)),
            Inbox::Batch(b) => self.ingest(&b),
            Inbox::Sites(s) => self.app.source.sites = s,
            Inbox::SourceEnded(why) => {
                self.redraw = true;
                if self.app.quit_on_end {
                    self.app.notice = Some(why);
                    self.app.quit = true;
                } else {
                    self.app.notice = Some(format!("{why}; the view stays, q quits"));
                }
            }
            Inbox::Tick => self.tick(Instant::now()),
            Inbox::Terminate => self.app.quit = true,
        }
    }

    pub fn act(&mut self, a: Action) {
        self.app.update(a);
        self.redraw = true;
        let commands: Vec<Command> = self.app.commands.drain(..).collect();
        for c in commands {
            if let (Command::Replay(rc), Some(p)) = (&c, &mut self.player) {
                p.command(*rc);
                self.app.replay = Some(p.status.clone());
            }
            // Mouse commands are for the terminal: kept for the loop.
            if let Command::SetMouse(_) = c {
                self.app.commands.push(c);
            }
        }
    }

    /// Clock, rates and replay.
    pub fn tick(&mut self, now: Instant) {
        if let Some(p) = &mut self.player {
            let mut out = std::mem::take(&mut self.scratch);
            out.clear();
            let st = p.step(now, &mut out);
            if st.reset {
                self.model.reset();
                self.app.clear_data();
            }
            if !out.is_empty() {
                self.model.feed_batch(&out);
                self.app.ingest(&out);
            }
            self.scratch = out;
            if let Some(end) = st.ended {
                self.model.flush();
                self.app.dirty = true;
                self.app.notice = Some(match end {
                    None => "end of the trace (0 restarts, <- seeks back)".to_string(),
                    Some(e) => format!("trace stops here: {e}"),
                });
            }
            self.app.replay = Some(p.status.clone());
            self.redraw = true;
        }
        let now_ns = match self.clock {
            Clock::Monotonic => crate::trace::monotonic_now_ns(),
            Clock::Replay => self.app.replay.as_ref().map_or(0, |r| r.pos_ns),
        };
        self.app.tick(now_ns);
    }

    /// Refreshes the snapshot if data or state changed; true when a frame should be drawn.
    pub fn frame(&mut self) -> bool {
        let data = self.app.dirty && !self.app.paused;
        if data {
            self.app.refresh(&self.model);
        }
        let draw = data || self.redraw;
        self.redraw = false;
        draw
    }
}

/// Runs until quit, terminate (SIGTERM, SIGINT, SIGHUP) or cancellation. The caller spawns
/// the sources with clones of `tx`-side senders and of `cancel`.
pub async fn run<M: Model>(
    s: &mut Session<M>,
    rx: &mut mpsc::Receiver<Inbox>,
    cancel: &Cancel,
    fe: &mut Frontend,
    timing: Timing,
) -> anyhow::Result<()> {
    let mut tick = interval(timing.tick);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut frame = interval(timing.frame);
    frame.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut inbox_open = true;
    if let Frontend::Tui(t) = fe {
        let (w, h) = t.size();
        s.act(Action::Resize(w, h));
    }
    s.tick(Instant::now());
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => Inbox::Terminate,
            _ = sigterm.recv() => Inbox::Terminate,
            _ = sigint.recv() => Inbox::Terminate,
            _ = sighup.recv() => Inbox::Terminate,
            m = rx.recv(), if inbox_open => match m {
                Some(m) => m,
                None => {
                    inbox_open = false;
                    continue;
                }
            },
            _ = tick.tick() => Inbox::Tick,
            _ = frame.tick() => {
                if s.frame() {
                    match fe {
                        Frontend::Tui(t) => t.draw(&s.app)?,
                        Frontend::Text(t) => t.frame(&s.app)?,
                    }
                }
                continue;
            }
        };
        let resize = matches!(msg, Inbox::Resize(..));
        let input = matches!(msg, Inbox::Key(_) | Inbox::Mouse(_) | Inbox::Resize(..));
        s.handle(msg);
        for c in s.app.commands.drain(..) {
            if let (Command::SetMouse(on), Frontend::Tui(t)) = (c, &mut *fe) {
                t.set_mouse(on);
            }
        }
        if let (true, Frontend::Tui(t)) = (resize, &mut *fe) {
            t.resized();
        }
        if s.app.quit {
            break;
        }
        // Keys show at once (no wait for the next frame); data waits for the frame tick.
        if let (true, Frontend::Tui(t)) = (input && s.redraw, &mut *fe) {
            s.redraw = false;
            t.draw(&s.app)?;
        }
    }
    cancel.cancel();
    // A last snapshot, so the text summary has everything that arrived.
    s.app.paused = false;
    s.app.dirty = true;
    s.frame();
    Ok(())
}

/// Reads keys, mouse and resizes on a plain thread (crossterm's reader blocks) until
/// cancelled, and posts them to the inbox.
pub fn spawn_input(tx: mpsc::Sender<Inbox>, cancel: Cancel) -> std::thread::JoinHandle<()> {
    use crossterm::event::{self, Event as TermEvent};
    std::thread::spawn(move || {
        while !cancel.is_cancelled() {
            match event::poll(Duration::from_millis(50)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            let msg = match event::read() {
                Ok(TermEvent::Key(k)) => Inbox::Key(k),
                Ok(TermEvent::Mouse(m)) => Inbox::Mouse(m),
                Ok(TermEvent::Resize(w, h)) => Inbox::Resize(w, h),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.blocking_send(msg).is_err() {
                break;
            }
        }
    })
}
