//! Builds the eBPF programs (`probe-ebpf`) with the nightly toolchain and bpf-linker; the tool
//! embeds the object (`probe::EBPF_OBJECT`).
fn main() -> anyhow::Result<()> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../probe-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "probe-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
