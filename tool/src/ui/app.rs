//! The one owner of the UI's state: what the user is looking at (view, selection, sort,
//! filters, pause, scroll) and the data drawn (a snapshot refreshed from the engine, frozen
//! while paused). Keys become [`Action`]s, [`App::update`] applies them; no terminal is
//! needed, so tests drive it with key sequences.

use common::Event;

use super::{
    filter::Filter,
    history::{Counters, Rates, Recent, Strips},
    model::{Model, Snapshot, TaskRow},
};

/// The four views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Cpus,
    Tasks,
    Findings,
    Timeline,
}

impl View {
    pub const ALL: [View; 4] = [View::Cpus, View::Tasks, View::Findings, View::Timeline];

    pub fn title(self) -> &'static str {
        match self {
            View::Cpus => "CPUs",
            View::Tasks => "Tasks",
            View::Findings => "Findings",
            View::Timeline => "Timeline",
        }
    }

    fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    fn step(self, by: isize) -> View {
        let n = View::ALL.len() as isize;
        View::ALL[((self.index() as isize + by).rem_euclid(n)) as usize]
    }
}

/// Task table columns that can be sorted on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Reads that went wrong (fallback + trap + wrong PMU): the interesting ones first.
    #[default]
    Bad,
    Traps,
    Fallbacks,
    WrongPmu,
    Reads,
    Migrations,
    Toggles,
    Cpu,
    Tid,
    Name,
}

impl SortKey {
    pub const ALL: [SortKey; 10] = [
        SortKey::Bad,
        SortKey::Traps,
        SortKey::Fallbacks,
        SortKey::WrongPmu,
        SortKey::Reads,
        SortKey::Migrations,
        SortKey::Toggles,
        SortKey::Cpu,
        SortKey::Tid,
        SortKey::Name,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Bad => "bad reads",
            SortKey::Traps => "traps",
            SortKey::Fallbacks => "fallbacks",
            SortKey::WrongPmu => "wrong-pmu",
            SortKey::Reads => "reads",
            SortKey::Migrations => "migrations",
            SortKey::Toggles => "toggles",
            SortKey::Cpu => "cpu",
            SortKey::Tid => "tid",
            SortKey::Name => "name",
        }
    }

    /// Numeric keys sort biggest first by default; names and ids smallest first.
    fn descending_by_default(self) -> bool {
        !matches!(self, SortKey::Cpu | SortKey::Tid | SortKey::Name)
    }

    fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }

    fn compare(self, a: &TaskRow, b: &TaskRow) -> std::cmp::Ordering {
        match self {
            SortKey::Bad => a.reads.bad().cmp(&b.reads.bad()),
            SortKey::Traps => a.reads.trap.cmp(&b.reads.trap),
            SortKey::Fallbacks => a.reads.index0_fallback.cmp(&b.reads.index0_fallback),
            SortKey::WrongPmu => a.reads.silent_wrong_pmu.cmp(&b.reads.silent_wrong_pmu),
            SortKey::Reads => a.reads.total().cmp(&b.reads.total()),
            SortKey::Migrations => a.migrations.cmp(&b.migrations),
            SortKey::Toggles => a.toggles.cmp(&b.toggles),
            SortKey::Cpu => a.cpu.cmp(&b.cpu),
            SortKey::Tid => a.tid.cmp(&b.tid),
            SortKey::Name => a.comm.cmp(&b.comm),
        }
    }
}

/// What a key means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Show(View),
    NextView,
    PrevView,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Open the selection: a finding's evidence, a task's events in the timeline.
    Enter,
    /// Close the overlay / cancel.
    Back,
    /// Live: freeze the view (ingestion continues). Replay: play/pause the file.
    TogglePause,
    ToggleHelp,
    ToggleMouse,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    FilterDone,
    FilterCancel,
    NextSort,
    ReverseSort,
    /// Replay: seek by this many seconds of trace time.
    Seek(i64),
    /// Replay: multiply the speed by 2 (true) or divide by 2.
    Faster(bool),
    /// Replay: back to the start.
    Restart,
    /// Terminal size changed.
    Resize(u16, u16),
}

/// Requests from the state to the loop that owns the sources and the terminal.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SetMouse(bool),
    Replay(ReplayCommand),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplayCommand {
    SetPlaying(bool),
    SeekBy(i64),
    SetSpeed(f64),
    Restart,
}

/// Where a replay is, as the header shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayStatus {
    pub playing: bool,
    pub speed: f64,
    /// Trace time of the first event and of the playback position.
    pub start_ns: u64,
    pub pos_ns: u64,
    /// Trace time of the last event, once known.
    pub end_ns: Option<u64>,
    /// The whole file has been fed.
    pub done: bool,
}

/// Header facts that do not come from events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// What is watched: `pid 4711 (demo)`, `system-wide`, `replay t.pmw`.
    pub target: String,
    /// Attach methods in use, one short item per signal (`sched_switch tp_btf`,
    /// `driver hooks MODEL`): a user must see what is exact and what is modelled.
    pub coverage: Vec<String>,
    /// Read sites described (`rdpmc at f+0x22 (x.c:74) in FILE`), indexed by site id.
    pub sites: Vec<String>,
}

impl Source {
    /// The description of read site `id`, when known.
    pub fn site(&self, id: Option<u32>) -> Option<&str> {
        id.and_then(|i| self.sites.get(i as usize))
            .map(String::as_str)
    }
}

/// The typed filter line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterEdit {
    pub view: View,
    pub text: String,
}

/// What is drawn: refreshed each frame, frozen while paused.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    pub snap: Snapshot,
    /// Timeline events, oldest first.
    pub recent: Vec<Event>,
    pub strips: Strips,
    /// Session time of this snapshot.
    pub at_ns: u64,
    /// Task rows in display order (filtered, sorted): indices into `snap.tasks`.
    pub order: Vec<usize>,
}

/// Per-list selection and scroll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub offset: usize,
}

impl ListState {
    fn moved(&mut self, by: isize, len: usize) {
        if len == 0 {
            *self = ListState::default();
            return;
        }
        let s = (self.selected as isize + by).clamp(0, len as isize - 1);
        self.selected = s as usize;
    }

    /// Keeps the selection inside `rows` visible rows.
    pub fn scrolled(&self, rows: usize, len: usize) -> ListState {
        let selected = self.selected.min(len.saturating_sub(1));
        let rows = rows.max(1);
        let mut offset = self.offset.min(selected);
        if selected >= offset + rows {
            offset = selected + 1 - rows;
        }
        ListState { selected, offset }
    }
}

#[derive(Debug, Default)]
pub struct App {
    pub view: View,
    pub help: bool,
    pub quit: bool,
    pub paused: bool,
    pub mouse: bool,
    /// `top`: list only tasks holding user-readable events or doing reads.
    pub holders_only: bool,
    /// Text mode: the session ends when the source does.
    pub quit_on_end: bool,
    /// Colour as an extra (off with `NO_COLOR`); meaning never depends on it.
    pub color: bool,
    pub filter_edit: Option<FilterEdit>,
    pub task_filter: Filter,
    pub event_filter: Filter,
    pub sort: SortKey,
    pub sort_desc: bool,
    pub tasks: ListState,
    /// Tid of the selected task: the selection follows it when rows re-sort.
    pub task_tid: Option<u32>,
    /// Selected finding, counted from the newest.
    pub findings: ListState,
    /// Id of the finding the user moved to: the selection stays on it as newer ones arrive
    /// on top. None at the top: the selection follows the newest.
    pub finding_id: Option<u64>,
    /// Evidence overlay of this finding (index from the oldest: stable as findings arrive).
    pub evidence: Option<usize>,
    pub evidence_scroll: usize,
    /// Timeline lines scrolled up from the newest (0: follow the stream).
    pub timeline_scroll: usize,
    pub cpus: ListState,
    /// Terminal size, for page moves.
    pub size: (u16, u16),

    pub source: Source,
    pub replay: Option<ReplayStatus>,
    /// One line of news (target exited, source failed); stays until replaced.
    pub notice: Option<String>,
    /// Session clock: monotonic ns live, trace ns in replay.
    pub clock_ns: u64,

    /// Ingestion side: always current.
    pub counters: Counters,
    pub recent: Recent,
    pub strips: Strips,
    pub rates: Rates,
    /// Drawing side.
    pub shown: Shown,
    /// Events ingested since the last refresh.
    pub dirty: bool,
    pub commands: Vec<Command>,
}

impl App {
    pub fn new(source: Source) -> App {
        App {
            source,
            sort_desc: SortKey::default().descending_by_default(),
            mouse: true,
            color: true,
            dirty: true,
            ..App::default()
        }
    }

    pub fn for_replay(source: Source, speed: f64) -> App {
        App {
            replay: Some(ReplayStatus {
                playing: true,
                speed,
                ..ReplayStatus::default()
            }),
            ..App::new(source)
        }
    }

    /// Ingests a batch into the UI's own history (the engine is fed by the caller).
    pub fn ingest(&mut self, batch: &[Event]) {
        self.counters.observe_batch(batch);
        self.recent.push_batch(batch);
        for e in batch {
            self.strips.observe(e);
        }
        self.dirty = true;
    }

    /// Forgets all data (replay seeking backwards); view state stays.
    pub fn clear_data(&mut self) {
        self.counters = Counters::default();
        self.recent.clear();
        self.strips.clear();
        self.rates.reset();
        self.dirty = true;
    }

    /// Advances the session clock and samples rates.
    pub fn tick(&mut self, now_ns: u64) {
        self.clock_ns = now_ns;
        self.rates.sample(now_ns, &self.counters);
    }

    /// Copies the model's state into what is drawn, unless paused (then the old snapshot
    /// stays on screen while ingestion continues).
    pub fn refresh(&mut self, model: &dyn Model) {
        if self.paused {
            return;
        }
        model.fill(&mut self.shown.snap);
        self.shown.recent.clear();
        self.shown.recent.extend(self.recent.events.iter().copied());
        self.shown.strips.clone_from(&self.strips);
        self.shown.at_ns = self.clock_ns.max(self.strips.latest_ns);
        self.dirty = false;
        self.reorder();
        self.anchor_finding();
    }

    /// Keeps the finding selection on the finding the user moved to (by id) when new ones
    /// arrive on top; at the top it stays at the top.
    fn anchor_finding(&mut self) {
        let findings = &self.shown.snap.findings;
        if let Some(id) = self.finding_id
            && let Some(pos) = findings.iter().rev().position(|f| f.id == id)
        {
            self.findings.selected = pos;
        }
        self.findings.selected = self.findings.selected.min(findings.len().saturating_sub(1));
    }

    /// Recomputes the task display order and re-anchors the selection on its tid.
    pub fn reorder(&mut self) {
        let tasks = &self.shown.snap.tasks;
        let order = &mut self.shown.order;
        order.clear();
        let holders_only = self.holders_only;
        order.extend((0..tasks.len()).filter(|&i| {
            let t = &tasks[i];
            (!holders_only || !t.events.is_empty() || t.reads.total() > 0)
                && self.task_filter.matches_task(t)
        }));
        let (key, desc) = (self.sort, self.sort_desc);
        // Unstable is enough: the tid tie-break makes the order total.
        order.sort_unstable_by(|&a, &b| {
            let o = key.compare(&tasks[a], &tasks[b]);
            let o = if desc { o.reverse() } else { o };
            // Ties: by tid, so the order is stable from frame to frame.
            o.then(tasks[a].tid.cmp(&tasks[b].tid))
        });
        if let Some(tid) = self.task_tid
            && let Some(pos) = order.iter().position(|&i| tasks[i].tid == tid)
        {
            self.tasks.selected = pos;
        }
        self.tasks.selected = self.tasks.selected.min(order.len().saturating_sub(1));
        self.task_tid = order.get(self.tasks.selected).map(|&i| tasks[i].tid);
    }

    pub fn selected_task(&self) -> Option<&TaskRow> {
        self.shown
            .order
            .get(self.tasks.selected)
            .map(|&i| &self.shown.snap.tasks[i])
    }

    /// Index (from the oldest) of the selected finding.
    pub fn selected_finding(&self) -> Option<usize> {
        let n = self.shown.snap.findings.len();
        (self.findings.selected < n).then(|| n - 1 - self.findings.selected)
    }

    /// Events of the timeline that pass the filter, newest first.
    pub fn timeline_events(&self) -> impl Iterator<Item = &Event> {
        self.shown
            .recent
            .iter()
            .rev()
            .filter(|e| self.event_filter.matches_event(e))
    }

    /// Rows a page move jumps.
    fn page(&self) -> isize {
        (self.size.1 as isize - 8).max(1)
    }

    fn list_len(&self) -> usize {
        match self.view {
            View::Cpus => self.shown.snap.cpus.len(),
            View::Tasks => self.shown.order.len(),
            View::Findings => self.shown.snap.findings.len(),
            View::Timeline => self.shown.recent.len(),
        }
    }

    fn move_by(&mut self, by: isize) {
        if self.evidence.is_some() {
            self.evidence_scroll = (self.evidence_scroll as isize + by).max(0) as usize;
            return;
        }
        let len = self.list_len();
        match self.view {
            View::Cpus => self.cpus.moved(by, len),
            View::Tasks => {
                self.tasks.moved(by, len);
                self.task_tid = self.selected_task().map(|t| t.tid);
            }
            View::Findings => {
                self.findings.moved(by, len);
                self.finding_id = match self.findings.selected {
                    0 => None,
                    _ => self
                        .selected_finding()
                        .map(|i| self.shown.snap.findings[i].id),
                };
            }
            // The log is newest first: down goes back in time.
            View::Timeline => {
                let max = len.saturating_sub(1) as isize;
                self.timeline_scroll = (self.timeline_scroll as isize + by).clamp(0, max) as usize;
            }
        }
    }

    fn show(&mut self, v: View) {
        self.view = v;
        self.evidence = None;
        self.help = false;
    }

    pub fn update(&mut self, a: Action) {
        match a {
            Action::Quit => self.quit = true,
            Action::Show(v) => self.show(v),
            Action::NextView => self.show(self.view.step(1)),
            Action::PrevView => self.show(self.view.step(-1)),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-self.page()),
            Action::PageDown => self.move_by(self.page()),
            Action::Top => self.move_by(-(isize::MAX / 2)),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Enter => match self.view {
                View::Findings => {
                    self.evidence = self.selected_finding();
                    self.evidence_scroll = 0;
                }
                View::Tasks => {
                    if let Some(t) = self.selected_task() {
                        self.event_filter = Filter::new(&format!("tid={}", t.tid));
                        self.timeline_scroll = 0;
                        self.show(View::Timeline);
                    }
                }
                _ => {}
            },
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.evidence.is_some() {
                    self.evidence = None;
                } else if self.view == View::Tasks && !self.task_filter.is_empty() {
                    self.task_filter = Filter::default();
                    self.reorder();
                } else if self.view == View::Timeline && !self.event_filter.is_empty() {
                    self.event_filter = Filter::default();
                    self.timeline_scroll = 0;
                }
            }
            Action::TogglePause => match &mut self.replay {
                Some(r) => {
                    r.playing = !r.playing;
                    let p = r.playing;
                    self.commands
                        .push(Command::Replay(ReplayCommand::SetPlaying(p)));
                }
                None => {
                    self.paused = !self.paused;
                    self.dirty = true;
                }
            },
            Action::ToggleHelp => self.help = !self.help,
            Action::ToggleMouse => {
                self.mouse = !self.mouse;
                self.commands.push(Command::SetMouse(self.mouse));
            }
            Action::StartFilter => {
                let view = match self.view {
                    View::Tasks | View::Timeline => self.view,
                    // Filtering a list that has no filter of its own goes to the log.
                    View::Cpus | View::Findings => View::Timeline,
                };
                let text = match view {
                    View::Tasks => self.task_filter.text.clone(),
                    _ => self.event_filter.text.clone(),
                };
                self.show(view);
                self.filter_edit = Some(FilterEdit { view, text });
            }
            Action::FilterChar(c) => {
                if let Some(f) = &mut self.filter_edit {
                    f.text.push(c);
                    self.apply_filter();
                }
            }
            Action::FilterBackspace => {
                if let Some(f) = &mut self.filter_edit {
                    f.text.pop();
                    self.apply_filter();
                }
            }
            Action::FilterDone => self.filter_edit = None,
            Action::FilterCancel => {
                if let Some(f) = self.filter_edit.take() {
                    match f.view {
                        View::Tasks => self.task_filter = Filter::default(),
                        _ => self.event_filter = Filter::default(),
                    }
                    self.reorder();
                }
            }
            Action::NextSort => {
                self.sort = self.sort.next();
                self.sort_desc = self.sort.descending_by_default();
                self.reorder();
            }
            Action::ReverseSort => {
                self.sort_desc = !self.sort_desc;
                self.reorder();
            }
            Action::Seek(s) => {
                if self.replay.is_some() {
                    self.commands
                        .push(Command::Replay(ReplayCommand::SeekBy(s)));
                }
            }
            Action::Faster(up) => {
                if let Some(r) = &mut self.replay {
                    let s = if up { r.speed * 2.0 } else { r.speed / 2.0 };
                    r.speed = s.clamp(1.0 / 64.0, 1024.0);
                    let s = r.speed;
                    self.commands
                        .push(Command::Replay(ReplayCommand::SetSpeed(s)));
                }
            }
            Action::Restart => {
                if self.replay.is_some() {
                    self.commands.push(Command::Replay(ReplayCommand::Restart));
                }
            }
            Action::Resize(w, h) => self.size = (w, h),
        }
    }

    /// Live filtering while typing: the list narrows with each key.
    fn apply_filter(&mut self) {
        let Some(f) = &self.filter_edit else {
            return;
        };
        let filter = Filter::new(&f.text);
        match f.view {
            View::Tasks => {
                self.task_filter = filter;
                self.reorder();
            }
            _ => {
                self.event_filter = filter;
                self.timeline_scroll = 0;
            }
        }
    }
}
