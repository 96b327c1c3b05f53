//! `/proc/PID/maps`: the executable file mappings of a process.

use std::path::PathBuf;

/// Paths of executable, file-backed mappings, in first-seen order, without duplicates.
pub fn executable_files(maps: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for line in maps.lines() {
        // start-end perms offset dev inode path (path may contain spaces)
        let mut parts = line.splitn(6, ' ');
        let (Some(_range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        let path = parts.nth(3).map(str::trim_start).unwrap_or("");
        if !perms.contains('x') || !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let p = PathBuf::from(path);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Reads a process's executable files; None when the process is gone.
pub fn of_pid(pid: u32) -> Option<Vec<PathBuf>> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .ok()
        .map(|m| executable_files(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_executable_file_mappings_once() {
        let maps = "\
55d0c0a00000-55d0c0a10000 r--p 00000000 fd:01 123 /usr/bin/my reader
55d0c0a10000-55d0c0a20000 r-xp 00010000 fd:01 123 /usr/bin/my reader
7f00aa000000-7f00aa100000 r-xp 00000000 fd:01 456 /lib/x86_64-linux-gnu/libc.so.6
7f00aa200000-7f00aa300000 r-xp 00000000 fd:01 456 /lib/x86_64-linux-gnu/libc.so.6
7f00ab000000-7f00ab001000 r-xp 00000000 00:00 0 [vdso]
7f00ac000000-7f00ac001000 rw-s 00000000 00:0e 77 anon_inode:[perf_event]
7f00ad000000-7f00ad001000 r-xp 00000000 fd:01 99 /tmp/gone (deleted)
";
        assert_eq!(
            executable_files(maps),
            vec![
                PathBuf::from("/usr/bin/my reader"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6")
            ]
        );
        assert!(executable_files("garbage\n\n").is_empty());
    }
}
