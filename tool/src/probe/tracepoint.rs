//! Plain tracepoint programs that read fixed record offsets: the layout is checked against the
//! kernel's `format` file before attaching, so a kernel that moved a field gets a clear
//! "unavailable" in [`super::coverage::Coverage`] instead of wrong values.

use std::{fs, path::Path};

use aya::{
    Ebpf,
    programs::{TracePoint, trace_point::TracePointLinkId},
};

use super::{attach::short, offsets::format_field};
use crate::sys::TRACEFS;

/// Checks that each `(field, offset)` of `expected` is where the format text puts it; the
/// error says what differs.
pub fn check_layout(format: &str, expected: &[(&str, u32)]) -> Result<(), String> {
    for (name, offset) in expected {
        match format_field(format, name) {
            Some(o) if o == *offset => {}
            Some(o) => {
                return Err(format!(
                    "field {name} at offset {o}, programs read it at {offset}"
                ));
            }
            None => return Err(format!("no field {name}")),
        }
    }
    Ok(())
}

/// Reads the format of tracepoint `category/name` and checks it (see [`check_layout`]).
pub fn check(category: &str, name: &str, expected: &[(&str, u32)]) -> Result<(), String> {
    let path = Path::new(TRACEFS)
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    check_layout(&text, expected).map_err(|e| format!("{category}/{name}: {e}"))
}

/// Loads program `prog` of the object and attaches it to `category/name`; the error is one
/// short line for the coverage report.
pub fn attach(
    ebpf: &mut Ebpf,
    prog: &str,
    category: &str,
    name: &str,
) -> Result<TracePointLinkId, String> {
    let p: &mut TracePoint = ebpf
        .program_mut(prog)
        .ok_or_else(|| format!("program {prog} not in the object"))?
        .try_into()
        .map_err(|e| short("type", &e))?;
    p.load().map_err(|e| short("load", &e))?;
    p.attach(category, name).map_err(|e| short("attach", &e))
}

/// Detaches a link made by [`attach`] (used when the other half of a pair failed).
pub fn detach(ebpf: &mut Ebpf, prog: &str, link: TracePointLinkId) {
    if let Some(Ok(p)) = ebpf.program_mut(prog).map(<&mut TracePoint>::try_from) {
        // If this fails the program stays attached: harmless, it only fills an LRU map.
        let _ = p.detach(link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNAL_GENERATE: &str = "name: signal_generate
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int sig;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int code;\toffset:16;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:20;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:36;\tsize:4;\tsigned:1;
";

    #[test]
    fn layout_check_names_the_field_that_moved_or_is_missing() {
        let f = SIGNAL_GENERATE;
        assert_eq!(
            check_layout(f, &[("sig", 8), ("code", 16), ("pid", 36)]),
            Ok(())
        );
        assert_eq!(
            check_layout(f, &[("code", 12)]),
            Err("field code at offset 16, programs read it at 12".into())
        );
        assert_eq!(
            check_layout(f, &[("result", 44)]),
            Err("no field result".into())
        );
    }

    #[test]
    fn this_kernels_syscall_and_signal_records_have_the_layout_the_programs_read() {
        if !Path::new(TRACEFS).join("events/syscalls").exists() {
            eprintln!("skipped: no tracefs with syscall events at {TRACEFS}");
            return;
        }
        assert_eq!(
            check(
                "syscalls",
                "sys_enter_mmap",
                &[("len", 24), ("prot", 32), ("fd", 48)]
            ),
            Ok(())
        );
        assert_eq!(check("syscalls", "sys_exit_read", &[("ret", 16)]), Ok(()));
    }
}
