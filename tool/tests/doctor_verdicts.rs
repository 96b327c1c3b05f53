//! Verdicts from fixture facts and synthetic attach results.

use std::path::PathBuf;

use pmuwatch::{
    doctor::{Level, Verdict, verdicts},
    sys::{
        Facts,
        attach::{AttachCheck, Method, Status},
    },
};

fn fixture(name: &str) -> Facts {
    Facts::read(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

fn with(mut f: Facts, attach: Vec<AttachCheck>) -> Facts {
    f.attach = attach;
    f
}

fn check(method: Method, works: bool) -> AttachCheck {
    AttachCheck {
        method,
        target: String::new(),
        status: if works {
            Status::Works
        } else {
            Status::Refused
        },
        stage: (!works).then(|| "load".to_string()),
        errno: (!works).then_some(1),
        reason: (!works).then(|| "EPERM: refused".to_string()),
        detail: None,
    }
}

/// The attach results seen on this VM.
fn vm_attach() -> Vec<AttachCheck> {
    Method::ALL
        .iter()
        .map(|&m| {
            check(
                m,
                !matches!(m, Method::Kprobe | Method::Fentry | Method::Fexit),
            )
        })
        .collect()
}

fn find<'a>(vs: &'a [Verdict], code: &str) -> &'a Verdict {
    vs.iter()
        .find(|v| v.code == code)
        .unwrap_or_else(|| panic!("no {code} in {vs:#?}"))
}

fn codes(vs: &[Verdict]) -> Vec<&str> {
    vs.iter().map(|v| v.code.as_str()).collect()
}

#[test]
fn this_vm_no_pmu_comes_first_and_tp_btf_is_the_switch_source() {
    let vs = verdicts(&with(fixture("x86-vm"), vm_attach()));
    assert_eq!(vs[0].code, "no_hw_pmu");
    assert_eq!(vs[0].level, Level::Bad);
    assert!(
        vs[0]
            .text
            .contains("every read would trap (rdpmc raises SIGSEGV)")
    );
    assert!(find(&vs, "switch_source").text.contains("tp_btf"));
    let summary = &find(&vs, "attach_summary").text;
    assert!(
        summary.contains("tp_btf, tracepoint, raw_tp, uprobe work")
            && summary.contains("fentry (EPERM)"),
        "{summary}"
    );
    assert!(codes(&vs).contains(&"no_kprobes"));
    assert!(codes(&vs).contains(&"no_function_hooks"));
    assert!(!codes(&vs).contains(&"no_uprobes"));
    // Worst first.
    assert!(vs.windows(2).all(|w| w[0].level >= w[1].level));
}

#[test]
fn intel_hybrid_asks_for_pinning_to_core_or_atom() {
    let vs = verdicts(&fixture("intel-hybrid"));
    let split = &find(&vs, "several_pmu_types").text;
    assert!(split.starts_with("two PMU types"), "{split}");
    assert!(split.contains("CPUs 0-3 (cpu_core, type 4)"), "{split}");
    assert!(split.contains("CPUs 4-11 (cpu_atom, type 10)"), "{split}");
    assert!(split.contains("pinned to CPUs 0-3 or 4-11"), "{split}");
    assert_eq!(
        vs.iter().filter(|v| v.code == "rdpmc_on").count(),
        2,
        "{vs:#?}"
    );
    // No attach checks: no attach verdicts either.
    assert!(!codes(&vs).contains(&"attach_summary"));
}

#[test]
fn arm64_virt_with_user_access_on_but_no_tracefs() {
    let vs = verdicts(&fixture("arm64-virt"));
    assert_eq!(find(&vs, "one_pmu_type").level, Level::Ok);
    assert!(find(&vs, "user_access_on").text.contains("config1:1"));
    assert!(find(&vs, "no_tracefs").text.contains("mount -t tracefs"));
    assert!(codes(&vs).contains(&"no_bpffs"));
    // CPU 3 is offline: not a CPU without a PMU.
    assert!(!codes(&vs).contains(&"cpus_without_pmu"));
}

#[test]
fn nothing_attaches_means_pmuwatch_cannot_watch() {
    let none: Vec<_> = Method::ALL.iter().map(|&m| check(m, false)).collect();
    let vs = verdicts(&with(fixture("x86-vm"), none));
    assert_eq!(find(&vs, "no_switch_source").level, Level::Bad);
    assert!(codes(&vs).contains(&"no_uprobes"));
    assert!(
        find(&vs, "attach_summary")
            .text
            .starts_with("attach methods: none work")
    );
}

#[test]
fn tracepoint_only_is_the_fallback() {
    let only: Vec<_> = Method::ALL
        .iter()
        .map(|&m| check(m, m == Method::Tracepoint))
        .collect();
    let vs = verdicts(&with(fixture("arm64-hetero"), only));
    assert!(find(&vs, "switch_source").text.contains("fallback"));
}

#[test]
fn x86_rdpmc_zero_and_two() {
    let mut f = fixture("intel-hybrid");
    for p in f.pmus.iter_mut().filter(|p| p.core) {
        p.user_read = Some(pmuwatch::sys::UserRead::RdpmcFile {
            value: if p.name == "cpu_core" { 0 } else { 2 },
        });
    }
    let vs = verdicts(&f);
    assert!(
        find(&vs, "rdpmc_off")
            .text
            .contains("echo 1 > /sys/bus/event_source/devices/cpu_core/rdpmc")
    );
    assert_eq!(find(&vs, "rdpmc_any_task").level, Level::Warn);
}
