//! The scenarios (one script each in lab/scenarios/) and what must hold after each boot.

use super::{
    checks::{self, Checks, Output},
    console::Console,
    demo, doctor, report,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// One PMU, `perf_user_access=1`: all direct reads ok, no traps.
    Pua1,
    /// One PMU, `perf_user_access=0`: index 0, fallbacks; careless reads trap.
    Pua0,
    /// Two PMU types, the demo migrating across them.
    Hetero,
    /// The sysctl flipped 1 -> 0 while events are open.
    Flip,
    /// User access left on after the last event closes.
    LeftOpen,
}

pub const ALL: [Scenario; 5] = [
    Scenario::Pua1,
    Scenario::Pua0,
    Scenario::Hetero,
    Scenario::Flip,
    Scenario::LeftOpen,
];

/// The kernel series the lab boots (directories `k<series>` in the lab).
pub const KERNELS: [&str; 2] = ["6.1", "6.12"];

impl Scenario {
    /// The script's name in lab/scenarios/ (and `LAB_SCENARIO=` in the guest).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pua1 => "pua1",
            Scenario::Pua0 => "pua0",
            Scenario::Hetero => "hetero",
            Scenario::Flip => "flip",
            Scenario::LeftOpen => "leftopen",
        }
    }

    /// The device tree with two PMU types, or `None` for QEMU's own (one PMU).
    pub fn dtb(self) -> Option<&'static str> {
        (self == Scenario::Hetero).then_some("hetero_spi.dtb")
    }

    pub fn check(self, series: &str, c: &Console) -> Checks {
        let mut k = Checks::default();
        checks::lab_facts(&mut k, c, series, self.dtb().is_some());
        // Doctor's attach checks (canary programs: seconds under TCG) run once per kernel.
        let attach = self == Scenario::Hetero;
        doctor::check(&mut k, c, series, attach);
        demo::check(&mut k, c, self);
        report::check(&mut k, c, self, series);
        if self == Scenario::LeftOpen {
            left_open(&mut k, c);
        }
        k
    }
}

/// Ground truth of the lab, independent of the tool: before any event, a direct read traps on
/// every CPU; after the demo's events closed, it works on some CPU (access left on).
fn left_open(k: &mut Checks, c: &Console) {
    let reads = |label: &str| -> Vec<_> { c.mrs.iter().filter(|m| m.label == label).collect() };
    let before = reads("before");
    k.check(
        "no access before any event",
        before.len() == 4 && before.iter().all(|m| m.value.is_none()),
        format!("direct reads before: {}", describe(&before)),
    );
    let after = reads("after");
    let demo_ran = matches!(demo::report(c, "leftopen"), Output::Json(_));
    if !demo_ran {
        k.skip(
            "access left on after close",
            format!(
                "the demo did not run; direct reads after: {}",
                describe(&after)
            ),
        );
        return;
    }
    k.check(
        "access left on after close",
        after.iter().any(|m| m.value.is_some()),
        format!("direct reads after the demo exited: {}", describe(&after)),
    );
}

fn describe(reads: &[&super::console::Mrs]) -> String {
    reads
        .iter()
        .map(|m| match m.value {
            Some(v) => format!("cpu{} read {v}", m.cpu),
            None => format!("cpu{} trapped", m.cpu),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checks on real consoles kept from lab runs (lab/fixtures/), and on the same consoles
/// with one fact changed: each change must turn a check to FAIL.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::checks::Verdict;

    const PUA0_61: &str = include_str!("../../../lab/fixtures/6.1-pua0.log");
    const HETERO_612: &str = include_str!("../../../lab/fixtures/6.12-hetero.log");

    fn failed(s: Scenario, series: &str, console: &str) -> Vec<String> {
        s.check(series, &Console::parse(console))
            .0
            .into_iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn recorded_runs_pass() {
        assert_eq!(failed(Scenario::Pua0, "6.1", PUA0_61), Vec::<String>::new());
        assert_eq!(
            failed(Scenario::Hetero, "6.12", HETERO_612),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_trap_that_is_not_a_counter_read_fails() {
        // PMCR_EL0 (CRm=12) instead of PMEVCNTR0_EL0.
        let c = PUA0_61.replace(r#""insn":"00e83bd5""#, r#""insn":"009c3bd5""#);
        assert_eq!(
            failed(Scenario::Pua0, "6.1", &c),
            ["tool: every trap decoded"]
        );
    }

    #[test]
    fn a_tool_count_off_by_one_fails() {
        let c = PUA0_61.replacen(r#""perf_opens": 2"#, r#""perf_opens": 3"#, 1);
        assert_ne!(c, PUA0_61);
        assert_eq!(
            failed(Scenario::Pua0, "6.1", &c),
            ["tool = demo: syscalls, traps, migrations"]
        );
    }

    #[test]
    fn a_fallback_to_the_costly_read_path_fails() {
        let c = PUA0_61.replace(
            "syscalls/sys_exit_read (fd from pt_regs)",
            "syscalls/sys_enter_read",
        );
        assert_ne!(c, PUA0_61, "fixture layout changed");
        assert_eq!(failed(Scenario::Pua0, "6.1", &c), ["tool: cheap paths"]);
    }

    #[test]
    fn the_wrong_kernel_or_hooks_fail() {
        let f = failed(Scenario::Pua0, "6.12", PUA0_61);
        assert!(f.contains(&"kernel".to_string()), "{f:?}");
        assert!(f.contains(&"tool: best hooks".to_string()), "{f:?}");
    }

    #[test]
    fn a_finding_on_a_cpu_of_its_own_pmu_fails() {
        // The a72 PMU's findings name CPUs 0-1; say 2-3 (its own CPUs) instead.
        let c = HETERO_612.replacen(
            r#""cpus": [        0,        1      ],      "evidence""#,
            r#""cpus": [        2,        3      ],      "evidence""#,
            1,
        );
        assert_ne!(c, HETERO_612, "fixture layout changed");
        assert_eq!(
            failed(Scenario::Hetero, "6.12", &c),
            ["tool: findings name the right CPUs and PMUs"]
        );
    }

    #[test]
    fn a_console_cut_short_fails_the_doctor_and_the_tool() {
        let cut: String = HETERO_612.lines().take(12).collect::<Vec<_>>().join("\n");
        let f = failed(Scenario::Hetero, "6.12", &cut);
        assert!(f.iter().any(|n| n.starts_with("doctor")), "{f:?}");
    }
}
