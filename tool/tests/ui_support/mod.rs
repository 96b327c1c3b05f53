//! Shared by the UI tests and benches: a model that serves a fixed snapshot (what the engine
//! would say about the arm64 big.LITTLE lab), event builders, and rendering to text.
#![allow(dead_code, reason = "each test crate uses a part")]

use common::{Access, Event, Lost, Migrate, SchedSwitch, Trap, decode::event, header_for};
use pmuwatch::ui::{
    app::App,
    model::{
        CpuRow, EvidenceRow, FindingRow, Model, ReadCounts, Running, Severity, Snapshot, TaskRow,
        UserEvent,
    },
};
use ratatui::{Terminal, backend::TestBackend, buffer::Buffer};

/// Serves `snap`; counts what it was fed, so tests see that ingestion went on.
#[derive(Default)]
pub struct FixedModel {
    pub snap: Snapshot,
    pub fed: u64,
}

impl Model for FixedModel {
    fn feed(&mut self, _e: &Event) {
        self.fed += 1;
    }
    fn fill(&self, snap: &mut Snapshot) {
        snap.clone_from(&self.snap);
    }
    fn reset(&mut self) {
        self.fed = 0;
    }
}

pub const S: u64 = 1_000_000_000;
pub const T0: u64 = 100 * S;

pub fn switch(cpu: u32, ts: u64, tid: u32, comm: &str, before: Access, after: Access) -> Event {
    let mut s = SchedSwitch {
        h: header_for::<SchedSwitch>(cpu, ts, tid, tid),
        access: after as u8,
        prev_access: before as u8,
        ..Default::default()
    };
    s.next_comm[..comm.len()].copy_from_slice(comm.as_bytes());
    event(s)
}

pub fn migrate(ts: u64, tid: u32, from: u32, to: u32) -> Event {
    event(Migrate {
        h: header_for::<Migrate>(to, ts, 4711, tid),
        orig_cpu: from,
        dest_cpu: to,
    })
}

pub fn trap(cpu: u32, ts: u64, tid: u32) -> Event {
    let mut t = Trap {
        h: header_for::<Trap>(cpu, ts, 4711, tid),
        signo: libc::SIGILL as u32,
        si_code: 1,
        ip: 0x4005d0,
        insn_len: 4,
        result: 1,
        ..Default::default()
    };
    t.insn[..4].copy_from_slice(&0xd53b9d00u32.to_le_bytes());
    event(t)
}

pub fn lost(cpu: u32, ts: u64, n: u64) -> Event {
    event(Lost {
        h: header_for::<Lost>(cpu, ts, 0, 0),
        count: n,
    })
}

fn task(tid: u32, comm: &str, cpu: u32, reads: ReadCounts, migrations: u64) -> TaskRow {
    TaskRow {
        pid: 4711,
        tid,
        comm: comm.into(),
        cpu: Some(cpu),
        events: vec![UserEvent {
            pmu: "armv8_cortex_a53".into(),
            counter: Some(31),
            enabled: true,
        }],
        reads,
        migrations,
        toggles: 10 * migrations,
        alive: true,
    }
}

/// The arm64 lab: cortex-a53 PMU on CPUs 0-1, cortex-a72 on 2-3; a reader thread that
/// migrated to CPU 2 and trapped.
pub fn hetero() -> Snapshot {
    let pmu = |c: u32| {
        if c < 2 {
            "armv8_cortex_a53"
        } else {
            "armv8_cortex_a72"
        }
    };
    let kind = |c: u32| if c < 2 { "cortex-a53" } else { "cortex-a72" };
    let cpus = (0..4)
        .map(|c| CpuRow {
            cpu: c,
            pmu: Some(pmu(c).into()),
            kind: Some(kind(c).into()),
            running: (c == 0 || c == 2).then(|| Running {
                pid: 4711,
                tid: if c == 0 { 4711 } else { 4712 },
                comm: if c == 0 { "demo" } else { "demo-reader" }.into(),
            }),
            access: if c == 0 { Access::On } else { Access::Off },
            exact: false,
            toggles: 1900 * u64::from(c == 0),
            toggles_per_s: 1900 * u64::from(c == 0),
            toggle_history: if c == 0 {
                vec![0, 100, 1000, 1900]
            } else {
                vec![]
            },
            traps: 3 * u64::from(c == 2),
            aborts: 8 * u64::from(c == 2),
        })
        .collect();
    let tasks = vec![
        task(
            4711,
            "demo",
            0,
            ReadCounts {
                ok: 120_000,
                seq_retry: 12,
                ..Default::default()
            },
            1,
        ),
        task(
            4712,
            "demo-reader",
            2,
            ReadCounts {
                ok: 5000,
                index0_fallback: 5,
                trap: 3,
                ..Default::default()
            },
            4,
        ),
        task(4713, "demo-idle", 1, ReadCounts::default(), 0),
    ];
    let findings = vec![
        FindingRow {
            id: 1,
            ts_ns: T0 + S,
            last_ts_ns: T0 + 2 * S,
            count: 7,
            severity: Severity::Warning,
            rule: "toggle-churn".into(),
            text: "CPU 0 toggled user access 1,900 times/s between tasks 4711 and 4713".into(),
            remedy: "keep reader threads apart from others on CPU 0, or pin them".into(),
            tasks: vec![4711, 4713],
            cpus: vec![0],
            evidence: vec![
                EvidenceRow::of(&switch(0, T0 + S, 4711, "demo", Access::Off, Access::On)),
                EvidenceRow::of(&switch(0, T0 + S + 1000, 4713, "demo-idle", Access::On, Access::Off)),
            ],
            site: None,
        },
        FindingRow {
            id: 2,
            ts_ns: T0 + 2 * S,
            last_ts_ns: T0 + 2 * S,
            count: 1,
            severity: Severity::Error,
            rule: "wrong-pmu-read".into(),
            text: "thread 4712 read PMU armv8_cortex_a53 counter 31 on CPU 2 (cortex-a72) after migrating from CPU 1".into(),
            remedy: "pin to CPUs 0-1, or open one event per PMU type".into(),
            tasks: vec![4712],
            cpus: vec![2],
            evidence: vec![
                EvidenceRow::of(&migrate(T0 + 2 * S - 500, 4712, 1, 2)),
                EvidenceRow::of(&trap(2, T0 + 2 * S, 4712)),
            ],
            site: Some(0),
        },
    ];
    Snapshot {
        totals: Default::default(),
        tasks,
        cpus,
        findings,
    }
}

/// A stream matching [`hetero`]: switches with toggles on two CPUs, a migration, a trap.
pub fn hetero_events() -> Vec<Event> {
    let mut v = vec![
        switch(0, T0, 4711, "demo", Access::Off, Access::On),
        switch(1, T0 + 10, 4713, "demo-idle", Access::Off, Access::Off),
    ];
    for i in 1..8u64 {
        let on = i % 2 == 0;
        let (a, b) = if on {
            (Access::Off, Access::On)
        } else {
            (Access::On, Access::Off)
        };
        v.push(switch(
            0,
            T0 + i * S / 4,
            if on { 4711 } else { 4713 },
            "demo",
            a,
            b,
        ));
    }
    v.push(migrate(T0 + 2 * S - 500, 4712, 1, 2));
    v.push(trap(2, T0 + 2 * S, 4712));
    v
}

/// An app showing `snap` (refreshed once) after `events`.
pub fn app_with(snap: Snapshot, events: &[Event]) -> (App, FixedModel) {
    let mut app = App::new(pmuwatch::ui::app::Source {
        target: "pid 4711 (demo)".into(),
        coverage: vec!["sched_switch tp_btf".into(), "driver hooks ~model".into()],
        sites: vec!["mrs PMCCNTR_EL0 at read_cycles+0x10 (cycles.c:42) in /opt/reader".into()],
    });
    let mut model = FixedModel { snap, fed: 0 };
    model.feed_batch(events);
    app.ingest(events);
    app.tick(T0 + 2 * S);
    app.refresh(&model);
    app.update(pmuwatch::ui::app::Action::Resize(80, 24));
    (app, model)
}

pub fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| f.render_widget(app, f.area())).expect("draw");
    t.backend().buffer().clone()
}

/// The buffer as text lines (trailing spaces kept: widths are part of the layout).
pub fn lines(b: &Buffer) -> Vec<String> {
    let a = b.area;
    (0..a.height)
        .map(|y| (0..a.width).map(|x| b[(x, y)].symbol()).collect())
        .collect()
}

pub fn text(b: &Buffer) -> String {
    lines(b).join("\n")
}

/// A trace of the synthetic demo-shaped stream, as `record` writes it.
pub fn write_trace(path: &std::path::Path, events: usize) {
    use pmuwatch::trace::{Meta, Target, TraceWriter, Trailer, synth};
    let facts = pmuwatch::sys::Facts::read(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arm64-hetero"),
    );
    let mut meta = Meta::now(
        vec!["pmuwatch".into(), "record".into()],
        Target {
            pid: Some(4242),
            ..Target::default()
        },
    );
    meta.facts = serde_json::to_value(&facts).expect("facts json");
    let mut w = TraceWriter::create(path, &meta).expect("create trace");
    for e in synth::events(events, 7) {
        w.push(&e).expect("write event");
    }
    w.finish(&Trailer::default()).expect("finish trace");
}
