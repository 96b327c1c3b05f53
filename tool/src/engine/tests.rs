//! One test per rule, on small scripted streams.

use super::{script::parse, *};

fn run(facts: Facts, text: &str) -> Engine {
    let mut e = Engine::new(facts);
    for ev in parse(text).unwrap() {
        e.feed(&ev);
    }
    e
}

fn kinds(e: &Engine) -> Vec<FindingKind> {
    let mut k: Vec<FindingKind> = e.findings().iter().map(|f| f.kind).collect();
    k.sort();
    k
}

const ARM_OPEN: &str = "\
0   0 100 100 sysctl perf_user_access=1 paranoid=2
1ms 0 100 100 comm comm=demo
2ms 0 100 100 perf_open attr_type=10 config=0x11 config1=0x2 ret=3
3ms 0 100 100 perf_mmap fd=3 len=4096 ret=0x7f0000
";

#[test]
fn homogeneous_reads_with_access_on_are_ok() {
    let e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}\n{}",
            ARM_OPEN.replace("attr_type=10", "attr_type=8"),
            "4ms 0 100 100 direct_read ip=0x400 reg=pmccntr counter=31
             5ms 0 100 100 direct_read ip=0x400 reg=pmccntr counter=31
             6ms 0 100 100 page_sample fd=3 index=32 lock=2"
        ),
    );
    let t = e.totals().counts;
    assert_eq!((t.reads.ok, t.traps, t.reads.pending), (2, 0, 0));
    assert!(e.findings().is_empty(), "{:?}", e.findings());
    let row = e.task_row(100).unwrap();
    assert_eq!(row.comm, "demo");
    assert_eq!(row.events[0].pmu.as_deref(), Some("armv8_pmuv3"));
    assert_eq!(row.events[0].counter, Some(31));
    // The open turned access on for CPU 0 (unknown before: not a toggle).
    assert_eq!(e.cpu_lanes()[0].access, UserAccess::On);
}

#[test]
fn a_direct_read_stays_pending_until_the_thread_moves_on_or_flush() {
    let mut e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}4ms 0 100 100 direct_read ip=0x400 counter=31",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    assert_eq!(e.totals().counts.reads.pending, 1);
    e.flush();
    let r = e.totals().counts.reads;
    assert_eq!((r.pending, r.ok), (0, 1));
}

#[test]
fn sysctl_off_gives_fallbacks_and_traps_with_the_sysctl_remedy() {
    let e = run(
        examples::arm64_homogeneous(),
        "0 0 100 100 sysctl perf_user_access=0
         2ms 0 100 100 perf_open attr_type=8 config=0x11 config1=0x2 ret=3
         3ms 0 100 100 perf_mmap fd=3 len=4096 ret=0x7f0000
         4ms 0 100 100 page_sample fd=3 index=0 lock=1
         5ms 0 100 100 perf_read fd=3 ret=8
         6ms 0 100 100 trap signo=4 si_code=1 ip=0x400 word=0xd53b9d00
         7ms 0 100 100 trap signo=4 si_code=1 ip=0x404 word=0xd53be800",
    );
    let t = e.totals().counts;
    assert_eq!((t.fallback_reads, t.traps, t.reads.trap), (1, 2, 2));
    let f = e.findings();
    let off: Vec<_> = f
        .iter()
        .filter(|f| f.kind == FindingKind::SysctlOff)
        .collect();
    assert_eq!(off.len(), 1);
    assert_eq!(off[0].remedy, "sysctl -w kernel.perf_user_access=1");
    assert_eq!(off[0].count, 3);
    assert!(
        off[0].text.contains("1 fallbacks, 2 traps"),
        "{}",
        off[0].text
    );
    let reads: Vec<_> = e.recent_reads().map(|r| r.cause).collect();
    assert_eq!(reads[0], ReadCause::Fallback(FallbackCause::SysctlOff));
    assert_eq!(reads[1], ReadCause::Trap(TrapCause::SysctlOff));
}

const HETERO: &str = "\
0   0 100 100 sysctl perf_user_access=1
1ms 1 100 100 comm comm=reader
2ms 1 100 100 perf_open attr_type=10 config=0x11 config1=0x2 ret=3
3ms 1 100 100 perf_mmap fd=3 len=4096 ret=0x7f0000
4ms 1 100 100 page_sample fd=3 index=32 lock=2
5ms 1 100 100 direct_read ip=0x400 reg=pmccntr counter=31
6ms 2 100 100 migrate orig_cpu=1 dest_cpu=2
";

#[test]
fn hetero_fallback_on_a_foreign_cpu_names_the_pmu_and_the_pin() {
    let e = run(
        examples::arm64_hetero(),
        &format!("{HETERO}7ms 2 100 100 perf_read fd=3 ret=8\n"),
    );
    let f = e.findings();
    assert_eq!(kinds(&e), vec![FindingKind::WrongCpuType]);
    assert_eq!(
        f[0].line(),
        "thread 100 (reader) fell back to read(2) once: its PMU armv8_cortex_a53 event does not count on CPU 2 (cortex-a72): \
         pin to CPUs 0-1 (taskset -c 0-1), or open one event per PMU type and read the one of the current CPU"
    );
    assert_eq!(e.totals().counts.reads.ok, 1);
    assert_eq!(e.totals().counts.migrations, 1);
}

#[test]
fn hetero_trap_after_migration_reads_like_the_issue() {
    let e = run(
        examples::arm64_hetero(),
        &format!(
            "{HETERO}7ms 2 100 100 direct_read ip=0x400 reg=pmccntr counter=31
             7001us 2 100 100 trap signo=4 si_code=1 ip=0x400 word=0xd53b9d00\n"
        ),
    );
    assert_eq!(kinds(&e), vec![FindingKind::TrapWrongPmu]);
    let f = &e.findings()[0];
    assert!(
        f.text.starts_with(
            "thread 100 (reader) read PMU armv8_cortex_a53 counter 31 on CPU 2 (cortex-a72) after migrating from CPU 1 and trapped (SIGILL, once)"
        ),
        "{}",
        f.text
    );
    assert!(f.remedy.starts_with("pin to CPUs 0-1"));
    let r = e.totals().counts.reads;
    assert_eq!((r.ok, r.trap, r.pending), (1, 1, 0));
    // Evidence holds the migration and the trap.
    let ev: Vec<&str> = f.evidence.iter().map(|r| r.kind.as_str()).collect();
    assert!(ev.contains(&"migrate") && ev.contains(&"trap"), "{ev:?}");
}

#[test]
fn hetero_read_without_trap_on_a_foreign_cpu_is_silent_wrong_pmu() {
    let e = run(
        examples::arm64_hetero(),
        &format!(
            "{HETERO}7ms 2 100 100 direct_read ip=0x400 reg=pmccntr counter=31
             8ms 2 100 100 perf_read fd=3 ret=8\n"
        ),
    );
    let r = e.totals().counts.reads;
    assert_eq!((r.ok, r.silent_wrong_pmu, r.index0_fallback), (1, 1, 1));
    assert!(kinds(&e).contains(&FindingKind::SilentWrongPmu));
    assert_eq!(e.cpu_lanes()[2].silent, 1);
}

#[test]
fn access_left_open_is_seen_when_a_task_without_events_reads_without_trap() {
    let e = run(
        examples::arm64_homogeneous(),
        "0 0 100 100 sysctl perf_user_access=1
         2ms 0 100 100 perf_open attr_type=8 config=0x11 config1=0x2 ret=3
         3ms 0 100 100 perf_close fd=3 ret=0
         4ms 0 100 100 exit group_dead=1
         5ms 0 200 200 comm comm=stranger
         6ms 0 200 200 direct_read ip=0x500 reg=pmccntr counter=31
         7ms 0 200 200 exit group_dead=1",
    );
    assert_eq!(kinds(&e), vec![FindingKind::AccessLeftOpen]);
    let f = &e.findings()[0];
    assert!(
        f.text
            .starts_with("CPU 0 (cortex-a72) kept user counter access on"),
        "{}",
        f.text
    );
    assert!(f.text.contains("closed by thread 100"), "{}", f.text);
    assert!(f.remedy.contains("perf_user_access=0 then =1"));
}

#[test]
fn sysctl_flip_while_open_makes_traps_a_flip_finding() {
    let e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}4ms 0 100 100 direct_read ip=0x400 counter=31
             5ms 0 0 0 sysctl perf_user_access=0
             6ms 0 100 100 page_sample fd=3 index=32 lock=2
             7ms 0 100 100 direct_read ip=0x400 counter=31
             7001us 0 100 100 trap signo=4 si_code=1 ip=0x400 word=0xd53b9d00",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    assert_eq!(kinds(&e), vec![FindingKind::SysctlFlipped]);
    let f = &e.findings()[0];
    assert!(
        f.text.contains("1 user-readable event(s) were open"),
        "{}",
        f.text
    );
    assert!(f.text.contains("(1 traps since)"), "{}", f.text);
    let lane = &e.cpu_lanes()[0];
    assert_eq!(lane.access, UserAccess::Off);
    assert_eq!(lane.toggles, 1);
    assert_eq!(lane.recent_toggles[0].cause, ToggleCause::Sysctl);
}

#[test]
fn switch_churn_is_counted_per_second_with_the_pair() {
    let mut s = String::from("0 0 100 100 sysctl perf_user_access=1\n");
    for i in 0..300u64 {
        let ts = 1_000_000_000 + i * 3_000_000;
        let (next, prev, acc, name) = if i % 2 == 0 {
            (100, 7, "on", "reader")
        } else {
            (7, 100, "off", "kworker")
        };
        s += &format!(
            "{ts} 3 {next} {next} sched_switch prev_tid={prev} access={acc} next_comm={name}\n"
        );
    }
    let e = run(examples::arm64_homogeneous(), &s);
    let lane = &e.cpu_lanes()[3];
    assert_eq!(lane.toggles, 299);
    assert_eq!(lane.peak_toggles_per_s, 299);
    assert_eq!(kinds(&e), vec![FindingKind::ToggleChurn]);
    let f = &e.findings()[0];
    assert!(
        f.text.starts_with("CPU 3 (cortex-a72) toggled user access 299 times/s between tasks kworker (7) and reader (100)"),
        "{}",
        f.text
    );
    assert!(f.text.contains("reader (100)"), "{}", f.text);
}

#[test]
fn x86_without_pmu_software_fallbacks_and_careless_rdpmc() {
    let e = run(
        examples::x86_no_pmu(),
        "0 0 300 300 perf_open attr_type=0 config=0 ret=-2
         1ms 0 300 300 perf_open attr_type=1 config=0 ret=3
         2ms 0 300 300 perf_mmap fd=3 len=4096 ret=0x7f0000
         3ms 0 300 300 page_sample fd=3 index=0 lock=1
         4ms 0 300 300 perf_read fd=3 ret=8
         5ms 0 300 300 direct_read ip=0x401000 reg=rdpmc counter=0
         5001us 0 300 300 trap signo=11 si_code=0x80 ip=0x401000 insn=0f33",
    );
    let t = e.totals().counts;
    assert_eq!(
        (t.perf_opens, t.perf_open_failed, t.fallback_reads, t.traps),
        (2, 1, 1, 1)
    );
    assert_eq!(
        kinds(&e),
        vec![FindingKind::NoHardwarePmu, FindingKind::Trap]
    );
    let f = e.findings();
    let trap = f.iter().find(|f| f.kind == FindingKind::Trap).unwrap();
    assert!(trap.text.contains("SIGSEGV si_code 0x80"), "{}", trap.text);
    assert!(trap.text.contains("rdpmc ecx=0x0"), "{}", trap.text);
    let nopmu = f
        .iter()
        .find(|f| f.kind == FindingKind::NoHardwarePmu)
        .unwrap();
    assert!(nopmu.text.contains("errno 2"), "{}", nopmu.text);
}

#[test]
fn signals_that_are_not_counter_reads_are_kept_apart() {
    let e = run(
        examples::x86_no_pmu(),
        "0 0 300 300 trap signo=11 si_code=1 ip=0x10 insn=8b07
         1 0 300 300 trap signo=11 si_code=0x80 ip=0x10",
    );
    let t = e.totals().counts;
    assert_eq!((t.traps, t.other_signals), (1, 1));
}

#[test]
fn repeated_reads_at_one_site_before_the_reader_returns_are_seq_retries() {
    let e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}4ms 0 100 100 reader_call func=1 ret=0
             5ms 0 100 100 direct_read ip=0x400 counter=31
             6ms 0 100 100 direct_read ip=0x400 counter=31
             7ms 0 100 100 reader_call func=1 ret=0",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    let r = e.totals().counts.reads;
    assert_eq!((r.ok, r.seq_retry), (1, 1));
}

#[test]
fn lost_records_are_summed_per_cpu_and_found() {
    let e = run(
        Facts::default(),
        "0 0 0 0 lost count=5\n1 1 0 0 lost count=7\n2 1 0 0 lost count=1",
    );
    let s = e.summary();
    assert_eq!(s.totals.lost, 13);
    assert_eq!(s.lost_per_cpu.get(&1), Some(&8));
    assert_eq!(kinds(&e), vec![FindingKind::LostRecords]);
    assert!(e.findings()[0].text.starts_with("13 records lost"));
}

#[test]
fn hooks_are_ground_truth_and_blame_the_nearby_switch() {
    let e = run(
        examples::arm64_homogeneous(),
        "0 0 100 100 sysctl perf_user_access=1
         1ms 0 100 100 hook_toggle hook=armv8pmu_start access=off
         2ms 0 100 100 sched_switch prev_tid=7 access=on
         2001us 0 100 100 hook_toggle hook=armv8pmu_start access=on
         3ms 0 7 7 sched_switch prev_tid=100 access=off
         10ms 0 7 7 hook_toggle hook=armv8pmu_start access=off",
    );
    let lane = &e.cpu_lanes()[0];
    assert!(lane.hooked);
    assert_eq!(lane.toggles, 2);
    assert_eq!(
        lane.recent_toggles[0].cause,
        ToggleCause::ContextSwitch {
            prev_tid: 7,
            next_tid: 100
        }
    );
    // 7 ms after the switch: no cause nearby but the sysctl is long gone too.
    assert_eq!(lane.recent_toggles[1].cause, ToggleCause::Hook { hook: 1 });
}

#[test]
fn the_engine_model_follows_nr_user_when_the_switch_has_no_source() {
    let e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}10ms 1 7 7 sched_switch prev_tid=0 source=none
             11ms 1 100 100 sched_switch prev_tid=7 source=none
             12ms 1 7 7 sched_switch prev_tid=100 source=none",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    let lane = &e.cpu_lanes()[1];
    assert_eq!(lane.toggles, 2);
    assert_eq!(e.task_row(100).unwrap().counts.toggles, 2);
}

#[test]
fn exited_tasks_fold_into_a_bounded_table_keeping_totals() {
    let mut s = String::new();
    let n = EXITED_KEEP as u32 + 10;
    for i in 0..n {
        let tid = 1000 + i;
        s += &format!("{i} 0 {tid} {tid} migrate orig_cpu=0 dest_cpu=1\n");
        s += &format!("{i} 0 {tid} {tid} exit group_dead=1\n");
    }
    let e = run(Facts::default(), &s);
    assert_eq!(e.task_count(), EXITED_KEEP);
    let sum = e.summary();
    assert_eq!(sum.totals.counts.migrations, n as u64);
    assert_eq!(sum.exited.migrations, 10);
    assert_eq!(sum.dropped.folded_tasks, 10);
}

#[test]
fn summary_json_uses_the_stable_names() {
    let e = run(examples::x86_no_pmu(), "0 0 1 1 perf_read fd=3 ret=8");
    let v = serde_json::to_value(e.summary()).unwrap();
    for k in [
        "traps",
        "fallback_reads",
        "migrations",
        "perf_opens",
        "ioctls",
        "toggles",
        "lost",
        "reads",
    ] {
        assert!(v["totals"].get(k).is_some(), "totals.{k} missing: {v}");
    }
    assert_eq!(v["totals"]["reads"]["index0_fallback"], 1);
    assert_eq!(v["tasks"][0]["counts"]["fallback_reads"], 1);
    assert_eq!(v["records"]["perf_read"], 1);
    assert_eq!(v["records"]["trap"], 0);
}

#[test]
fn ioctl_disable_makes_fallbacks_event_disabled_and_reads_stale() {
    let e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}4ms 0 100 100 perf_ioctl fd=3 cmd=disable ret=0
             5ms 0 100 100 perf_read fd=3 ret=8
             6ms 0 100 100 direct_read ip=0x400 counter=31
             7ms 0 100 100 perf_ioctl fd=3 cmd=enable ret=0",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    assert_eq!(e.totals().counts.ioctls, 2);
    let causes: Vec<ReadCause> = e.recent_reads().map(|r| r.cause).collect();
    assert_eq!(
        causes,
        vec![
            ReadCause::Fallback(FallbackCause::EventDisabled),
            ReadCause::Silent(SilentCause::EventDisabled)
        ]
    );
    assert_eq!(kinds(&e), vec![FindingKind::StaleRead]);
}

#[test]
fn a_read_is_matched_to_the_readers_own_event_on_that_counter() {
    // Two threads, each with its own cycles event on counter 31 (the lab's 6.1 pua1): thread
    // 101 reads while thread 100 has disabled its own event. The read is 101's, and ok.
    let e = run(
        examples::arm64_homogeneous(),
        "0   0 100 100 sysctl perf_user_access=1 paranoid=2
         1ms 0 100 100 perf_open attr_type=8 config=0x11 config1=0x2 ret=3
         1ms 1 100 101 perf_open attr_type=8 config=0x11 config1=0x2 ret=4
         2ms 0 100 100 perf_mmap fd=3 len=4096 ret=0x7f0000
         2ms 1 100 101 perf_mmap fd=4 len=4096 ret=0x7f1000
         3ms 0 100 100 direct_read ip=0x400 counter=31
         3ms 1 100 101 direct_read ip=0x400 counter=31
         4ms 0 100 100 perf_ioctl fd=3 cmd=disable ret=0
         5ms 1 100 101 direct_read ip=0x400 counter=31
         6ms 1 100 101 perf_ioctl fd=4 cmd=disable ret=0",
    );
    let r = e.totals().counts.reads;
    assert_eq!((r.ok, r.silent_wrong_pmu), (3, 0), "{:?}", e.findings());
}

#[test]
fn only_munmaps_of_perf_mappings_are_counted() {
    // The probe reports every munmap of the target; the demo counts those of its perf pages.
    let e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}4ms 0 100 100 munmap addr=0x600000 len=8192 ret=0
             5ms 0 100 100 munmap addr=0x7f0000 len=4096 ret=-22
             6ms 0 100 100 munmap addr=0x7f0000 len=4096 ret=0
             7ms 0 100 100 munmap addr=0x7f0000 len=4096 ret=0",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    assert_eq!(e.totals().counts.munmaps, 1);
    assert_eq!(e.task_row(100).unwrap().counts.munmaps, 1);
}

#[test]
fn retries_within_a_threads_first_reader_call_count_and_silent_reads_can_be_retried() {
    // Hetero: thread 100 holds an a53 (type 10) event and reads it carelessly on CPU 2; the
    // page changed, the reader read again (both silent), then returned. A second call reads
    // once; a read outside any call (no return after it) stays as classified.
    let e = run(
        examples::arm64_hetero(),
        &format!(
            "{}4ms 2 100 100 direct_read ip=0x400 counter=31
             5ms 2 100 100 direct_read ip=0x400 counter=31
             6ms 2 100 100 reader_call func=1 ret=0
             7ms 0 100 100 direct_read ip=0x400 counter=31
             8ms 0 100 100 reader_call func=1 ret=0
             9ms 0 100 100 direct_read ip=0x400 counter=31
             10ms 0 100 100 direct_read ip=0x400 counter=31",
            ARM_OPEN
        ),
    );
    let mut e = e;
    e.flush();
    let r = e.totals().counts.reads;
    assert_eq!((r.ok, r.silent_wrong_pmu, r.seq_retry), (3, 1, 1));
    assert_eq!(e.totals().counts.reader_calls, 2);
}

#[test]
fn without_reader_returns_repeated_reads_are_not_retries() {
    let mut e = run(
        examples::arm64_homogeneous(),
        &format!(
            "{}4ms 0 100 100 direct_read ip=0x400 counter=31
             5ms 0 100 100 direct_read ip=0x400 counter=31
             6ms 0 100 100 direct_read ip=0x400 counter=31",
            ARM_OPEN.replace("attr_type=10", "attr_type=8")
        ),
    );
    e.flush();
    let r = e.totals().counts.reads;
    assert_eq!((r.ok, r.seq_retry), (3, 0));
}
