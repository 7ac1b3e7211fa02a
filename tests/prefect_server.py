"""A real, self-hosted Prefect server for end-to-end tests: ``prefect server start`` with SQLite
in a temporary PREFECT_HOME on a free loopback port. Every process a test starts runs in its own
process group and is ended with its children."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

STARTUP = 240.0
PYTHON = (sys.executable, "-m")


TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class _RetryBusy(httpx.HTTPTransport):
    """A busy SQLite-backed Prefect server answers 503 while its database is locked; the UI
    tries again, and so do the tests (for up to 30 s)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body can be sent again
        for _ in range(30):
            response = super().handle_request(request)
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(1)
        return super().handle_request(request)


def api_client(api: str) -> httpx.Client:
    """A client of the Prefect server's REST API, as the UI uses it."""
    return httpx.Client(base_url=api, timeout=30, transport=_RetryBusy())


def create_run(client: httpx.Client, deployment: str, parameters: dict[str, Any]) -> str:
    """Create a flow run as the UI does."""
    dep = client.get(f"/deployments/name/{deployment}").json()
    response = client.post(
        f"/deployments/{dep['id']}/create_flow_run", json={"parameters": parameters}
    )
    response.raise_for_status()
    return str(response.json()["id"])


def run_state(client: httpx.Client, run_id: str) -> str:
    return str(client.get(f"/flow_runs/{run_id}").json()["state"]["type"])


def server_command(port: int) -> list[str]:
    """The command that starts a Prefect server on loopback ``port``, without its UI."""
    listen = ["--host", "127.0.0.1", "--port", str(port)]
    return [*PYTHON, "prefect", "server", "start", *listen, "--no-ui"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSFLOW_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.update(extra)
    return env


def start(cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the process and everything it started (its process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wait(what: str, check: Callable[[], Any], timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(1.0)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@contextlib.contextmanager
def prefect_server(tmp: Path) -> Iterator[tuple[str, dict[str, str], list[Path]]]:
    """Yield (API URL, environment for processes using it, log files)."""
    home = tmp / "prefect-home"
    home.mkdir(exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = tmp / "server.log"
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_UI_ENABLED="false",
    )
    server = start(
        server_command(port),
        env,
        log,
        tmp,
    )
    try:
        with api_client(api) as client:
            wait("the Prefect server", lambda: client.get("/health").json() is True, STARTUP, [log])
        yield api, {**env, "PREFECT_API_URL": api}, [log]
    finally:
        stop(server)
