//! Peak RSS of a child process, for the benches: `wait4` reports only that child's.

use anyhow::{anyhow, Context, Result};
use std::process::{Command, Stdio};

/// Runs a command to completion; returns its stdout, stderr, success and its own peak
/// resident set in KiB (from `wait4`, so only this process counts).
pub fn run_measured(cmd: &mut Command) -> Result<(Vec<u8>, Vec<u8>, bool, i64)> {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let mut status = 0;
    // SAFETY: wait4 writes only into `status` and `usage`, which outlive the call; the
    // pid is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(pid > 0, "wait4 failed");
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let stdout = out.join().map_err(|_| anyhow!("stdout reader"))?;
    let stderr = err.join().map_err(|_| anyhow!("stderr reader"))?;
    Ok((stdout, stderr, success, usage.ru_maxrss))
}

/// Peak RSS as the kernel reports it for a child includes its parent's peak when it
/// forked (the counter survives exec), and this process holds a whole bed. So each run
/// goes through a fresh, small copy of this binary (`--measure PROGRAM ARGS...`), which
/// spawns the program, passes its stdout through and reports its peak RSS on stderr.
pub fn measure_mode(args: &[String]) -> Result<()> {
    use std::io::Write;
    let (program, rest) = args.split_first().context("--measure needs a program")?;
    let (stdout, stderr, success, rss_kib) = run_measured(Command::new(program).args(rest))?;
    std::io::stdout().write_all(&stdout)?;
    std::io::stderr().write_all(&stderr)?;
    eprintln!("\nmaxrss_kib={rss_kib}");
    std::process::exit(if success { 0 } else { 1 });
}
