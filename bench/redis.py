"""A throwaway redis-server for `make bench` (no persistence, 127.0.0.1, a free port)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.pg import free_port


@dataclass
class Redis:
    process: subprocess.Popen
    port: int
    version: str
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> Redis | None:
        """A running server, or None when redis-server is not installed."""
        binary = shutil.which("redis-server")
        if binary is None:
            return None
        port = free_port()
        directory = Path(tempfile.mkdtemp(prefix="resolutionflow-bench-redis."))
        version = (
            subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
            .stdout.split("v=")[1]
            .split()[0]
        )
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(directory), "--logfile", str(directory / "log")],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return cls(process, port, version, directory)
            except OSError:
                time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"redis-server did not start (see {directory / 'log'})")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
