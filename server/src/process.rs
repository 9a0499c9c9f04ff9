//! `muster serve` in a process of its own, for the import benchmark (so that
//! its memory is its own) and for the restart test (so that it can be killed).

use anyhow::{bail, Context};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Start `exe serve` on a free local port with `DATABASE_URL`,
    /// `MUSTER_UPLOAD_DIR` and `env` set, and wait until it answers. Its log
    /// goes to `log`, or nowhere.
    pub async fn start(
        exe: &Path,
        database_url: &str,
        uploads: &Path,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        // The server picks a free port and names it in this file: a port
        // picked here and released could be taken before the server binds it.
        let addr_file = uploads.with_extension("addr");
        let _ = std::fs::remove_file(&addr_file);
        // A profiler may run the server: MUSTER_BENCH_SERVER_WRAPPER="heaptrack"
        // (its memory is then the profiler's, and the figures not to quote).
        let wrapper = std::env::var("MUSTER_BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut command = match wrapper.split_whitespace().collect::<Vec<_>>().split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--addr-file"])
            .arg(&addr_file)
            .env("DATABASE_URL", database_url)
            .env("MUSTER_UPLOAD_DIR", uploads)
            .env("LEPTOS_OUTPUT_NAME", "muster")
            .envs(env.iter().copied())
            .stdout(match log {
                Some(path) => Stdio::from(std::fs::File::create(path)?),
                None => Stdio::null(),
            })
            .spawn()
            .context("starting the server")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Some(addr) = std::fs::read_to_string(&addr_file)
                .ok()
                .filter(|a| !a.is_empty())
            {
                break addr;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the server stopped at start-up: {status}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the server did not start in 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let _ = std::fs::remove_file(&addr_file);
        let server = Self {
            child,
            url: format!("http://{addr}"),
        };
        Ok(server)
    }

    /// This binary's `muster serve` for a benchmark, with its uploads in
    /// `data/bench-uploads` and its log where `MUSTER_BENCH_SERVER_LOG` says.
    pub async fn start_bench(database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let log = std::env::var_os("MUSTER_BENCH_SERVER_LOG").map(std::path::PathBuf::from);
        Self::start(
            &std::env::current_exe()?,
            database_url,
            Path::new("data/bench-uploads"),
            env,
            log.as_deref(),
        )
        .await
    }

    /// Stop it at once, as a crash or `kill -9` would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ask it to stop (SIGTERM), as a service manager would, and wait until it
    /// has (at most `wait`); whether it did.
    pub async fn terminate(mut self, wait: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its status lines from Linux's `/proc` (memory: `VmHWM`, `RssAnon`, ...).
    pub fn status(&self) -> Option<String> {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()
    }

    /// The most memory it has held, from `VmHWM`, in kB.
    pub fn peak_memory_kb(&self) -> Option<u64> {
        self.status()?
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
