"""Where flows run: the Prefect API the CLI talks to.

With ``PREFECT_API_URL`` set, that server is used. Without it, newsflow keeps one local
Prefect server running between commands (``NEWSFLOW_PREFECT_SERVER=local``, the default), so
its UI shows every run: the first command that needs it starts it, ``newsflow server
start|stop|status`` manage it. It is Prefect's own server (``uvicorn`` on
``prefect.server.api.server:create_app``, as ``prefect server start --background`` runs it),
in its own session so a Ctrl-C in the terminal does not reach it, with its log in
``PREFECT_HOME/server.log`` and its pid in Prefect's pid file, so ``prefect server stop``
stops it too. ``PREFECT_HOME`` defaults to ``.prefect`` beside the warehouse.

Starting is done under a file lock, checked (``/api/health``) before it is used, and undone
(the process ended, the pid file removed) if the server does not come up: a command never
leaves a half-started server behind.

``NEWSFLOW_PREFECT_SERVER=temporary`` is the fallback: a server for the one command, ended
with it (and by the kernel if the command is killed: ``PR_SET_PDEATHSIG``).

Nothing here imports Prefect: commands that do not run flows do not pay for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from newsflow import cancel
from newsflow.warehouse import storage

STARTUP_TIMEOUT = 180
# Library loggers Prefect routes into the run log (their levels: flows/observe.py).
LIBRARY_LOGGERS = ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "feedparser")
PID_FILE = "server.pid"  # Prefect's name: `prefect server stop` finds it
STATE_FILE = "newsflow-server.json"
LOG_FILE = "server.log"
HOST = "127.0.0.1"

# pids of servers this process started and that must not get its Ctrl-C (newsflow.cancel)
_servers: set[int] = set()


class ServerError(RuntimeError):
    """The local Prefect server could not be started."""


def quiet_prefect_defaults() -> None:
    """Defaults for a command-line run, set before Prefect is imported; the user's own
    environment wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT))
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", ",".join(LIBRARY_LOGGERS))


def prefect_home(db: Path) -> Path:
    """PREFECT_HOME: the environment's, else ``.prefect`` beside the warehouse ``db``
    (set for Prefect, which reads it when imported)."""
    home = os.environ.get("PREFECT_HOME")
    if not home:
        home = str((storage.folder(db) / ".prefect").resolve())
        os.environ["PREFECT_HOME"] = home
    return Path(home)


def configured_api() -> str | None:
    """The API URL the user configured (environment, or the active Prefect profile)."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    if "prefect" in sys.modules:  # only then is the profile's value worth reading
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return None


def spared() -> set[int]:
    """Servers started by this process: they must not get the run's Ctrl-C."""
    return set(_servers)


# --- the local server that persists ------------------------------------------------------


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int
    home: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def log(self) -> Path:
        return self.home / LOG_FILE


def _healthy(api_url: str, timeout: float = 3.0) -> bool:
    import httpx

    try:
        response = httpx.get(f"{api_url}/health", timeout=timeout)
        return response.status_code == 200 and response.json() is True
    except (httpx.HTTPError, ValueError):
        return False


def _running(pid: int) -> bool:
    from newsflow.warehouse.runs import alive  # light: no DuckDB work at import

    return alive(pid, None)


def _recorded(home: Path) -> LocalServer | None:
    try:
        state = json.loads((home / STATE_FILE).read_text())
        return LocalServer(int(state["pid"]), int(state["port"]), home)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def status(home: Path) -> tuple[LocalServer | None, str]:
    """The local server if it is running and answers, and a line saying how it is."""
    server = _recorded(home)
    if server is None:
        return None, f"no local Prefect server (PREFECT_HOME {home})"
    if not _running(server.pid):
        return None, f"the local Prefect server (pid {server.pid}) is not running"
    if not _healthy(server.api_url):
        return None, f"the local Prefect server (pid {server.pid}) does not answer at {server.url}"
    return server, f"running, pid {server.pid}: UI {server.url}, API {server.api_url}"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _any_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _end(pid: int, grace: float = 20.0) -> None:
    """End a server we started (its own session: its process group) and wait for it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):  # not a group leader (Prefect's own)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if not _running(pid):
                return
            time.sleep(0.1)


def _forget(home: Path) -> None:
    for name in (STATE_FILE, PID_FILE):
        (home / name).unlink(missing_ok=True)


def _server_env(home: Path, *, ui: bool, ephemeral: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED=str(ui).lower(),
        PREFECT_UI_ENABLED=str(ui).lower(),
        PREFECT__SERVER_FINAL="1",
    )
    if ephemeral:
        env["PREFECT__SERVER_EPHEMERAL"] = "1"
    return env


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ]


def _wait_healthy(proc: subprocess.Popen[bytes], api_url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the Prefect server exited with {proc.returncode}; see {log}")
        if _healthy(api_url, timeout=2.0):
            return
        time.sleep(0.25)
    raise ServerError(f"the Prefect server did not answer within {timeout:g}s; see {log}")


def start(home: Path, port: int = 4200, timeout: float = STARTUP_TIMEOUT) -> LocalServer:
    """The local server, started if it is not running. Under a lock, so two commands
    starting at once start one server; undone if it does not come up."""
    from filelock import FileLock

    home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(home / "server.lock"), timeout=timeout + 30):
        server, _ = status(home)
        if server is not None:
            return server
        stale = _recorded(home)
        if stale is not None and _running(stale.pid):  # up but not answering: replace it
            _end(stale.pid)
        _forget(home)
        port = port if port and _free(port) else _any_port()
        log = home / LOG_FILE
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                _uvicorn(port),
                env=_server_env(home, ui=True),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not in the terminal's process group: no Ctrl-C
                cwd=home,
            )
        _servers.add(proc.pid)
        server = LocalServer(proc.pid, port, home)
        try:
            (home / PID_FILE).write_text(str(proc.pid))
            (home / STATE_FILE).write_text(json.dumps({"pid": proc.pid, "port": port}))
            _wait_healthy(proc, server.api_url, timeout, log)
        except BaseException:  # a failure, a timeout, Ctrl-C: leave nothing half-started
            _end(proc.pid)
            _forget(home)
            raise
        return server


def stop(home: Path) -> str:
    """Stop the local server; a line saying what was done."""
    from filelock import FileLock

    home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(home / "server.lock"), timeout=STARTUP_TIMEOUT + 30):
        server = _recorded(home)
        if server is None:
            pid_file = home / PID_FILE  # one `prefect server start --background` started
            with contextlib.suppress(OSError, ValueError):
                server = LocalServer(int(pid_file.read_text()), 0, home)
        if server is None or not _running(server.pid):
            _forget(home)
            return "no local Prefect server was running"
        _end(server.pid)
        _forget(home)
        return f"stopped the local Prefect server (pid {server.pid})"


# --- what a command uses -----------------------------------------------------------------


@contextmanager
def prefect_api(home: Path, mode: str = "local", port: int = 4200) -> Iterator[str]:
    """Yield the API URL flows report to: the configured one, else the local server
    (started if needed), else (``mode='temporary'``) a server for this command only.
    Call before Prefect is imported: the URL is set in the environment Prefect reads."""
    configured = configured_api()
    if configured:
        yield configured
        return
    if mode == "temporary":
        with _temporary(home) as api_url:
            yield api_url
        return
    server = start(home, port)
    with _using(server.api_url):
        yield server.api_url


@contextmanager
def _using(api_url: str) -> Iterator[None]:
    """Point Prefect at ``api_url``: through the environment for a Prefect not imported
    yet (and the processes it starts), and its settings context if it is."""
    os.environ["PREFECT_API_URL"] = api_url
    try:
        if "prefect" not in sys.modules:
            yield
            return
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


@contextmanager
def _temporary(home: Path) -> Iterator[str]:
    """A server for one command, in its own session (no Ctrl-C from the terminal), ended
    with the command and by the kernel if the command dies first."""
    home.mkdir(parents=True, exist_ok=True)
    port = _any_port()
    log = home / "temporary-server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            _uvicorn(port),
            env=_server_env(home, ui=False, ephemeral=True),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=cancel.die_with_parent,  # the main thread starts it: lives with us
            cwd=home,
        )
    _servers.add(proc.pid)
    api_url = f"http://{HOST}:{port}/api"
    try:
        _wait_healthy(proc, api_url, STARTUP_TIMEOUT, log)
        with _using(api_url):
            yield api_url
    finally:
        _end(proc.pid)
        _servers.discard(proc.pid)
