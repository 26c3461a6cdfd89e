//! The Redis and PostgreSQL servers the store tests, the fleet tests and the stores benchmark
//! run against.
//!
//! [`redis_url`] and [`database_url`] return `REDIS_URL` / `DATABASE_URL` when they are set (and
//! not empty). Otherwise the first call in a test binary starts a private server that the
//! binary's tests share:
//!
//! * Redis: `redis-server` (found on `PATH`) on a free port of 127.0.0.1, nothing saved to disk;
//! * PostgreSQL: a new cluster (`initdb` + `pg_ctl`, found on `PATH` or under
//!   `/usr/lib/postgresql/*/bin` and the other usual places), trust authentication, listening
//!   only on a unix socket in its own temporary directory, user `postgres`, database `postgres`.
//!   PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user (or
//!   `nobody`), started through `setpriv` or `runuser`.
//!
//! Each server lives in a temporary directory watched by a small `sh` process: when the test
//! binary exits — tests passed or failed, a panic, Ctrl-C, `kill -9` — the pipe it holds closes,
//! and the watchdog stops the server and deletes the directory. Nothing is left behind.
//!
//! A missing program fails the test with one line saying what to install; a server that does not
//! come up fails it within a bounded time, with the end of the server's log. Never a skip, never
//! a hang.
//!
//! Only `std`: the module is shared by test binaries with different dependencies (and by
//! `benches/stores.rs`).

#![allow(dead_code)] // Each test binary uses a part.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What to install, for the messages of missing programs.
const INSTALL: &str = "`apt-get install redis-server postgresql` / `brew install redis postgresql`";
/// How long a server may take to accept connections (generous: a loaded 2-core machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The URL of the Redis the tests use: `REDIS_URL`, or this test binary's private server.
///
/// # Panics
///
/// If `REDIS_URL` is unset and the private server cannot be started; the message says why.
pub(crate) fn redis_url() -> String {
    if let Some(url) = from_env("REDIS_URL") {
        return url;
    }
    static SHARED: OnceLock<Result<RedisServer, String>> = OnceLock::new();
    match SHARED.get_or_init(RedisServer::try_start) {
        Ok(server) => server.url(),
        Err(why) => panic!("{why}"),
    }
}

/// The URL of the PostgreSQL the tests use: `DATABASE_URL`, or this test binary's private
/// cluster.
///
/// # Panics
///
/// If `DATABASE_URL` is unset and the private cluster cannot be started; the message says why.
pub(crate) fn database_url() -> String {
    if let Some(url) = from_env("DATABASE_URL") {
        return url;
    }
    static SHARED: OnceLock<Result<PostgresCluster, String>> = OnceLock::new();
    match SHARED.get_or_init(PostgresCluster::try_start) {
        Ok(cluster) => cluster.url.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// A pool of at most `max_connections` on the test database ([`database_url`]), or a loud
/// failure that says why and how to fix it (never the URL's password).
#[cfg(feature = "postgres")]
pub(crate) async fn pg_pool(max_connections: u32) -> sqlx::PgPool {
    let url = database_url();
    let connect = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&url);
    let why = match tokio::time::timeout(Duration::from_secs(30), connect).await {
        Ok(Ok(pool)) => return pool,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out after 30 s".to_owned(),
    };
    panic!(
        "cannot reach PostgreSQL at {}: {why}.\n\
         Unset DATABASE_URL to let the tests create their own cluster, or point it at a running \
         server (whose user may create tables).",
        without_password(&url)
    )
}

/// Fails the test loudly: Redis at `url` (password hidden) cannot be reached, why, and what to
/// do about it.
pub(crate) fn redis_unreachable(url: &str, error: &dyn std::error::Error) -> ! {
    panic!(
        "cannot reach Redis at {}: {error}: {}.\n\
         Unset REDIS_URL to let the tests start their own redis-server, or point it at a \
         running server.",
        without_password(url),
        error.source().map_or_else(String::new, ToString::to_string)
    )
}

/// `url` with its password, if any, replaced: for failure messages.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:[redacted]@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|url| !url.is_empty())
}

/// A port of 127.0.0.1 that nothing listened on a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| panic!("cannot bind a port of 127.0.0.1: {e}"))
        .port()
}

/// A `redis-server` of its own, on 127.0.0.1. Dropping it kills the server (no shutdown: as a
/// crash would) and deletes its directory.
#[derive(Debug)]
pub(crate) struct RedisServer {
    child: Child,
    port: u16,
    // Dropped after the server is dead (fields drop in order after `Drop::drop`).
    scratch: Scratch,
}

impl RedisServer {
    /// Starts a server on a free port.
    ///
    /// # Panics
    ///
    /// If `redis-server` is missing or does not come up; the message says why.
    pub(crate) fn start() -> Self {
        Self::try_start().unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts a server on `port` (to restart one where its clients expect it).
    ///
    /// # Panics
    ///
    /// If `redis-server` is missing or does not come up on `port`; the message says why.
    pub(crate) fn start_on(port: u16) -> Self {
        match Self::launch(port) {
            Ok(server) => server,
            Err(Launch::PortTaken(why) | Launch::Failed(why)) => panic!("{why}"),
        }
    }

    fn try_start() -> Result<Self, String> {
        // Another process may take the free port before the server binds it: try another.
        let mut why = String::new();
        for _ in 0..5 {
            match Self::launch(free_port()) {
                Ok(server) => return Ok(server),
                Err(Launch::PortTaken(taken)) => why = taken,
                Err(Launch::Failed(failed)) => return Err(failed),
            }
        }
        Err(why)
    }

    fn launch(port: u16) -> Result<Self, Launch> {
        let program = find_on_path("redis-server").ok_or_else(|| {
            Launch::Failed(format!(
                "`redis-server` is not on PATH: install Redis >= 7.0 ({INSTALL}), or set \
                 REDIS_URL to a running server"
            ))
        })?;
        let scratch = Scratch::new("redis").map_err(Launch::Failed)?;
        let log_path = scratch.dir.join("redis.log");
        let log = File::create(&log_path)
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|e| Launch::Failed(format!("cannot create {}: {e}", log_path.display())))?;
        let child = Command::new(&program)
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&scratch.dir)
            .current_dir(&scratch.dir)
            .stdin(Stdio::null())
            .stdout(log.0)
            .stderr(log.1)
            .process_group(0)
            .spawn()
            .map_err(|e| Launch::Failed(format!("cannot run {}: {e}", program.display())))?;
        let mut server = Self {
            child,
            port,
            scratch,
        };
        server.scratch.stop_at_exit("TERM", server.child.id());
        server.wait_ready(&program, &log_path)?;
        Ok(server)
    }

    /// Waits until this server — not another one on the same port — answers.
    fn wait_ready(&mut self, program: &Path, log: &Path) -> Result<(), Launch> {
        let port = self.port;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = tail(log);
                let why = format!(
                    "{} on 127.0.0.1:{port} exited at start ({status}); {tail}",
                    program.display()
                );
                return Err(if tail.contains("Address already in use") {
                    Launch::PortTaken(why)
                } else {
                    Launch::Failed(why)
                });
            }
            match redis_info(port) {
                Some(info) if info.pid == Some(self.child.id()) => {
                    return match info.major_version {
                        Some(major) if major >= 7 => Ok(()),
                        _ => Err(Launch::Failed(format!(
                            "{} is Redis {}; the tests need >= 7.0: install a newer one \
                             ({INSTALL}), or set REDIS_URL to a running server",
                            program.display(),
                            info.version.as_deref().unwrap_or("of an unknown version"),
                        ))),
                    };
                }
                Some(_) => {
                    return Err(Launch::PortTaken(format!(
                        "another server answers on 127.0.0.1:{port}"
                    )));
                }
                None => {}
            }
            if Instant::now() > deadline {
                return Err(Launch::Failed(format!(
                    "{} did not answer on 127.0.0.1:{port} within {} s; {}",
                    program.display(),
                    READY_WITHIN.as_secs(),
                    tail(log)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's directory (its log), deleted when it stops.
    pub(crate) fn dir(&self) -> &Path {
        &self.scratch.dir
    }

    /// The server's port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Launch {
    /// Another process has the port: worth another try on another port.
    PortTaken(String),
    Failed(String),
}

/// What `INFO server` says about the server on `port`, if one answers it.
struct RedisInfo {
    pid: Option<u32>,
    version: Option<String>,
    major_version: Option<u32>,
}

fn redis_info(port: u16) -> Option<RedisInfo> {
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).ok()?;
    // `$<length>`; anything else (`-LOADING`, `-NOAUTH`, not Redis) is no answer yet.
    let length: usize = header.strip_prefix('$')?.trim_end().parse().ok()?;
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let body = String::from_utf8_lossy(&body);
    let field = |name: &str| {
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|value| value.trim().to_owned())
    };
    let version = field("redis_version");
    Some(RedisInfo {
        pid: field("process_id").and_then(|pid| pid.parse().ok()),
        major_version: version
            .as_deref()
            .and_then(|v| v.split('.').next()?.parse().ok()),
        version,
    })
}

/// A PostgreSQL cluster of its own: trust authentication, a unix socket in its directory, no
/// TCP. Stopped (fast shutdown) and deleted by its watchdog when dropped or when this process
/// exits.
#[derive(Debug)]
pub(crate) struct PostgresCluster {
    url: String,
    postmaster: u32,
    scratch: Scratch,
}

impl PostgresCluster {
    /// Creates and starts a cluster, whatever `DATABASE_URL` says.
    ///
    /// # Panics
    ///
    /// If PostgreSQL's programs are missing or the cluster does not come up; the message says
    /// why.
    pub(crate) fn start() -> Self {
        Self::try_start().unwrap_or_else(|why| panic!("{why}"))
    }

    /// `postgres://postgres@localhost/postgres?host=<its directory>`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The postmaster's process id.
    pub(crate) fn postmaster(&self) -> u32 {
        self.postmaster
    }

    /// The cluster's directory (data, socket, logs), deleted when it stops.
    pub(crate) fn dir(&self) -> &Path {
        &self.scratch.dir
    }

    fn try_start() -> Result<Self, String> {
        let bin = postgres_bin()?;
        let run_as = RunAs::for_postgres()?;
        let mut scratch = Scratch::new("postgres")?;
        let dir = scratch.dir.clone();
        if let RunAs::User { uid, gid, .. } = &run_as {
            std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid)).map_err(|e| {
                format!("cannot give {} to the PostgreSQL user: {e}", dir.display())
            })?;
        }
        let data = dir.join("data");
        let mut initdb = run_as.command(&bin.join("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"]);
        run_bounded(
            &mut initdb,
            &dir,
            "initdb",
            Duration::from_secs(180),
            &run_as,
        )?;

        let socket_dir = dir
            .to_str()
            .filter(|d| !d.contains(['\'', '\n']))
            .ok_or_else(|| {
                format!(
                    "the temporary directory {} cannot be a PostgreSQL setting: set TMPDIR to a \
                 plain path",
                    dir.display()
                )
            })?;
        // Only a unix socket (nothing to collide with on the machine's ports), the default port
        // whatever PGPORT says (it names the socket file), and no durability: the data is
        // thrown away.
        let settings = format!(
            "\n# webhook-receiver tests\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{socket_dir}'\n\
             port = 5432\n\
             max_connections = 300\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n"
        );
        fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .map_err(|e| format!("cannot configure the cluster in {}: {e}", data.display()))?;

        let log = dir.join("postgres.log");
        let mut pg_ctl = run_as.command(&bin.join("pg_ctl"));
        pg_ctl
            .arg("start")
            .arg("--pgdata")
            .arg(&data)
            .arg("--log")
            .arg(&log)
            .args(["--wait", "--timeout", &READY_WITHIN.as_secs().to_string()]);
        let started = run_bounded(
            &mut pg_ctl,
            &dir,
            "pg_ctl start",
            READY_WITHIN + Duration::from_secs(30),
            &run_as,
        );
        // The postmaster is not our child: the watchdog stops it by its pid, even when
        // `pg_ctl` gave up waiting for it.
        let postmaster = fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|pid| pid.lines().next()?.trim().parse::<u32>().ok());
        if let Some(pid) = postmaster {
            scratch.stop_at_exit("INT", pid);
        }
        if let Err(why) = started {
            return Err(format!("{why}; {}", tail(&log)));
        }
        let Some(postmaster) = postmaster else {
            return Err(format!(
                "pg_ctl started PostgreSQL but {} names no pid; {}",
                data.join("postmaster.pid").display(),
                tail(&log)
            ));
        };
        Ok(Self {
            postmaster,
            url: format!(
                "postgres://postgres@localhost/postgres?host={}",
                percent_encode(socket_dir)
            ),
            scratch,
        })
    }
}

/// The directory holding `initdb` and `pg_ctl`: the one of `initdb` on `PATH`, else the newest
/// of the usual places (Debian and Ubuntu, PGDG packages for RHEL, source builds, Homebrew).
fn postgres_bin() -> Result<PathBuf, String> {
    let complete =
        |dir: &Path| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl"));
    if let Some(initdb) = find_on_path("initdb") {
        // Follow links (`/usr/local/bin/initdb` -> `/usr/lib/postgresql/15/bin/initdb`).
        let initdb = fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = initdb.parent().filter(|dir| complete(dir)) {
            return Ok(dir.to_owned());
        }
    }
    let mut candidates: Vec<PathBuf> = vec!["/usr/local/pgsql/bin".into()];
    for (parent, prefix) in [
        ("/usr/lib/postgresql", ""),
        ("/usr", "pgsql-"),
        ("/opt/homebrew/opt", "postgresql"),
        ("/usr/local/opt", "postgresql"),
    ] {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                candidates.push(entry.path().join("bin"));
            }
        }
    }
    // Newest first: by the version in the path (`…/postgresql/17/bin`, `…/pgsql-16/bin`).
    candidates.sort_by_key(|dir| std::cmp::Reverse(version_in(dir)));
    candidates
        .into_iter()
        .find(|dir| complete(dir))
        .ok_or_else(|| {
            format!(
                "PostgreSQL's `initdb` and `pg_ctl` are neither on PATH nor under \
             /usr/lib/postgresql/*/bin: install PostgreSQL ({INSTALL}), or set DATABASE_URL to \
             a running server"
            )
        })
}

/// The first number in the directory above `bin`, with its minor part: `16.2` -> (16, 2).
fn version_in(bin: &Path) -> (u32, u32) {
    let name = bin
        .parent()
        .and_then(Path::file_name)
        .map(OsStr::to_string_lossy)
        .unwrap_or_default();
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = digits
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// How to run PostgreSQL's programs: as ourselves, or, since PostgreSQL refuses to run as
/// root, as an unprivileged user.
#[derive(Debug)]
enum RunAs {
    Me,
    User {
        name: String,
        uid: u32,
        gid: u32,
        /// `setpriv` or `runuser` (util-linux).
        switch: PathBuf,
    },
}

impl RunAs {
    fn for_postgres() -> Result<Self, String> {
        if id(&["-u"]).ok_or("cannot run `id -u` to learn who runs the tests")? != 0 {
            return Ok(Self::Me);
        }
        let name = ["postgres", "nobody"]
            .into_iter()
            .find(|name| id(&["-u", name]).is_some())
            .ok_or(
                "the tests run as root, which PostgreSQL refuses, and there is no `postgres` or \
                 `nobody` user to run it as: add one, or set DATABASE_URL to a running server",
            )?;
        let switch = ["setpriv", "runuser"]
            .into_iter()
            .find_map(|program| {
                find_on_path(program).or_else(|| {
                    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                        .iter()
                        .map(|dir| Path::new(dir).join(program))
                        .find(|path| is_executable(path))
                })
            })
            .ok_or(
                "the tests run as root, which PostgreSQL refuses, and neither `setpriv` nor \
                 `runuser` (util-linux) is installed to run it as another user: install \
                 util-linux, run the tests as a normal user, or set DATABASE_URL",
            )?;
        Ok(Self::User {
            uid: id(&["-u", name]).ok_or("`id -u` failed")?,
            gid: id(&["-g", name]).ok_or("`id -g` failed")?,
            name: name.to_owned(),
            switch,
        })
    }

    fn command(&self, program: &Path) -> Command {
        match self {
            Self::Me => Command::new(program),
            Self::User {
                name,
                uid,
                gid,
                switch,
            } => {
                let mut command = Command::new(switch);
                if switch.ends_with("setpriv") {
                    command
                        .arg(format!("--reuid={uid}"))
                        .arg(format!("--regid={gid}"))
                        .arg("--clear-groups");
                } else {
                    command.args(["-u", name]);
                }
                command.arg("--").arg(program);
                command
            }
        }
    }
}

/// `id <args>` as a number.
fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Runs `command` in `dir` with its output in `dir/<what>.log`; fails if it fails or takes
/// longer than `limit` (then it is killed).
fn run_bounded(
    command: &mut Command,
    dir: &Path,
    what: &str,
    limit: Duration,
    run_as: &RunAs,
) -> Result<(), String> {
    let log_path = dir.join(format!("{}.log", what.replace(' ', "-")));
    let log = File::create(&log_path)
        .and_then(|log| Ok((log.try_clone()?, log)))
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let as_user = match run_as {
        RunAs::Me => String::new(),
        RunAs::User { name, .. } => format!(" (as {name})"),
    };
    let mut child = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.0)
        .stderr(log.1)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {what}{as_user}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!(
                    "{what}{as_user} failed ({status}); {}",
                    tail(&log_path)
                ));
            }
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what}{as_user} did not finish within {} s; {}",
                    limit.as_secs(),
                    tail(&log_path)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{what}{as_user}: {e}")),
        }
    }
}

/// Set in the copy of a test binary that [`run_killed_child`] runs.
const KILLED_CHILD: &str = "WEBHOOK_RECEIVER_KILLED_CHILD";

/// Whether this process is the copy of a test binary that [`run_killed_child`] runs.
pub(crate) fn is_killed_child() -> bool {
    std::env::var_os(KILLED_CHILD).is_some()
}

/// In the child of [`run_killed_child`]: prints `report` for the parent, then dies of SIGKILL —
/// no destructor, no exit handler, as a crash or `kill -9` would end it.
pub(crate) fn report_and_die(report: &str) -> ! {
    // On a line of its own: the harness has printed `test <name> ... ` without a newline.
    println!("\n{KILLED_CHILD} {report}");
    let _ = std::io::stdout().flush();
    let _ = Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    // Not reached; if `kill` is missing, the parent's assertion on the status says so.
    std::process::exit(1)
}

/// Runs the test `name` of this test binary in a child process that [`is_killed_child`]; checks
/// that it died of SIGKILL and returns what it reported.
pub(crate) fn run_killed_child(name: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(KILLED_CHILD, "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the child was to die of SIGKILL, it ended with {}; stdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(KILLED_CHILD)?.strip_prefix(' '))
        .filter(|report| !report.is_empty())
        .unwrap_or_else(|| panic!("the child reported nothing; stdout:\n{stdout}"))
        .to_owned()
}

/// Polls `done` every 50 ms for up to `limit`; panics with `what` if it never holds.
pub(crate) fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {} s",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` has ended (a zombie has ended too: no one may have reaped it yet).
pub(crate) fn process_gone(pid: u32) -> bool {
    if Path::new("/proc/self/stat").exists() {
        return match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // `<pid> (<name>) <state> …`; the name may hold anything, so look after its end.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_none_or(|(_, rest)| rest.starts_with('Z')),
            Err(_) => true,
        };
    }
    !Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A temporary directory, and a watchdog process that stops the servers it was told about and
/// deletes the directory when this process exits, however it exits: the watchdog reads a pipe
/// whose only writer is this process, so the end of the process is the end of its input.
/// Dropping the `Scratch` does the same, now.
#[derive(Debug)]
struct Scratch {
    dir: PathBuf,
    watchdog: Child,
    orders: Option<ChildStdin>,
}

/// The watchdog: reads `<signal> <pid>` lines until its input ends, then sends each pid its
/// signal, waits for it to exit (bounded; then KILL), and deletes the directory. A zombie
/// counts as gone (where `/proc` says so): in a container whose init does not reap, no one may
/// ever reap it.
const WATCHDOG: &str = r#"
dir=$1
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  case $(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) in Z*) return 1 ;; esac
}
stop=
while read -r signal pid; do stop="$stop $signal:$pid"; done
for order in $stop; do
  signal=${order%%:*}; pid=${order#*:}
  kill -s "$signal" "$pid" 2>/dev/null || continue
  i=0
  while alive "$pid" && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  alive "$pid" && kill -s KILL "$pid" 2>/dev/null
done
rm -rf -- "$dir"
"#;

impl Scratch {
    fn new(kind: &str) -> Result<Self, String> {
        let base = std::env::temp_dir();
        let mut attempt = 0;
        let dir = loop {
            let dir = base.join(format!(
                "webhook-receiver-{kind}-{}-{:016x}",
                std::process::id(),
                RandomState::new().hash_one(attempt)
            ));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 10 => {
                    attempt += 1;
                }
                Err(e) => {
                    return Err(format!(
                        "cannot create a directory in {}: {e}",
                        base.display()
                    ));
                }
            }
        };
        // Reachable by another user (PostgreSQL as root), listable by nobody else.
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o711));
        let spawned = Command::new("sh")
            .args(["-c", WATCHDOG, "watchdog"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C of the tests does not stop the cleanup.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(mut watchdog) => Ok(Self {
                dir,
                orders: watchdog.stdin.take(),
                watchdog,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(format!("cannot start the watchdog (`sh`): {e}"))
            }
        }
    }

    /// At exit (or drop), sends `pid` `signal` and waits for it to end.
    fn stop_at_exit(&mut self, signal: &str, pid: u32) {
        if let Some(orders) = &mut self.orders {
            let _ = writeln!(orders, "{signal} {pid}");
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // End of input: the watchdog stops the servers and deletes the directory.
        drop(self.orders.take());
        let deadline = Instant::now() + Duration::from_secs(40);
        while matches!(self.watchdog.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The last lines of a log, for a failure message.
fn tail(path: &Path) -> String {
    let Ok(bytes) = fs::read(path) else {
        return format!("no log at {}", path.display());
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = format!("the end of {}:", path.display());
    for line in &lines[lines.len().saturating_sub(20)..] {
        let _ = write!(out, "\n    {line}");
    }
    out
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Percent-encodes everything but unreserved characters and `/`, for a URL's query.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
