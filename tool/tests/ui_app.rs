//! App state without a terminal: key sequences in, state out.

mod ui_support;

use std::time::Instant;

use common::Event;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pmuwatch::ui::{
    app::{Action, App, Source, View},
    model::Model,
    replay::{EventIter, Player},
    runner::{Inbox, Session},
};
use ui_support::*;

fn key(c: KeyCode) -> Inbox {
    Inbox::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn chars(s: &str) -> Vec<Inbox> {
    s.chars().map(|c| key(KeyCode::Char(c))).collect()
}

fn session() -> Session<FixedModel> {
    let (app, model) = app_with(hetero(), &hetero_events());
    Session::new(app, model, None)
}

fn feed(s: &mut Session<FixedModel>, keys: impl IntoIterator<Item = Inbox>) {
    for k in keys {
        s.handle(k);
    }
}

fn selected_tid(app: &App) -> Option<u32> {
    app.selected_task().map(|t| t.tid)
}

#[test]
fn number_keys_and_tab_switch_views() {
    let mut s = session();
    assert_eq!(s.app.view, View::Cpus);
    feed(&mut s, chars("2"));
    assert_eq!(s.app.view, View::Tasks);
    feed(&mut s, [key(KeyCode::Tab)]);
    assert_eq!(s.app.view, View::Findings);
    feed(&mut s, [key(KeyCode::Tab), key(KeyCode::Tab)]);
    assert_eq!(s.app.view, View::Cpus, "tab wraps around");
    feed(&mut s, [key(KeyCode::BackTab)]);
    assert_eq!(s.app.view, View::Timeline);
    feed(&mut s, chars("?"));
    assert!(s.app.help);
    feed(&mut s, [key(KeyCode::Esc)]);
    assert!(!s.app.help);
}

#[test]
fn tasks_sort_worst_first_and_the_selection_follows_its_thread() {
    let mut s = session();
    feed(&mut s, chars("2"));
    // Default sort: bad reads, descending: the thread that trapped is on top.
    assert_eq!(s.app.shown.order.len(), 3);
    assert_eq!(selected_tid(&s.app), Some(4712));
    feed(&mut s, chars("j"));
    assert_eq!(selected_tid(&s.app), Some(4711));
    // Sort by reads (4 presses: bad -> traps -> fallbacks -> wrong -> reads).
    feed(&mut s, chars("ssss"));
    assert_eq!(s.app.sort.name(), "reads");
    let order: Vec<u32> = s
        .app
        .shown
        .order
        .iter()
        .map(|&i| s.app.shown.snap.tasks[i].tid)
        .collect();
    assert_eq!(order, vec![4711, 4712, 4713]);
    assert_eq!(selected_tid(&s.app), Some(4711), "selection stays on 4711");
    feed(&mut s, chars("r"));
    assert_eq!(s.app.shown.order.len(), 3);
    assert_eq!(
        s.app.shown.snap.tasks[s.app.shown.order[0]].tid, 4713,
        "reversed"
    );
    assert_eq!(selected_tid(&s.app), Some(4711));
    feed(&mut s, [key(KeyCode::End)]);
    assert_eq!(selected_tid(&s.app), Some(4711), "end of a reversed list");
    feed(&mut s, [key(KeyCode::Home)]);
    assert_eq!(selected_tid(&s.app), Some(4713));
}

#[test]
fn slash_filters_tasks_as_you_type_and_esc_clears() {
    let mut s = session();
    feed(&mut s, chars("2/"));
    assert!(s.app.filter_edit.is_some());
    // While typing, q and digits are text, not commands.
    feed(&mut s, chars("idle"));
    assert!(!s.app.quit);
    assert_eq!(s.app.view, View::Tasks);
    assert_eq!(s.app.shown.order.len(), 1);
    assert_eq!(selected_tid(&s.app), Some(4713));
    feed(&mut s, (0..4).map(|_| key(KeyCode::Backspace)));
    feed(&mut s, chars("4712"));
    assert_eq!(selected_tid(&s.app), Some(4712));
    feed(&mut s, [key(KeyCode::Enter)]);
    assert!(s.app.filter_edit.is_none());
    assert_eq!(s.app.task_filter.text, "4712", "Enter keeps the filter");
    feed(&mut s, [key(KeyCode::Esc)]);
    assert!(s.app.task_filter.is_empty());
    assert_eq!(s.app.shown.order.len(), 3);
    // Esc while typing drops the filter.
    feed(&mut s, chars("/demo-r"));
    assert_eq!(s.app.shown.order.len(), 1);
    feed(&mut s, [key(KeyCode::Esc)]);
    assert_eq!(s.app.shown.order.len(), 3);
}

#[test]
fn findings_are_newest_first_and_enter_opens_the_evidence() {
    let mut s = session();
    feed(&mut s, chars("3"));
    assert_eq!(s.app.selected_finding(), Some(1), "newest is on top");
    feed(&mut s, [key(KeyCode::Enter)]);
    assert_eq!(s.app.evidence, Some(1));
    let f = &s.app.shown.snap.findings[1];
    assert_eq!(f.rule, "wrong-pmu-read");
    feed(
        &mut s,
        [key(KeyCode::Esc), key(KeyCode::Down), key(KeyCode::Enter)],
    );
    assert_eq!(s.app.evidence, Some(0));
    feed(&mut s, [key(KeyCode::Esc)]);
    assert_eq!(s.app.evidence, None);
}

#[test]
fn new_findings_arrive_on_top_without_moving_what_is_open_or_selected() {
    let mut s = session();
    let arrive = |s: &mut Session<FixedModel>, id: u64| {
        let mut f = s.model.snap.findings[0].clone();
        f.id = id;
        f.rule = format!("rule-{id}");
        s.model.snap.findings.push(f);
        s.app.dirty = true;
        s.frame();
    };
    feed(&mut s, chars("3"));
    // At the top, the selection follows the newest.
    arrive(&mut s, 3);
    assert_eq!(s.app.findings.selected, 0);
    assert_eq!(s.app.selected_finding(), Some(2));
    // Moved down onto wrong-pmu-read (id 2): it stays selected as more arrive.
    feed(&mut s, [key(KeyCode::Down)]);
    let rule = |s: &Session<FixedModel>| {
        s.app
            .selected_finding()
            .map(|i| s.app.shown.snap.findings[i].rule.clone())
    };
    assert_eq!(rule(&s).as_deref(), Some("wrong-pmu-read"));
    feed(&mut s, [key(KeyCode::Enter)]);
    let open = s.app.evidence;
    arrive(&mut s, 4);
    arrive(&mut s, 5);
    assert_eq!(rule(&s).as_deref(), Some("wrong-pmu-read"));
    assert_eq!(s.app.findings.selected, 3);
    assert_eq!(
        s.app.evidence, open,
        "the open evidence is the same finding's"
    );
    // Back to the top: following the newest again.
    feed(&mut s, [key(KeyCode::Esc), key(KeyCode::Char('g'))]);
    arrive(&mut s, 6);
    assert_eq!(rule(&s).as_deref(), Some("rule-6"));
}

#[test]
fn enter_on_a_task_shows_its_events_in_the_timeline() {
    let mut s = session();
    feed(&mut s, chars("2"));
    feed(&mut s, [key(KeyCode::Enter)]);
    assert_eq!(s.app.view, View::Timeline);
    assert_eq!(s.app.event_filter.text, "tid=4712");
    let tids: Vec<u32> = s.app.timeline_events().map(|e| e.header().tid).collect();
    assert_eq!(tids, vec![4712, 4712]);
}

#[test]
fn pause_freezes_the_view_while_ingestion_goes_on() {
    let mut s = session();
    let shown_before = s.app.shown.recent.len();
    feed(&mut s, chars(" "));
    assert!(s.app.paused);
    // More data arrives, and the engine changes its mind.
    s.model.snap.tasks.pop();
    let more: Vec<Event> = (0..50).map(|i| lost(1, T0 + 3 * S + i, 2)).collect();
    s.handle(Inbox::Batch(more));
    s.frame();
    assert_eq!(s.app.shown.recent.len(), shown_before, "frozen");
    assert_eq!(s.app.shown.snap.tasks.len(), 3, "frozen");
    assert_eq!(s.app.counters.lost, 100, "drops are counted while paused");
    assert_eq!(s.model.fed, hetero_events().len() as u64 + 50);
    // Moving around a frozen view works.
    feed(&mut s, chars("2j"));
    assert_eq!(selected_tid(&s.app), Some(4711));
    feed(&mut s, chars(" "));
    s.frame();
    assert_eq!(s.app.shown.recent.len(), shown_before + 50);
    assert_eq!(s.app.shown.snap.tasks.len(), 2);
}

#[test]
fn q_and_ctrl_c_quit_even_while_typing_a_filter() {
    let mut s = session();
    feed(&mut s, chars("/q"));
    assert!(!s.app.quit, "q is text in the filter");
    s.handle(Inbox::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(s.app.quit);
    let mut s = session();
    feed(&mut s, chars("q"));
    assert!(s.app.quit);
    let mut s = session();
    s.handle(Inbox::Terminate);
    assert!(s.app.quit, "SIGTERM");
}

#[test]
fn timeline_scrolls_back_and_filters_by_kind() {
    let mut s = session();
    feed(&mut s, chars("4"));
    assert_eq!(s.app.timeline_events().count(), hetero_events().len());
    feed(&mut s, chars("jjj"));
    assert_eq!(s.app.timeline_scroll, 3);
    feed(&mut s, chars("/!sched"));
    feed(&mut s, [key(KeyCode::Enter)]);
    assert_eq!(
        s.app.timeline_scroll, 0,
        "a new filter goes back to the newest"
    );
    let kinds: Vec<&str> = s.app.timeline_events().map(|e| e.kind().name()).collect();
    assert_eq!(kinds, vec!["trap", "migrate"]);
}

fn replay_session(events: Vec<Event>) -> Session<FixedModel> {
    let open = Box::new(move || Ok(Box::new(events.clone().into_iter().map(Ok)) as EventIter));
    let player = Player::new(open, 1.0).expect("player");
    let app = App::for_replay(
        Source {
            target: "replay t".into(),
            coverage: vec![],
            sites: vec![],
        },
        1.0,
    );
    Session::new(app, FixedModel::default(), Some(player))
}

#[test]
fn replay_keys_drive_the_file_clock() {
    let evs = hetero_events();
    let mut s = replay_session(evs.clone());
    let t = Instant::now();
    s.tick(t);
    assert_eq!(
        s.model.fed, 1,
        "the first event is due at once, the next 10 ns later"
    );
    // Space pauses the file, not the view.
    feed(&mut s, chars(" "));
    assert!(!s.app.paused);
    assert!(!s.app.replay.as_ref().unwrap().playing);
    s.tick(t + std::time::Duration::from_secs(10));
    assert_eq!(s.model.fed, 1, "paused: the clock stands still");
    feed(&mut s, chars("+"));
    assert_eq!(s.app.replay.as_ref().unwrap().speed, 2.0);
    feed(&mut s, [key(KeyCode::Right)]);
    s.tick(t + std::time::Duration::from_secs(10));
    assert_eq!(
        s.model.fed,
        evs.len() as u64,
        "seek 5 s forward reaches the end"
    );
    assert!(s.app.replay.as_ref().unwrap().done);
    assert!(
        s.app
            .notice
            .as_deref()
            .unwrap_or("")
            .contains("end of the trace")
    );
    feed(&mut s, chars("0"));
    s.tick(t + std::time::Duration::from_secs(10));
    assert_eq!(s.model.fed, 1, "restart re-feeds from the start");
    assert_eq!(s.app.counters.events, 1, "the view's counts restart too");
}

#[test]
fn a_model_fed_the_same_stream_fills_the_same_snapshot() {
    // The session feeds the model exactly what arrived, in order, once.
    let mut s = session();
    let before = s.model.fed;
    s.handle(Inbox::Batch(hetero_events()));
    assert_eq!(s.model.fed, before + hetero_events().len() as u64);
    let mut snap = Default::default();
    s.model.fill(&mut snap);
    assert_eq!(snap, hetero());
}

#[test]
fn page_keys_use_the_terminal_height() {
    let mut s = session();
    let mut tasks = hetero();
    tasks.tasks = (0..100)
        .map(|i| pmuwatch::ui::model::TaskRow {
            tid: i,
            ..Default::default()
        })
        .collect();
    s.model.snap = tasks;
    s.app.dirty = true;
    s.frame();
    feed(&mut s, chars("2ssssssss"));
    assert_eq!(s.app.sort.name(), "tid");
    s.act(Action::Resize(80, 24));
    feed(&mut s, [key(KeyCode::PageDown)]);
    assert_eq!(selected_tid(&s.app), Some(16));
    feed(&mut s, [key(KeyCode::End), key(KeyCode::PageUp)]);
    assert_eq!(selected_tid(&s.app), Some(83));
}
