"""A private, throwaway PostgreSQL cluster that a test may stop and start at will.

The outage tests need a server they can take down in the middle of a request; the shared one
on 5432 belongs to everyone else, so they make their own with the machine's initdb and pg_ctl
in a temporary folder, on a free loopback port, and remove it afterwards.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

# Where Debian and Ubuntu's postgresql-NN packages put the server programs.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"


def find_bindir() -> str | None:
    """PG_BINDIR, else the newest Debian-packaged server, else pg_ctl on PATH; None if none."""
    candidates = [os.environ.get("PG_BINDIR") or ""]
    candidates += sorted(glob.glob(DEBIAN_BINDIRS),
                         key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                         reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(os.path.dirname(on_path))
    for bindir in candidates:
        if bindir and all(os.access(os.path.join(bindir, name), os.X_OK)
                          for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def unavailable_reason() -> str | None:
    """Why no private cluster can be made here, or None when one can."""
    if find_bindir() is None:
        return ("no PostgreSQL server programs (initdb, pg_ctl) found in PG_BINDIR, "
                f"{DEBIAN_BINDIRS} or PATH; install the postgresql package to run this test")
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root; the package's own user runs them.
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser (util-linux) is missing to run initdb as postgres"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """initdb in a temporary folder, then start/stop on demand; trust auth for 'postgres'."""

    def __init__(self):
        self.bindir = find_bindir()
        self.port = free_port()
        # As root the server runs as 'postgres', which must reach the folder: /tmp is
        # world-traversable where a custom TMPDIR (under /root, say) may not be.
        parent = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.root = tempfile.mkdtemp(prefix="outage-pg-", dir=parent)
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = " ".join((
            f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.root}",
            # A test's data need not survive a power cut; it must survive a clean restart.
            "-c fsync=off", "-c full_page_writes=off", "-c max_connections=60",
        ))
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        """'fast' ends every session at once (what a restart does); 'immediate' is a crash."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run([*self._as_postgres, os.path.join(self.bindir, "pg_ctl"), "-D",
                            self.data, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_postgres, os.path.join(self.bindir, program), *args]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root,
                              timeout=120)
        if done.returncode != 0:
            log = ""
            if os.path.exists(self.log):
                with open(self.log, errors="replace") as fh:
                    log = fh.read()[-2000:]
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{log}")
