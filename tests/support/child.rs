//! Runs one test of the calling test binary again, in a child process: for tests whose
//! scenario may crash, hang or change process-wide state (a signal handler, an unloaded
//! library, a fresh engine). Included with `#[path]` by the tests that need it.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The child's exit status (`None`: still running at `deadline`, then killed) and its
/// stdout and stderr, together.
pub struct Outcome {
    pub status: Option<ExitStatus>,
    pub output: String,
}

impl Outcome {
    /// Whether the child exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs test `name` of this binary in a child process with `env` set, and waits up to
/// `deadline` for it.
pub fn run(name: &str, env: &[(&str, &str)], deadline: Duration) -> Outcome {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let end = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > end {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = stdout.join().unwrap() + &stderr.join().unwrap();
    Outcome { status, output }
}
