//! CPU time and memory of the processes under test (the controller, and on a local cluster
//! the API server and etcd), read from `/proc` before and after the load, and of every
//! process of the run once a second for the timeline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sandbox_reports::timeline::CpuReading;
use serde::Serialize;

use sandbox_cluster::procfs::stat_field;

use crate::clock::RunClock;

/// The most seconds [`every_second`] reads, whatever the run: a day.
const MAX_SECONDS: u64 = 86_400;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessSample {
    /// User + system CPU time since the process started.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// Peak resident set size since the process started.
    pub peak_rss_bytes: u64,
}

/// What a process used during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessUse {
    pub cpu_seconds: f64,
    /// CPU seconds per wall-clock second: 1.0 is one core busy.
    pub cpu_cores: f64,
    pub rss_end_bytes: u64,
    pub peak_rss_bytes: u64,
}

impl ProcessUse {
    pub fn between(before: &ProcessSample, after: &ProcessSample, wall_seconds: f64) -> Self {
        let cpu_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
        Self {
            cpu_seconds,
            cpu_cores: if wall_seconds > 0.0 {
                cpu_seconds / wall_seconds
            } else {
                0.0
            },
            rss_end_bytes: after.rss_bytes,
            peak_rss_bytes: after.peak_rss_bytes,
        }
    }
}

/// What a report row reads: a process, or one thread of the harness (the floor's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Process(u32),
    /// A thread of this process: its own CPU time; memory is the process's and not told
    /// apart, so it reads as 0.
    Thread(u32),
}

impl Probe {
    /// The CPU time alone: `stat` only, no memory.
    pub fn cpu_seconds(self) -> Option<f64> {
        let stat = std::fs::read_to_string(self.stat_path()).ok()?;
        cpu_seconds(&stat, ticks_per_second())
    }

    pub fn sample(self) -> Option<ProcessSample> {
        match self {
            Probe::Process(pid) => sample(pid),
            Probe::Thread(_) => {
                let stat = std::fs::read_to_string(self.stat_path()).ok()?;
                parse(&stat, "VmRSS:\t0 kB\nVmHWM:\t0 kB\n", ticks_per_second())
            }
        }
    }

    fn stat_path(self) -> String {
        match self {
            Probe::Process(pid) => format!("/proc/{pid}/stat"),
            Probe::Thread(tid) => format!("/proc/self/task/{tid}/stat"),
        }
    }
}

/// Reads the CPU time of `processes` at each whole second of the run from `clock`'s start
/// until `stop` is set, and once more then: what [`sandbox_reports::timeline::add_cpu`] turns
/// into each second's cores. A process that is gone is left out of the readings from then on.
pub fn every_second(
    clock: RunClock,
    processes: Vec<(String, Probe)>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<CpuReading>> {
    tokio::spawn(async move {
        let mut readings = Vec::new();
        for second in 0..MAX_SECONDS {
            clock.wait_until(Duration::from_secs(second), &stop).await;
            readings.push(CpuReading {
                at_us: clock.now_us(),
                cpu_seconds: processes
                    .iter()
                    .filter_map(|(name, probe)| Some((name.clone(), probe.cpu_seconds()?)))
                    .collect::<BTreeMap<_, _>>(),
            });
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        readings
    })
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// Reads `/proc/<pid>`; `None` when the process is gone or not readable.
pub fn sample(pid: u32) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse(&stat, &status, ticks_per_second())
}

/// CPU ticks from `stat` (utime and stime, fields 14 and 15) and memory from `status`.
pub fn parse(stat: &str, status: &str, ticks_per_second: f64) -> Option<ProcessSample> {
    let cpu_seconds = cpu_seconds(stat, ticks_per_second)?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some(ProcessSample {
        cpu_seconds,
        rss_bytes: kib("VmRSS:")? * 1024,
        peak_rss_bytes: kib("VmHWM:")? * 1024,
    })
}

/// User + system CPU seconds from `stat` (fields 14 and 15, in clock ticks).
fn cpu_seconds(stat: &str, ticks_per_second: f64) -> Option<f64> {
    let utime: f64 = stat_field(stat, 14)?.parse().ok()?;
    let stime: f64 = stat_field(stat, 15)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_reads_its_own_cpu_time() {
        let tid: u32 = std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let before = Probe::Thread(tid).sample().unwrap();
        // Burn a little CPU on this thread, until the kernel has counted a tick of it.
        let mut x = 0u64;
        while Probe::Thread(tid).sample().unwrap().cpu_seconds == before.cpu_seconds {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        assert_eq!(before.rss_bytes, 0);
        assert!(Probe::Thread(u32::MAX).sample().is_none());
        assert!(
            Probe::Process(std::process::id())
                .sample()
                .unwrap()
                .rss_bytes
                > 0
        );
    }

    #[test]
    fn cpu_and_memory_come_from_the_right_fields() {
        let stat = "4242 (sandbox controller) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 50 0 0 20 0 12 0 100 0 0";
        let status = "Name:\tsandbox-control\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n";
        let s = parse(stat, status, 100.0).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.rss_bytes, 20480 * 1024);
        assert_eq!(s.peak_rss_bytes, 40960 * 1024);
        assert_eq!(parse("garbage", status, 100.0), None);
    }

    #[test]
    fn use_is_the_difference_over_the_wall_time() {
        let before = ProcessSample {
            cpu_seconds: 1.0,
            rss_bytes: 1,
            peak_rss_bytes: 1,
        };
        let after = ProcessSample {
            cpu_seconds: 4.0,
            rss_bytes: 5,
            peak_rss_bytes: 9,
        };
        let used = ProcessUse::between(&before, &after, 2.0);
        assert_eq!(
            (used.cpu_seconds, used.cpu_cores, used.peak_rss_bytes),
            (3.0, 1.5, 9)
        );
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(std::process::id()).unwrap();
        assert!(
            me.rss_bytes > 0 && me.peak_rss_bytes >= me.rss_bytes,
            "{me:?}"
        );
    }
}
