//! The live view's costs, with the real engine behind it:
//! - `frame/*`: one frame with 10,000 tasks: the snapshot copied out of the engine (fill,
//!   filter, sort) and the drawing of a view into a terminal buffer;
//! - `ingest/*`: feeding batches of a demo-shaped stream (engine + the view's own history):
//!   events per second the loop can take;
//! - `latency/*`: a batch arriving -> the frame that shows it drawn; a key -> its frame;
//! - `steady/*`: a tenth of a second of the load (1 M events/s, 10,000 tasks, one
//!   frame): under 100 ms means the view keeps up.
//!
//! `cargo bench -p tool --bench ui`. Figures: docs/benchmarks.md (TUI).

#[path = "../tests/ui_support/mod.rs"]
mod ui_support;

use std::hint::black_box;

use common::{
    Comm, Event, Migrate, PerfMmap, PerfOpen, PerfRead, SchedSwitch, decode::event, header_for,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pmuwatch::{
    engine::{Engine, examples},
    trace::synth,
    ui::{
        app::{Action, App, Source, View},
        runner::{Inbox, Session},
    },
};
use ratatui::{Terminal, backend::TestBackend};

const TASKS: u32 = 10_000;

/// A stream that leaves the engine with `TASKS` threads, each holding a user-readable event
/// on the big.LITTLE lab's PMUs, some reads falling back and migrations.
fn ten_thousand_tasks() -> Vec<Event> {
    let mut v = Vec::new();
    let mut ts = 1_000_000_000u64;
    for i in 0..TASKS {
        let (pid, tid) = (100_000 + i / 8 * 8, 100_000 + i);
        let cpu = i % 4;
        ts += 1000;
        let mut comm = [0u8; 16];
        let name = format!("worker-{i}");
        comm[..name.len()].copy_from_slice(name.as_bytes());
        v.push(event(Comm {
            h: header_for::<Comm>(cpu, ts, pid, tid),
            comm,
        }));
        v.push(event(PerfOpen {
            h: header_for::<PerfOpen>(cpu, ts + 1, pid, tid),
            attr_type: if cpu < 2 { 10 } else { 11 },
            config: 0x11,
            config1: 2,
            target_pid: 0,
            cpu_arg: -1,
            group_fd: -1,
            ret: 3,
            ..Default::default()
        }));
        v.push(event(PerfMmap {
            h: header_for::<PerfMmap>(cpu, ts + 2, pid, tid),
            fd: 3,
            prot: 1,
            len: 4096,
            ret: 0x7f00_0000_0000,
        }));
        if i % 3 == 0 {
            v.push(event(Migrate {
                h: header_for::<Migrate>(cpu, ts + 3, pid, tid),
                orig_cpu: cpu,
                dest_cpu: (cpu + 2) % 4,
            }));
            v.push(event(PerfRead {
                h: header_for::<PerfRead>((cpu + 2) % 4, ts + 4, pid, tid),
                fd: 3,
                count: 8,
                ret: 8,
                ..Default::default()
            }));
        }
        v.push(event(SchedSwitch {
            h: header_for::<SchedSwitch>(cpu, ts + 5, pid, tid),
            access: 1,
            prev_access: 0,
            next_nr_user: 1,
            involves_target: 1,
            ..Default::default()
        }));
    }
    v
}

fn session_with_10k() -> Session<Engine> {
    let mut engine = Engine::new(examples::arm64_hetero());
    let stream = ten_thousand_tasks();
    engine.feed_all(stream.iter());
    let mut app = App::new(Source {
        target: "bench".into(),
        coverage: vec!["sched_switch tp_btf".into()],
        sites: vec![],
    });
    app.ingest(&stream);
    app.update(Action::Resize(80, 24));
    let mut s = Session::new(app, engine, None);
    s.frame();
    assert_eq!(s.app.shown.snap.tasks.len(), TASKS as usize);
    s
}

fn frame(c: &mut Criterion) {
    let mut s = session_with_10k();
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    let mut g = c.benchmark_group("frame");
    g.bench_function("snapshot_10k_tasks", |b| {
        b.iter(|| {
            s.app.dirty = true;
            black_box(s.frame());
        })
    });
    for v in View::ALL {
        s.app.update(Action::Show(v));
        g.bench_function(format!("draw_{}_80x24", v.title()), |b| {
            b.iter(|| {
                term.draw(|f| f.render_widget(&s.app, f.area()))
                    .expect("draw");
            })
        });
    }
    let mut big = Terminal::new(TestBackend::new(250, 70)).expect("backend");
    s.app.update(Action::Show(View::Tasks));
    g.bench_function("snapshot_and_draw_tasks_250x70", |b| {
        b.iter(|| {
            s.app.dirty = true;
            s.frame();
            big.draw(|f| f.render_widget(&s.app, f.area()))
                .expect("draw");
        })
    });
    g.finish();
}

fn ingest(c: &mut Criterion) {
    let stream = synth::events(200_000, 3);
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(stream.len() as u64));
    g.sample_size(10);
    g.bench_function("demo_stream_batches_of_4096", |b| {
        b.iter_batched(
            || {
                Session::new(
                    App::new(Source::default()),
                    Engine::new(examples::arm64_hetero()),
                    None,
                )
            },
            |mut s| {
                for chunk in stream.chunks(4096) {
                    s.handle(Inbox::Batch(chunk.to_vec()));
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn latency(c: &mut Criterion) {
    let mut s = session_with_10k();
    s.app.update(Action::Show(View::Timeline));
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    let batch: Vec<Event> = synth::events(4096, 9);
    let mut g = c.benchmark_group("latency");
    // A batch lands in the inbox; the next frame copies the snapshot and draws it.
    g.bench_function("batch_4096_to_screen_10k_tasks", |b| {
        b.iter(|| {
            s.handle(Inbox::Batch(batch.clone()));
            s.frame();
            term.draw(|f| f.render_widget(&s.app, f.area()))
                .expect("draw");
        })
    });
    // A key is drawn at once, without waiting for the frame tick or copying the snapshot.
    s.app.update(Action::Show(View::Tasks));
    g.bench_function("key_to_screen_10k_tasks", |b| {
        b.iter(|| {
            s.handle(Inbox::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)));
            term.draw(|f| f.render_widget(&s.app, f.area()))
                .expect("draw");
        })
    });
    g.finish();
}

/// The load: 10,000 tasks with 1 M events/s arriving. A tenth of a second of it is
/// 100,000 events (25 batches as the ring-buffer pump sends them) and one frame (snapshot
/// of the engine, task table drawn); the loop keeps up while this takes under 100 ms, and
/// the figure over 100 ms is the share of one core the view needs.
fn steady(c: &mut Criterion) {
    let mut s = session_with_10k();
    s.app.update(Action::Show(View::Tasks));
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    const TENTH: usize = 100_000;
    let stream = synth::events(10 * TENTH, 11);
    let mut at = 0;
    let mut g = c.benchmark_group("steady");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TENTH as u64));
    g.bench_function("tenth_of_a_second_at_1M_events_per_s_10k_tasks", |b| {
        b.iter(|| {
            for chunk in stream[at..at + TENTH].chunks(4096) {
                s.handle(Inbox::Batch(chunk.to_vec()));
            }
            at = (at + TENTH) % stream.len();
            s.frame();
            term.draw(|f| f.render_widget(&s.app, f.area()))
                .expect("draw");
        })
    });
    g.finish();
}

criterion_group!(benches, frame, ingest, latency, steady);
criterion_main!(benches);
