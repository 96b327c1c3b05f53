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
