//! Rendering snapshots with ratatui's `TestBackend`: the empty case, 80x24, every view, the
//! overlays, drops, pause, monochrome, tiny terminals and 10,000 tasks.

mod ui_support;

use pmuwatch::ui::{
    app::{Action, App, Source, View},
    model::TaskRow,
};
use ratatui::{buffer::Buffer, style::Color};
use ui_support::*;

fn empty_app() -> App {
    let mut app = App::new(Source {
        target: "system-wide".into(),
        coverage: vec![],
        sites: vec![],
    });
    app.update(Action::Resize(80, 24));
    app
}

fn blank(n: usize) -> Vec<&'static str> {
    vec![""; n]
}

/// Expected lines, padded to the width (`Buffer::with_lines` pads too; styles are left out of
/// the comparison: meaning must not rest on them).
fn assert_text(got: &Buffer, want: &[&str]) {
    let want = Buffer::with_lines(want.iter().map(|l| format!("{l:<80}")));
    assert_eq!(text(got), text(&want), "\n{}\n", text(got));
}

#[test]
fn empty_cpus_view_at_80x24() {
    let mut want = vec![
        " pmuwatch   1 CPUs   2 Tasks   3 Findings   4 Timeline",
        " events 0 (0/s)  lost 0  tasks 0  findings 0",
        " system-wide  probes: (none reported)",
        " CPU    ACCESS  RUNNING               TOGGLES/S                   TRAPS ABORTS",
        "",
        " no CPU activity yet (waiting for events)",
    ];
    want.extend(blank(17));
    want.push("1-4 views  Up/Down scroll  / filter  space pause  ? help  q quit");
    assert_text(&render(&empty_app(), 80, 24), &want);
}

#[test]
fn empty_views_say_what_they_wait_for() {
    let mut app = empty_app();
    let expect = [
        (View::Tasks, "no tasks with user-readable events yet"),
        (View::Findings, "no findings yet"),
        (View::Timeline, "no events yet"),
    ];
    for (v, msg) in expect {
        app.update(Action::Show(v));
        let t = text(&render(&app, 80, 24));
        assert!(t.contains(msg), "{v:?}:\n{t}");
        assert!(t.contains("lost 0"), "drops are always shown");
    }
}

#[test]
fn cpus_view_groups_lanes_by_pmu_with_access_in_words() {
    let (app, _) = app_with(hetero(), &hetero_events());
    let l = lines(&render(&app, 80, 24));
    assert_eq!(
        l[1].trim_end(),
        " events 11 (0/s)  lost 0  tasks 3  findings 2"
    );
    assert_eq!(
        l[2].trim_end(),
        " pid 4711 (demo)  probes: sched_switch tp_btf | driver hooks ~model"
    );
    assert_eq!(
        l[4].trim_end(),
        " PMU armv8_cortex_a53 (cortex-a53): CPUs 0-1"
    );
    assert!(
        l[5].starts_with(">cpu0   ON~        4711 demo "),
        "{}",
        l[5]
    );
    assert!(l[6].starts_with(" cpu1   off~          - idle"), "{}", l[6]);
    assert_eq!(
        l[7].trim_end(),
        " PMU armv8_cortex_a72 (cortex-a72): CPUs 2-3"
    );
    assert!(
        l[8].starts_with(" cpu2   off~       4712 demo-reader"),
        "{}",
        l[8]
    );
    assert!(
        l[8].trim_end().ends_with("3      8"),
        "traps, aborts: {}",
        l[8]
    );
}

#[test]
fn toggles_per_second_show_as_a_sparkline_and_a_number() {
    let (app, _) = app_with(hetero(), &[]);
    let l = lines(&render(&app, 80, 24));
    // History 0, 100, 1000, 1900 per second, scaled to the largest.
    assert!(l[5].contains(" ▁▄█   1900"), "{}", l[5]);
}

#[test]
fn tasks_view_fits_80_columns_worst_first() {
    let (mut app, _) = app_with(hetero(), &hetero_events());
    app.update(Action::Show(View::Tasks));
    let l = lines(&render(&app, 80, 24));
    assert_eq!(l[3].trim_end(), " Tasks 3 of 3  sort: bad reads (desc)");
    assert_eq!(
        l[4].trim_end(),
        "      TID COMM       CPU EVENTS        OK RETRY FALLBK  TRAP WRONG  MIGR  TOGL"
    );
    assert_eq!(
        l[5].trim_end(),
        ">    4712 demo-reade   2 a53#31      5000     0      5     3     0     4    40"
    );
    assert_eq!(
        l[6].trim_end(),
        "     4711 demo         0 a53#31    120.0k    12      0     0     0     1    10"
    );
    // Wider terminals add the pid and full names.
    let wide = lines(&render(&app, 120, 30));
    assert!(wide[4].contains("PID"), "{}", wide[4]);
    assert!(wide[5].contains("demo-reader"), "{}", wide[5]);
}

#[test]
fn findings_newest_first_with_remedy_and_evidence_overlay() {
    let (mut app, _) = app_with(hetero(), &hetero_events());
    app.update(Action::Show(View::Findings));
    let l = lines(&render(&app, 80, 24));
    assert!(
        l[4].starts_with(">    2.000s ERROR wrong-pmu-read thread 4712"),
        "{}",
        l[4]
    );
    assert_eq!(
        l[5].trim_end(),
        "            fix: pin to CPUs 0-1, or open one event per PMU type"
    );
    assert!(l[6].contains("WARN  toggle-churn"), "{}", l[6]);
    app.update(Action::Enter);
    let t = text(&render(&app, 80, 24));
    assert!(t.contains("Evidence (Esc closes"), "{t}");
    assert!(t.contains("evidence: 2 events, oldest first"), "{t}");
    assert!(t.contains("migrate      cpu 1 -> 2"), "{t}");
    assert!(t.contains("SIGILL code 1 at 0x4005d0 (mrs PMCC"), "{t}");
    // The read site behind the finding, named down to its source line.
    assert!(
        t.contains("at: mrs PMCCNTR_EL0 at read_cycles+0x10 (cycles.c:42)"),
        "{t}"
    );
    // The text wraps inside the overlay instead of being cut.
    assert!(t.contains("migrating from CPU 1"), "{t}");
}

#[test]
fn timeline_shows_the_cpu_strip_and_the_log_newest_first() {
    let (mut app, _) = app_with(hetero(), &hetero_events());
    app.update(Action::Show(View::Timeline));
    let l = lines(&render(&app, 80, 24));
    assert!(
        l[3].starts_with(" CPU strip (250 ms/column, newest right)"),
        "{}",
        l[3]
    );
    // Bucket by bucket on CPU 0: toggles every 250 ms, then off at the end.
    assert!(l[4].trim_end().ends_with("||||||||."), "{}", l[4]);
    assert!(l[6].trim_end().ends_with('!'), "trap on cpu2: {}", l[6]);
    assert_eq!(l[7].trim_end(), " Events, newest first (11 kept)");
    assert!(l[8].contains("trap         SIGILL"), "{}", l[8]);
    assert!(l[9].contains("migrate      cpu 1 -> 2"), "{}", l[9]);
}

#[test]
fn drops_pause_and_notices_are_never_hidden() {
    let (mut app, _) = app_with(hetero(), &[lost(1, T0, 1234), lost(0, T0, 6)]);
    app.update(Action::TogglePause);
    app.notice = Some("target exited (status 0)".into());
    let l = lines(&render(&app, 80, 24));
    assert!(
        l[0].trim_end().ends_with("PAUSED (still counting)"),
        "{}",
        l[0]
    );
    assert!(l[1].contains("LOST 1240 (cpu1:1234 cpu0:6)"), "{}", l[1]);
    assert_eq!(l[22].trim_end(), "target exited (status 0)");
}

/// The attach methods a live run on this VM reports (no driver hooks: the model stands in).
fn live_coverage() -> Vec<String> {
    [
        "sched_switch tp_btf",
        "migrations tp_btf",
        "fork tp_btf",
        "exec tp_btf",
        "exit tp_btf",
        "hook cr4_update_pce NONE",
        "hook perf_clear_dirty_counters NONE",
        "hook __perf_event_task_sched_in NONE",
        "hook __perf_event_task_sched_out NONE",
        "driver hooks ~model",
        "perf_event_open tracepoint",
        "perf_ioctl tracepoint",
        "perf_mmap tracepoint",
        "munmap tracepoint",
        "perf_read tracepoint",
        "perf_close tracepoint",
        "perf_fd_exec tracepoint",
        "traps tp_btf",
        "direct reads uprobe",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn header_at_80x24_keeps_target_methods_drops_and_rate() {
    let drops = [lost(1, T0, 12_345), lost(0, T0, 6), lost(2, T0, 7)];
    let (mut app, _) = app_with(hetero(), &drops);
    app.source = Source {
        target: "built-in demo, pid 21815".into(),
        coverage: live_coverage(),
        sites: vec![],
    };
    app.counters.events = 123_456_789;
    app.rates.events_per_s = 1_048_576.0;
    let l = lines(&render(&app, 80, 24));
    // Too long with the per-CPU drop detail: the total stays, the detail goes.
    assert_eq!(
        l[1].trim_end(),
        " events 123.5M (1.0M/s)  LOST 12.4k  tasks 3  findings 2"
    );
    // 19 methods do not fit at 80 columns: the exact ones are counted, the modelled one is named.
    assert_eq!(
        l[2].trim_end(),
        " built-in demo, pid 21815  probes: 14 exact | driver hooks ~model | 4 NONE"
    );
    // Wide enough, everything is spelled out.
    let wide = lines(&render(&app, 600, 30));
    assert!(
        wide[1].contains("LOST 12.4k (cpu1:12.3k cpu2:7 +1 cpus)"),
        "{}",
        wide[1]
    );
    assert!(
        wide[2].contains("probes: sched_switch tp_btf | migrations tp_btf |"),
        "{}",
        wide[2]
    );
    // A long target gives way to the methods, cut in the middle so both ends show.
    app.source.target =
        "replay /var/tmp/pmuwatch-runs/2026-11-26/reader-8-threads.pmw (`./reader --threads 8`)"
            .into();
    let l = lines(&render(&app, 80, 24));
    assert_eq!(
        l[2].trim_end(),
        " replay /var/tmp… --threads 8`)  probes: 14 exact | driver hooks ~model | 4 NONE"
    );
    // Every view keeps the header.
    for v in View::ALL {
        app.update(Action::Show(v));
        let l = lines(&render(&app, 80, 24));
        assert!(l[1].contains("LOST 12.4k") && l[1].contains("/s)"), "{v:?}");
        assert!(l[2].contains("~model"), "{v:?}");
    }
}

#[test]
fn help_lists_every_key_at_80x24() {
    let (mut app, _) = app_with(hetero(), &[]);
    app.update(Action::ToggleHelp);
    let t = text(&render(&app, 80, 24));
    for (keys, what) in pmuwatch::ui::keys::HELP {
        assert!(t.contains(keys) && t.contains(what), "{keys}: {what}\n{t}");
    }
}

#[test]
fn monochrome_uses_no_colour_and_keeps_the_meaning() {
    let (mut app, _) = app_with(hetero(), &hetero_events());
    app.color = false;
    for v in View::ALL {
        app.update(Action::Show(v));
        let b = render(&app, 80, 24);
        for cell in b.content() {
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "{v:?}: coloured cell {cell:?}"
            );
        }
    }
    app.update(Action::Show(View::Cpus));
    let t = text(&render(&app, 80, 24));
    assert!(
        t.contains(" ON~ ") && t.contains(" off~ "),
        "access in words"
    );
}

#[test]
fn tiny_terminals_get_a_message_not_a_panic() {
    let (mut app, _) = app_with(hetero(), &hetero_events());
    for (w, h) in [(1, 1), (20, 5), (39, 30), (80, 9)] {
        let t = text(&render(&app, w, h));
        assert!(w < 20 || t.contains("pmuwatch needs 40x10"), "{w}x{h}: {t}");
    }
    // The smallest laid-out size draws every view and overlay.
    for v in View::ALL {
        app.update(Action::Show(v));
        app.update(Action::Enter);
        render(&app, 40, 10);
        app.update(Action::ToggleHelp);
        render(&app, 40, 10);
        app.update(Action::ToggleHelp);
    }
}

#[test]
fn ten_thousand_tasks_draw_only_the_visible_rows_around_the_selection() {
    let (mut app, mut model) = app_with(hetero(), &[]);
    model.snap.tasks = (0..10_000)
        .map(|i| TaskRow {
            pid: 1,
            tid: 100_000 + i,
            comm: format!("t{i}"),
            migrations: u64::from(i),
            alive: true,
            ..Default::default()
        })
        .collect();
    app.dirty = true;
    app.refresh(&model);
    app.update(Action::Show(View::Tasks));
    for _ in 0..5 {
        app.update(Action::NextSort); // bad, traps, fallbacks, wrong-pmu, reads, migrations
    }
    assert_eq!(app.sort.name(), "migrations");
    app.update(Action::Top);
    app.update(Action::PageDown);
    app.update(Action::PageDown);
    let l = lines(&render(&app, 80, 24));
    assert_eq!(
        l[3].trim_end(),
        " Tasks 10000 of 10000  sort: migrations (desc)"
    );
    // Selected: the 33rd worst (2 pages of 16): migrations 9999 - 32.
    let sel = l
        .iter()
        .find(|r| r.starts_with('>'))
        .expect("a selected row");
    assert!(sel.contains("109967 t9967"), "{sel}");
    assert!(
        l[5].contains("t99"),
        "scrolled so the selection is on screen: {}",
        l[5]
    );
}
