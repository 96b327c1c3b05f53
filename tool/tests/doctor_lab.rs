//! Facts that `pmuwatch doctor --json` reported inside the arm64 lab (real Debian kernels under
//! QEMU, `hetero_spi.dtb`, `cargo xtask lab --only hetero`), kept in tests/fixtures/lab/:
//! the snapshot format reads back, and the verdicts for them say what the lab showed.

use pmuwatch::{
    doctor::verdicts,
    sys::{
        Facts,
        attach::{Method, Status},
    },
};

fn lab(kernel: &str) -> Facts {
    let path = format!(
        "{}/tests/fixtures/lab/facts-{kernel}-hetero.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("lab fixture");
    serde_json::from_str(&text).expect("a stored snapshot reads back")
}

fn status(f: &Facts, m: Method) -> (Status, Option<i32>) {
    let a = f
        .attach
        .iter()
        .find(|a| a.method == m)
        .expect("every method");
    (a.status, a.errno)
}

#[test]
fn fentry_is_enotsupp_on_6_1_and_works_on_6_12() {
    let old = lab("6.1");
    let new = lab("6.12");
    assert_eq!(status(&old, Method::Fentry), (Status::Refused, Some(524)));
    assert_eq!(status(&new, Method::Fentry), (Status::Works, None));
    for f in [&old, &new] {
        for m in [
            Method::TpBtf,
            Method::Tracepoint,
            Method::RawTp,
            Method::Kprobe,
            Method::Uprobe,
        ] {
            assert_eq!(status(f, m).0, Status::Works, "{} {m}", f.kernel);
        }
    }
}

#[test]
fn pmu_types_differ_between_kernels_but_the_split_is_the_same() {
    for (k, a53, a72) in [("6.1", 8, 9), ("6.12", 10, 11)] {
        let f = lab(k);
        assert_eq!(f.pmu_of_cpu(1).map(|p| p.type_id), Some(a53), "{k}");
        assert_eq!(f.pmu_of_cpu(2).map(|p| p.type_id), Some(a72), "{k}");
        let vs = verdicts(&f);
        let split = vs
            .iter()
            .find(|v| v.code == "several_pmu_types")
            .expect("split verdict");
        assert!(
            split.text.contains("pinned to CPUs 0-1 or 2-3"),
            "{}",
            split.text
        );
        // One sysctl verdict for both PMUs.
        let off: Vec<_> = vs.iter().filter(|v| v.code == "user_access_off").collect();
        assert_eq!(off.len(), 1, "{vs:#?}");
        assert!(off[0].text.contains("armv8_cortex_a53, armv8_cortex_a72"));
    }
}
