//! The standard process metrics (`process_resident_memory_bytes`,
//! `process_cpu_seconds_total`, `process_open_fds`, ...) read from `/proc/self` at scrape
//! time: prometheus-client has no process collector, and Linux is the one platform the
//! daemon runs on. Names and meanings are those of the Prometheus client libraries, so
//! existing dashboards work unchanged. A figure that cannot be read is left out.

use std::fmt::Write as _;

/// The kernel's clock ticks per second and page size, for `/proc/self/stat`'s units.
fn ticks_and_page() -> (f64, f64) {
    // SAFETY: sysconf reads a constant of the running system; no memory is touched.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (
        if ticks > 0 { ticks as f64 } else { 100.0 },
        if page > 0 { page as f64 } else { 4096.0 },
    )
}

/// Fields of `/proc/self/stat` after the command name (which may hold spaces).
fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_fds() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit.rlim_cur)
}

fn metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    sample: &str,
    value: f64,
) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")?;
    writeln!(out, "{sample} {value}")
}

pub(super) fn encode(out: &mut String) -> std::fmt::Result {
    let (ticks, page) = ticks_and_page();
    if let Some(fields) = stat_fields() {
        // After the name: state is field 0, utime 11, stime 12, starttime 19, vsize 20,
        // rss 21 (fields 3, 14, 15, 22, 23, 24 of proc(5)).
        let num = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(utime), Some(stime)) = (num(11), num(12)) {
            metric(
                out,
                "process_cpu_seconds",
                "counter",
                "User and system CPU time spent, in seconds",
                "process_cpu_seconds_total",
                (utime + stime) / ticks,
            )?;
        }
        if let Some(rss) = num(21) {
            metric(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes",
                "process_resident_memory_bytes",
                rss * page,
            )?;
        }
        if let Some(vsize) = num(20) {
            metric(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes",
                "process_virtual_memory_bytes",
                vsize,
            )?;
        }
        if let (Some(start), Some(boot)) = (num(19), boot_time()) {
            metric(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since the Unix epoch, in seconds",
                "process_start_time_seconds",
                boot + start / ticks,
            )?;
        }
        if let Some(threads) = num(17) {
            metric(
                out,
                "process_threads",
                "gauge",
                "OS threads of the process",
                "process_threads",
                threads,
            )?;
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of the entries.
        let open = dir.count().saturating_sub(1);
        metric(
            out,
            "process_open_fds",
            "gauge",
            "Open file descriptors",
            "process_open_fds",
            open as f64,
        )?;
    }
    if let Some(max) = max_fds() {
        metric(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors",
            "process_max_fds",
            max as f64,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_figures_are_read() {
        let mut out = String::new();
        super::encode(&mut out).unwrap();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(out.contains(name), "{name} missing from:\n{out}");
        }
    }
}
