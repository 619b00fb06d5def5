//! A private, throwaway PostgreSQL cluster for tests (feature `test-support`): initdb into a
//! temporary directory, a Unix socket in that directory on a free port, stopped and removed on
//! drop. Run as root, the cluster belongs to the `postgres` user (PostgreSQL refuses to run as
//! root). Missing binaries are an error that says what to install: a test never passes silently
//! without a database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster.
pub struct TestCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where Debian's server binaries are (`SLUICE_PG_BIN` overrides): the newest version found.
fn find_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("SLUICE_PG_BIN") {
        let bin = PathBuf::from(dir);
        if !bin.join("initdb").exists() {
            return Err(format!("SLUICE_PG_BIN={} holds no initdb", bin.display()));
        }
        return Ok(bin);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): install Debian's \
         `postgresql` (apt-get install -y postgresql) or set SLUICE_PG_BIN to a directory holding \
         initdb and pg_ctl"
            .to_owned()
    })
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

impl TestCluster {
    /// Creates and starts a cluster (about a second).
    pub fn start() -> Result<TestCluster, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bin = find_bin()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "sluice-pg-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cluster = TestCluster {
            dir,
            bin,
            port: free_port()?,
            as_postgres: is_root(),
        };
        if cluster.as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&cluster.dir);
            run(
                chown,
                "chown postgres (run as root, the cluster belongs to the postgres user)",
            )?;
        }
        cluster.init_and_start()?;
        Ok(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init_and_start(&self) -> Result<(), String> {
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(self.data()).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        let options = format!(
            "-p {} -k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "-l"]);
        start
            .arg(self.dir.join("log"))
            .args(["-o", &options, "start"]);
        // The server inherits pg_ctl's output: give it none, or reading it would never end.
        start.stdout(Stdio::null()).stderr(Stdio::null());
        run(start, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            format!("{e}; server log: {log}")
        })
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A connection string for database `dbname` (created by [`TestCluster::create_database`]
    /// unless it is `postgres`).
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={dbname}",
            self.dir.display(),
            self.port
        )
    }

    /// Creates an empty database.
    pub fn create_database(&self, dbname: &str) -> Result<String, String> {
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| format!("connecting to the test cluster: {e}"))?;
        client
            .batch_execute(&format!("CREATE DATABASE {dbname}"))
            .map_err(|e| format!("CREATE DATABASE {dbname}: {e}"))?;
        Ok(self.url(dbname))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"]);
        stop.stdout(Stdio::null()).stderr(Stdio::null());
        let _ = run(stop, "pg_ctl stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
