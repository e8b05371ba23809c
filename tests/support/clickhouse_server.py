"""A real ClickHouse server for one test run: its own config, data, logs and ports in a temp dir.

It runs the `clickhouse-server` that `.ci/setup` installs from Debian (18.16 on bookworm): old,
but it speaks the native protocol that `ServerWarehouse` uses. It listens on 127.0.0.1 only, on
free ports, with a `default` user without password that only local clients may use, and
nothing of it outlives the test run.

    clickhouse_server_url (session fixture) -> "clickhouse://default@127.0.0.1:PORT/default"
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from ledger.stack import free_port

SETUP_HINT = "run `bash .ci/setup`, which installs Debian's clickhouse-server (CI does this)"


class ServerDidNotStart(RuntimeError):
    """The server exited or did not answer on its native port in time (its log ends the message)."""


def server_command() -> list[str] | None:
    """How to start a ClickHouse server here: `clickhouse-server` or `clickhouse server`.

    None when neither is installed.
    """
    for candidate in (shutil.which("clickhouse-server"), "/usr/sbin/clickhouse-server"):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate]
    multi = shutil.which("clickhouse")
    return [multi, "server"] if multi else None


@dataclass
class ClickHouseServer:
    """One server process whose every file lives under ``home``."""

    home: Path
    command: list[str]
    tcp_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    start_timeout_s: float = 30.0
    _process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/default"

    @property
    def config_file(self) -> Path:
        return self.home / "config.xml"

    def start(self) -> None:
        """Write the config, start the server and wait until it answers ``SELECT 1``."""
        self._write_config()
        with open(self.home / "server.out", "wb") as out:
            self._process = subprocess.Popen(
                [*self.command, f"--config-file={self.config_file}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.home, start_new_session=True,
            )
        self._wait_until_answering()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``. Safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of what the server printed and logged as errors."""
        parts = []
        for name in ("server.out", "log/server.err.log"):
            path = self.home / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no output under {self.home})"

    def _wait_until_answering(self) -> None:
        from clickhouse_driver import Client

        deadline = time.monotonic() + self.start_timeout_s
        last_error = "the port refused every connection"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise ServerDidNotStart(
                    f"clickhouse-server exited with code {code} while starting "
                    f"(config {self.config_file}):\n{self.log_tail()}")
            if _port_accepts(self.tcp_port):
                client = Client("127.0.0.1", port=self.tcp_port, connect_timeout=1,
                                send_receive_timeout=2)
                try:
                    client.execute("SELECT 1")
                    return
                except Exception as exc:  # reset or half-started: both mean "not yet"
                    last_error = f"{type(exc).__name__}: {exc}"
                finally:
                    client.disconnect()
            time.sleep(0.1)
        self.stop()
        raise ServerDidNotStart(
            f"clickhouse-server did not answer on 127.0.0.1:{self.tcp_port} within "
            f"{self.start_timeout_s:.0f} s (last error: {last_error}; config {self.config_file}):\n"
            f"{self.log_tail()}")

    def _write_config(self) -> None:
        home = self.home.resolve()
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(_CONFIG.format(
            log=escape(str(home / "log" / "server.log")),
            errorlog=escape(str(home / "log" / "server.err.log")),
            tcp_port=self.tcp_port, http_port=self.http_port,
            data=escape(f"{home / 'data'}/"), tmp=escape(f"{home / 'tmp'}/"),
            user_files=escape(f"{home / 'user_files'}/"),
            format_schemas=escape(f"{home / 'format_schemas'}/"),
            users=escape(str(home / "users.xml")),
        ))
        (home / "users.xml").write_text(_USERS)


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# No interserver, MySQL or TLS ports are configured, so none is opened.
_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{log}</log>
        <errorlog>{errorlog}</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{data}</path>
    <tmp_path>{tmp}</tmp_path>
    <user_files_path>{user_files}</user_files_path>
    <format_schema_path>{format_schemas}</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
    <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


@pytest.fixture(scope="session")
def clickhouse_server_url(tmp_path_factory):
    """A ClickHouse server of this test run's own, as a ``ServerWarehouse`` URL."""
    command = server_command()
    if command is None:
        pytest.fail(f"no clickhouse-server on PATH or in /usr/sbin; {SETUP_HINT}")
    server = ClickHouseServer(home=tmp_path_factory.mktemp("clickhouse"), command=command)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
