//! tracefs and bpffs: where they are mounted, and mounting them when missing.

use std::{ffi::CString, io, path::Path};

use super::fs::Root;
use crate::error::fix;

pub const TRACEFS: &str = "/sys/kernel/tracing";
pub const BPFFS: &str = "/sys/fs/bpf";

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: String,
    pub fstype: String,
}

/// `/proc/self/mounts` (octal escapes like `\040` decoded).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, point, fstype) = (f.next()?, f.next()?, f.next()?);
            Some(Mount {
                point: unescape(point),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            // Three octal digits can exceed a byte; keep such a sequence as it was.
            match u8::try_from(v) {
                Ok(v) => out.push(v),
                Err(_) => out.extend_from_slice(&b[i..i + 4]),
            }
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn read(root: &Root) -> Vec<Mount> {
    root.read("/proc/self/mounts")
        .or_else(|| root.read("/proc/mounts"))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Where a filesystem of this type is mounted, preferring `preferred`.
pub fn find(mounts: &[Mount], fstype: &str, preferred: &str) -> Option<String> {
    let mut points = mounts.iter().filter(|m| m.fstype == fstype);
    let first = points.clone().next()?.point.clone();
    Some(
        points
            .find(|m| m.point == preferred)
            .map(|m| m.point.clone())
            .unwrap_or(first),
    )
}

/// Mounts tracefs on /sys/kernel/tracing and bpffs on /sys/fs/bpf where they are missing
/// (needs root). Returns one note per mount made, for the caller to print; a one-line cause
/// and fix where a missing one cannot be mounted.
pub fn ensure_mounts() -> anyhow::Result<Vec<String>> {
    ensure_mounts_each().into_iter().collect()
}

/// `ensure_mounts`, trying every filesystem even when one fails: one result per mount
/// attempted (nothing for those already mounted).
pub fn ensure_mounts_each() -> Vec<anyhow::Result<String>> {
    let mounts = read(&Root::new("/"));
    [
        ("tracefs", "tracefs", TRACEFS, "CONFIG_TRACING"),
        ("bpf", "bpffs", BPFFS, "CONFIG_BPF_SYSCALL"),
    ]
    .into_iter()
    .filter(|(fstype, _, point, _)| find(&mounts, fstype, point).is_none())
    .map(|(fstype, name, point, kernel_option)| {
        mount(fstype, point, kernel_option).map(|()| format!("mounted {name} on {point}"))
    })
    .collect()
}

fn mount(fstype: &str, point: &str, kernel_option: &str) -> anyhow::Result<()> {
    let by_hand = format!("mount -t {fstype} {fstype} {point}");
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(fix(
            format!("{fstype} is not mounted and mounting it needs root"),
            format!("run as root, or once: sudo {by_hand}"),
        ));
    }
    if !Path::new(point).is_dir() {
        return Err(fix(
            format!("{fstype} cannot be mounted: {point} does not exist"),
            format!("use a kernel built with {kernel_option}"),
        ));
    }
    let c = |s: &str| CString::new(s).map_err(anyhow::Error::from);
    let (src, dst, ty) = (c(fstype)?, c(point)?, c(fstype)?);
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call; no data.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        let remedy = match err.raw_os_error() {
            Some(libc::ENODEV) => format!("use a kernel built with {kernel_option}"),
            _ => format!("mount it by hand: {by_hand}"),
        };
        return Err(fix(
            format!("cannot mount {fstype} on {point}: {err}"),
            remedy,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_preferred_mount_point() {
        let m = parse(
            "debugfs /sys/kernel/debug debugfs rw 0 0\n\
             tracefs /sys/kernel/debug/tracing tracefs rw 0 0\n\
             tracefs /sys/kernel/tracing tracefs rw 0 0\n\
             bpf /my\\040bpf bpf rw 0 0\n",
        );
        assert_eq!(find(&m, "tracefs", TRACEFS).as_deref(), Some(TRACEFS));
        assert_eq!(find(&m, "bpf", BPFFS).as_deref(), Some("/my bpf"));
        assert_eq!(find(&m, "cgroup2", "/x"), None);
    }
}
