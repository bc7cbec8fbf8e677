"""The benchmark's own PostgreSQL cluster, kept under var/bench-pg between runs.

The cluster (and so the loaded dataset) survives from one `make bench` to the
next; the server itself only runs while the benchmark does. It listens on
127.0.0.1 only, on a free port picked at each start, and trusts local
connections (it is a throwaway cluster on a developer machine).

Durability settings are off (as in bin/test): they only slow the load and
writes, and every write the benchmark makes is rolled back.

    python -m bench.pg start   # prints the DATABASE_URL; the server keeps running
    python -m bench.pg stop
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "var" / "bench-pg"
DATABASE = "resolutionflow_bench"

# Sized for a dataset of about a million steps on a machine with a few GB of
# memory to spare: the whole working set fits in shared buffers.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "512MB",
    "effective_cache_size": "2GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "max_connections": "50",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "jit": "off",
    # The data is in memory (or on SSD): a random page costs about as much as a
    # sequential one, so let the planner use indexes for selective joins.
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
}


class ClusterError(Exception):
    pass


def find_bindir() -> Path | None:
    """The directory of initdb and pg_ctl (as bin/test looks for them)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) + [
        Path("/usr/local/pgsql/bin"),
        Path("/opt/homebrew/bin"),
        Path("/usr/local/bin"),
    ]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    # initdb and pg_ctl refuse to run as root: use the postgres account then.
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, **kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path = ROOT) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise ClusterError(
                "PostgreSQL was not found (apt-get install postgresql), and DATABASE_URL "
                "is not set."
            )
        self.bin = bindir
        self.root = root
        self.data = root / "data"
        self.socket = root / "socket"
        self.log = root / "server.log"
        self.port_file = root / "port"

    @property
    def version(self) -> str:
        out = subprocess.run(
            [str(self.bin / "postgres"), "--version"], capture_output=True, text=True
        )
        return out.stdout.split()[2]  # "postgres (PostgreSQL) 15.18 (Debian …)"

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    def running_port(self) -> int | None:
        if not (self.data / "postmaster.pid").exists() or not self.port_file.exists():
            return None
        port = int(self.port_file.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return port
        except OSError:
            return None

    def start(self) -> str:
        """Initialise the cluster if needed, start it, create the database; its URL."""
        port = self.running_port()
        if port is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self.socket.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres")
                shutil.chown(self.socket, "postgres")
            if not (self.data / "PG_VERSION").exists():
                self.data.mkdir(exist_ok=True)
                if os.geteuid() == 0:
                    shutil.chown(self.data, "postgres")
                _as_postgres(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ],
                    stdout=subprocess.DEVNULL,
                )
            port = free_port()
            options = " ".join(
                [f"-p {port}", f"-k {self.socket}"]
                + [f"-c {name}={value}" for name, value in SERVER_SETTINGS.items()]
            )
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-o",
                    options,
                    "start",
                ],
                stdout=subprocess.DEVNULL,
            )
            self.port_file.write_text(str(port))
        self._create_database(port)
        return self.url(port)

    def _create_database(self, port: int) -> None:
        psql = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        for _ in range(50):
            probe = subprocess.run(
                [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise ClusterError(f"PostgreSQL did not answer: {probe.stderr.strip()}")
        if probe.stdout.strip() != "1":
            subprocess.run([*psql, "-qc", f"CREATE DATABASE {DATABASE}"], check=True)

    def drop_database(self) -> None:
        port = self.running_port()
        if port is None:
            return
        psql = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        subprocess.run([*psql, "-qc", f"DROP DATABASE IF EXISTS {DATABASE}"], check=True)
        self._create_database(port)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                stdout=subprocess.DEVNULL,
            )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("start", "stop"):
        print("usage: python -m bench.pg start|stop", file=sys.stderr)
        return 2
    cluster = Cluster()
    if argv[0] == "start":
        print(cluster.start())
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
