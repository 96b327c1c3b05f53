//! What to trace: a command spawned by us, an existing process, or everything. Filtering
//! happens in the kernel (`TARGETS`, forks followed there); this module gets the first tgid in.

use std::{
    io,
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::process::CommandExt,
    },
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use aya::maps::{HashMap, IterableMap, MapData};

use crate::error::fix;

/// The traced thing, and how to know it is gone.
pub enum Target {
    /// Spawned by us: in `TARGETS` before its first instruction of the new program.
    Child {
        child: Child,
        status: Option<ExitStatus>,
    },
    /// An existing process; `pidfd` becomes readable when it exits.
    Pid {
        pid: u32,
        pidfd: OwnedFd,
    },
    SystemWide,
}

/// `bpf_attr` for `BPF_MAP_UPDATE_ELEM` (include/uapi/linux/bpf.h).
#[repr(C)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;

/// Inserts `tgid` into the map behind `fd` with a raw bpf(2) call: async-signal-safe, so the
/// forked child can add itself before `exec` (std's `spawn` waits for the exec, so the parent
/// cannot do it in between).
fn insert_raw(fd: RawFd, tgid: u32) -> io::Result<()> {
    let value: u8 = 1;
    let attr = MapUpdateAttr {
        map_fd: fd as u32,
        _pad: 0,
        key: &tgid as *const u32 as u64,
        value: &value as *const u8 as u64,
        flags: 0,
    };
    // SAFETY: attr points at live stack values for the duration of the call; the kernel
    // copies exactly size_of::<MapUpdateAttr>() bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_UPDATE_ELEM,
            &attr as *const MapUpdateAttr,
            std::mem::size_of::<MapUpdateAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Spawns `argv`; the child puts itself into `TARGETS` between fork and exec.
pub fn spawn(
    argv: &[String],
    targets: &HashMap<MapData, u32, u8>,
    quiet: bool,
) -> anyhow::Result<Target> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(fix("no command given", "put the command after `--`"));
    };
    let fd = targets.map().fd().as_fd().as_raw_fd();
    let mut cmd = Command::new(prog);
    cmd.args(args);
    if quiet {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    // SAFETY: the closure only calls getpid and bpf(2), both async-signal-safe, and touches
    // no memory shared with other threads.
    unsafe {
        cmd.pre_exec(move || {
            let pid = libc::getpid() as u32;
            insert_raw(fd, pid)
        });
    }
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            fix(
                format!("cannot run `{prog}`: command not found"),
                "check the command name and PATH",
            )
        } else {
            fix(
                format!("cannot run `{prog}`: {e}"),
                "check the command and its permissions",
            )
        }
    })?;
    Ok(Target::Child {
        child,
        status: None,
    })
}

/// Attaches to a running process (all its threads; its future children follow in the kernel).
pub fn attach_pid(pid: u32, targets: &mut HashMap<MapData, u32, u8>) -> anyhow::Result<Target> {
    let gone = || fix(format!("no process with pid {pid}"), "check `ps`");
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(gone());
    }
    if pid == std::process::id() {
        return Err(fix(
            "pmuwatch cannot trace itself",
            "give the pid of another process",
        ));
    }
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(gone());
    }
    // SAFETY: pidfd_open returned a new fd that we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // Resolve a thread id to its process: TARGETS holds thread group ids.
    let tgid = tgid_of(pid).ok_or_else(gone)?;
    targets.insert(tgid, 1, 0)?;
    // Children it forked before we started are part of it too; later ones follow in the
    // kernel. A child that exits meanwhile is simply not found.
    for d in descendants(tgid, &process_parents()) {
        let _ = targets.insert(d, 1, 0);
    }
    Ok(Target::Pid { pid: tgid, pidfd })
}

/// (pid, parent pid) of every process in /proc.
pub fn process_parents() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parent_from_stat(&stat)?))
        })
        .collect()
}

/// The parent pid from a `/proc/PID/stat` line (the field after the `(comm)`, which may itself
/// hold spaces and parentheses).
pub fn parent_from_stat(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Every process below `root` in the (pid, ppid) list, breadth first.
pub fn descendants(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(pid, ppid)| *ppid == p && *pid != root && !found.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Thread group id of `tid` from /proc.
pub fn tgid_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

impl Target {
    /// The root process id (None for system-wide).
    pub fn pid(&self) -> Option<u32> {
        match self {
            Target::Child { child, .. } => Some(child.id()),
            Target::Pid { pid, .. } => Some(*pid),
            Target::SystemWide => None,
        }
    }

    /// True once the root process has exited (reaps our own child and keeps its status).
    pub fn exited(&mut self) -> bool {
        match self {
            Target::Child { child, status } => {
                if status.is_none() {
                    *status = child.try_wait().ok().flatten();
                }
                status.is_some()
            }
            Target::Pid { pidfd, .. } => {
                let mut p = libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, zero timeout.
                let n = unsafe { libc::poll(&mut p, 1, 0) };
                n > 0 && p.revents != 0
            }
            Target::SystemWide => false,
        }
    }

    /// Exit status of a spawned command, once it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self {
            Target::Child { status, .. } => *status,
            _ => None,
        }
    }

    /// Stops a spawned command still running when the session ends (duration over, Ctrl-C):
    /// SIGTERM, then SIGKILL if it is still there after a grace period.
    pub fn stop(&mut self) {
        const GRACE: Duration = Duration::from_millis(500);
        let Target::Child { child, status } = self else {
            return;
        };
        if status.is_some() {
            return;
        }
        if let Ok(Some(s)) = child.try_wait() {
            *status = Some(s);
            return;
        }
        // SAFETY: plain syscall; the pid is our unreaped child, so it cannot have been reused.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let until = Instant::now() + GRACE;
        while Instant::now() < until {
            if let Ok(Some(s)) = child.try_wait() {
                *status = Some(s);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        *status = child.wait().ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parent_survives_odd_names() {
        assert_eq!(parent_from_stat("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parent_from_stat("1 (init) S 0 1 1"), Some(0));
        assert_eq!(parent_from_stat("garbage"), None);
    }

    #[test]
    fn descendants_are_found_transitively_without_loops() {
        let parents = [(2, 1), (3, 2), (4, 3), (5, 1), (6, 9), (1, 4)];
        let mut d = descendants(1, &parents);
        d.sort();
        assert_eq!(d, vec![2, 3, 4, 5]);
        assert!(descendants(6, &parents).is_empty());
    }
}
