//! The live view (issue 6): `pmuwatch -p PID`, `pmuwatch -- CMD`, `pmuwatch` (the built-in
//! demo), `pmuwatch top` and `pmuwatch replay FILE`; `--no-tui` prints plain lines instead.
//!
//! Data flows one way: a source (kernel probes, a trace file) sends batches of events into
//! the loop's inbox ([`runner`]); the loop feeds the engine ([`model::Model`]) and the app's
//! own history, and on each frame copies the engine's rows into the snapshot the views draw
//! (not while paused). Keys become actions on [`app::App`], the one owner of UI state.
//!
//! Files: `app` (state + actions), `keys` (keys -> actions), `views/` (one file per view),
//! `terminal` (guard), `runner` (loop), `text` (`--no-tui`), `replay` (file clock),
//! `model` + `engine_model` (the engine seam), `history` (log, strip, counters).

pub mod app;
pub mod describe;
pub mod engine_model;
pub mod filter;
pub mod history;
pub mod keys;
pub mod model;
pub mod replay;
pub mod runner;
pub mod terminal;
pub mod text;
pub mod views;

use std::{path::Path, process::ExitCode, time::Duration};

use tokio::sync::mpsc;

use self::{
    app::{App, Source},
    replay::{EventIter, Opener, Player},
    runner::{Cancel, Frontend, INBOX_CAPACITY, Inbox, Session, Timing},
    text::TextOut,
};
use crate::{
    cli::{ReplayArgs, TargetArgs, TopArgs, WatchArgs},
    engine::Engine,
    probe::{
        coverage::Coverage,
        live::{End, LiveSource, SourceOptions},
    },
    sites::Site,
};

/// Seconds between status lines in `--no-tui` mode.
const TEXT_EVERY_S: f64 = 5.0;
/// How long the built-in demo runs when no duration is given (the view stops it on quit).
const DEMO_DEFAULT_S: f64 = 3600.0;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Two workers: the ring-buffer reader keeps draining while the loop feeds the engine.
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn comm_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// `pmuwatch [-p PID | -- CMD]`: with no target, the built-in demo in careless mode.
pub fn run_watch(a: &WatchArgs) -> anyhow::Result<ExitCode> {
    let t = &a.target;
    let mut target = t.clone();
    let demo = t.pid.is_none() && t.command.is_empty() && !t.system_wide;
    if demo {
        let exe = std::env::current_exe()?;
        let secs = t.duration.unwrap_or(DEMO_DEFAULT_S);
        target.command = vec![
            exe.display().to_string(),
            "demo".into(),
            "--careless".into(),
            "--duration".into(),
            format!("{secs}"),
        ];
    }
    run_live(&target, a.no_tui, false, demo)
}

/// `pmuwatch top`: every task holding user-readable events, system-wide.
pub fn run_top(a: &TopArgs) -> anyhow::Result<ExitCode> {
    let target = TargetArgs {
        system_wide: true,
        duration: a.duration,
        ..TargetArgs::default()
    };
    run_live(&target, a.no_tui, true, false)
}

fn target_label(t: &TargetArgs, src: &LiveSource, demo: bool) -> String {
    let pid = src.target_pid();
    let pid_s = pid
        .map(|p| format!("pid {p} ({})", comm_of(p).unwrap_or_default()))
        .unwrap_or_default();
    if demo {
        // Its comm is always ours (the demo is this binary): the pid says enough.
        format!(
            "built-in demo, pid {}",
            pid.map(|p| p.to_string()).unwrap_or_default()
        )
    } else if t.system_wide {
        "system-wide".into()
    } else if t.command.is_empty() {
        pid_s
    } else {
        format!("`{}`, {pid_s}", t.command.join(" "))
    }
}

fn end_text(src: &LiveSource) -> String {
    match src.end() {
        Some(End::TargetExited) => match src.exit_status() {
            Some(s) => format!("target exited ({s})"),
            None => "target exited".into(),
        },
        Some(End::DurationOver) => "duration over".into(),
        None => "source stopped".into(),
    }
}

/// The kernel source as a task: batches into the inbox until the target ends or the session
/// is cancelled (then the target is stopped: a spawned demo must not outlive the view).
async fn pump_live(mut src: LiveSource, tx: mpsc::Sender<Inbox>, cancel: Cancel) {
    let mut buf = Vec::new();
    // The view starts with the sites found before the target ran (`run_live`).
    let mut sites_sent = src.sites().len();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                src.stop();
                return;
            }
            r = src.next_batch(&mut buf) => match r {
                Ok(true) => {
                    // Sites first: a finding about a new site's read comes in this batch.
                    if src.sites().len() != sites_sent {
                        sites_sent = src.sites().len();
                        let names = src.sites().iter().map(Site::describe).collect();
                        if tx.send(Inbox::Sites(names)).await.is_err() {
                            src.stop();
                            return;
                        }
                    }
                    if tx.send(Inbox::Batch(std::mem::take(&mut buf))).await.is_err() {
                        src.stop();
                        return;
                    }
                }
                Ok(false) => {
                    let _ = tx.send(Inbox::SourceEnded(end_text(&src))).await;
                    return;
                }
                Err(e) => {
                    src.stop();
                    let _ = tx
                        .send(Inbox::SourceEnded(format!("event source failed: {e:#}")))
                        .await;
                    return;
                }
            }
        }
    }
}

fn run_live(
    t: &TargetArgs,
    no_tui: bool,
    holders_only: bool,
    demo: bool,
) -> anyhow::Result<ExitCode> {
    let facts = crate::sys::Facts::live();
    let engine = Engine::new(crate::report::facts::from_sys(&facts));
    let mut opts = SourceOptions::from_target(t);
    // Under the TUI a command must not write over the view; the built-in demo's own report
    // (JSON on stdout) is not the tool's output, so it stays out of text mode too.
    opts.quiet_child = !no_tui || demo;
    let rt = runtime()?;
    rt.block_on(async move {
        // Load and start before touching the terminal: errors print as one plain line.
        if !no_tui {
            eprintln!("pmuwatch: loading probes ...");
        }
        let src = LiveSource::start(&opts)?;
        let mut app = App::new(Source {
            target: target_label(t, &src, demo),
            coverage: views::coverage_items(src.coverage()),
            sites: src.sites().iter().map(Site::describe).collect(),
        });
        app.holders_only = holders_only;
        app.quit_on_end = no_tui;
        if !src.probes().notes.is_empty() {
            app.notice = Some(src.probes().notes.join("; "));
        }
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let cancel = Cancel::default();
        let pump = tokio::spawn(pump_live(src, tx.clone(), cancel.clone()));
        let result = session(app, engine, None, tx, rx, &cancel, no_tui).await;
        cancel.cancel();
        // Let the pump stop the target; never hang on it.
        let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
        result
    })
}

/// Runs one session on the terminal (or as text) until it ends.
async fn session<M: model::Model>(
    mut app: App,
    model: M,
    player: Option<Player>,
    tx: mpsc::Sender<Inbox>,
    mut rx: mpsc::Receiver<Inbox>,
    cancel: &Cancel,
    no_tui: bool,
) -> anyhow::Result<ExitCode> {
    app.color = std::env::var_os("NO_COLOR").is_none();
    let mut s = Session::new(app, model, player);
    let timing = Timing::default();
    if no_tui {
        drop(tx);
        let mut fe = Frontend::Text(TextOut::new(Box::new(std::io::stdout()), TEXT_EVERY_S));
        runner::run(&mut s, &mut rx, cancel, &mut fe, timing).await?;
        if let Frontend::Text(t) = &mut fe {
            t.summary(&s.app)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let guard = terminal::TerminalGuard::enter(s.app.mouse)?;
    let input = runner::spawn_input(tx, cancel.clone());
    let mut fe = Frontend::Tui(guard);
    let r = runner::run(&mut s, &mut rx, cancel, &mut fe, timing).await;
    cancel.cancel();
    drop(fe);
    let _ = input.join();
    r.map(|_| ExitCode::SUCCESS)
}

/// A trace's events, then one error naming what was cut, if anything was.
fn trace_events(path: &Path) -> anyhow::Result<EventIter> {
    let mut reader = crate::trace::open(path)?;
    let mut done = false;
    Ok(Box::new(std::iter::from_fn(move || {
        if done {
            return None;
        }
        match reader.next() {
            Some(e) => Some(Ok(e)),
            None => {
                done = true;
                let d = reader.damage();
                d.is_damaged()
                    .then(|| Err(anyhow::anyhow!("{}", d.describe())))
            }
        }
    })))
}

/// `pmuwatch replay FILE`: the same views, driven by the file's clock.
pub fn run_replay(a: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let reader = crate::trace::open(&a.file)?;
    let meta = reader.meta().clone();
    drop(reader);
    let facts = crate::report::facts::from_meta(&meta.facts).unwrap_or_default();
    let coverage: Coverage = serde_json::from_value(meta.coverage.clone()).unwrap_or_default();
    let what = if meta.target.system_wide {
        "system-wide".to_string()
    } else if !meta.target.command.is_empty() {
        format!("`{}`", meta.target.command.join(" "))
    } else {
        meta.target
            .pid
            .map(|p| format!("pid {p}"))
            .unwrap_or_default()
    };
    // The meta's sites (those found at the start; the trailer's fuller table is at the
    // file's end, which a replay reaches last).
    let sites: Vec<Site> = serde_json::from_value(meta.sites.clone()).unwrap_or_default();
    let source = Source {
        target: format!("replay {} ({what})", a.file.display()),
        coverage: views::coverage_items(&coverage),
        sites: sites.iter().map(Site::describe).collect(),
    };
    let engine = Engine::new(facts);
    if a.no_tui {
        return replay_text(source, engine, &a.file);
    }
    if !(a.speed.is_finite() && a.speed > 0.0) {
        return Err(crate::error::fix(
            format!("--speed {} is not a playback speed", a.speed),
            "give a positive factor, e.g. --speed 4",
        ));
    }
    let path = a.file.clone();
    let open: Opener = Box::new(move || trace_events(&path));
    let player = Player::new(open, a.speed)?;
    let app = App::for_replay(source, a.speed);
    let rt = runtime()?;
    rt.block_on(async move {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let cancel = Cancel::default();
        session(app, engine, Some(player), tx, rx, &cancel, false).await
    })
}

/// `replay --no-tui`: the whole file as fast as it reads, status lines every few seconds of
/// trace time, then the summary.
fn replay_text(source: Source, engine: Engine, path: &Path) -> anyhow::Result<ExitCode> {
    let mut s = Session::new(App::new(source), engine, None);
    let mut out = TextOut::new(Box::new(std::io::stdout()), TEXT_EVERY_S);
    let mut batch = Vec::with_capacity(4096);
    let mut events = trace_events(path)?;
    loop {
        batch.clear();
        let mut cut = None;
        for r in events.by_ref().take(4096) {
            match r {
                Ok(e) => batch.push(e),
                Err(e) => cut = Some(format!("trace stops here: {e:#}")),
            }
        }
        if let Some(last) = batch.last() {
            let ts = last.header().ts_ns;
            s.ingest(&batch);
            s.app.tick(ts);
            // Snapshots only when a line is due: the engine's rows are not copied per batch.
            if out.due(ts) && s.frame() {
                out.frame(&s.app)?;
            }
        }
        if cut.is_some() {
            s.app.notice = cut;
        }
        if batch.is_empty() {
            break;
        }
    }
    s.model.flush();
    s.app.dirty = true;
    s.frame();
    out.summary(&s.app)?;
    Ok(ExitCode::SUCCESS)
}
