//! A PostgreSQL server of a test's own: a fresh cluster (`initdb`) on a free
//! loopback port in a temporary directory, which the test may stop and start
//! again. The shared server on 5432 serves every other test at once, so it is
//! never restarted. Stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        if std::thread::panicking() {
            eprintln!(
                "PostgreSQL's data and log are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl OwnPostgres {
    /// A new cluster, started, with trust authentication for `postgres` on 127.0.0.1.
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir =
            std::env::temp_dir().join(format!("keyward-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let server = Self {
            bin,
            dir,
            port: crate::common::free_port(),
        };
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir)
                .status()
                .is_ok_and(|status| status.success());
            assert!(owned, "chown the cluster's directory to postgres");
        }
        let data = server.data();
        let initdb = server.bin.join("initdb");
        server.run_as_postgres(
            Command::new(&initdb)
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data),
            "initdb",
        );
        server.start_again();
        server
    }

    /// `postgres://…/postgres` on this server.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fast shutdown, as `systemctl stop` does it: connections are closed.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"])
            .then_some(())
            .expect("pg_ctl stop");
    }

    /// Starts the stopped server on the same port and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log");
        let log = log.to_str().expect("a UTF-8 temp path");
        self.pg_ctl(&["start", "-w", "-t", "30", "-l", log, "-o", &options])
            .then_some(())
            .expect("pg_ctl start");
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let mut command = Command::new(self.bin.join("pg_ctl"));
        command.arg("-D").arg(self.data()).args(args);
        self.run_as_postgres(&mut command, "pg_ctl")
    }

    /// PostgreSQL refuses to run as root: as root, the command runs as `postgres`.
    fn run_as_postgres(&self, command: &mut Command, what: &str) -> bool {
        let output = if is_root() {
            let program = command.get_program().to_owned();
            let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(program)
                .args(args)
                .output()
        } else {
            command.output()
        }
        .unwrap_or_else(|error| panic!("run {what}: {error}"));
        if !output.status.success() {
            eprintln!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output.status.success()
    }
}

fn is_root() -> bool {
    // `id -u` rather than libc, which the tests do not depend on.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The newest PostgreSQL server's binaries Debian installed (`/usr/lib/postgresql/N/bin`).
fn server_binaries() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server under {}: this test runs a PostgreSQL of its own \
             (Debian's postgresql package, which the machine's PostgreSQL comes from)",
            root.display()
        )
    })
}
