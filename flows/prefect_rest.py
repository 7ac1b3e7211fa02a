"""A run done in process, recorded in the Prefect server through its REST API (plain httpx).

A command's run in its own process does not import Prefect (``flows/inline.py``); it is
still a flow run of the server, so the UI shows every run: the flow (read or created by
name), a flow run ``Running`` from the run's start, then ``Completed``, ``Cancelled`` or
``Failed`` with the run's counts as the state message, its summary as a markdown artifact,
and the run's events (``flows/observe.py``). The server is a record, not a part of the
work: if it cannot be reached, the run goes on and the recorder says so once.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0, connect=3.0)
RETRIES_503 = 4
# A server the command has just started: its first writes (flow, flow run) can take long on a
# loaded machine, and the run is over by then, so waiting costs nothing but the wait.
STARTED_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
TAGS = ["newsflow", "in-process"]


class RestRecorder:
    """One run's flow run. ``begin`` creates it (and returns its id), ``end`` ends it; every
    call is best effort: the first failure is said once (``warned``), then the recorder is
    off for the rest of the run."""

    def __init__(self, api_url: str | None, flow: str, parameters: dict[str, Any]) -> None:
        self.api_url = api_url
        self.flow = flow
        self.parameters = parameters
        self.flow_run_id: str | None = None
        self.problem: str | None = None if api_url else "no Prefect API"
        self._events: list[dict[str, Any]] = []
        self._logs: list[dict[str, Any]] = []
        self._client: httpx.Client | None = None
        self.timeout = TIMEOUT

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=str(self.api_url), timeout=self.timeout)
        return self._client

    def _post(self, path: str, body: Any) -> Any:
        # A server still starting its services answers 503 for a moment: asked again, with
        # waits doubling from half a second (under 8 s in all).
        for attempt in range(RETRIES_503 + 1):
            response = self.client.post(path, json=body)
            if response.status_code != 503 or attempt == RETRIES_503:
                break
            time.sleep(0.5 * 2**attempt)
        response.raise_for_status()
        return response.json() if response.content else None

    def _failed(self, what: str, error: Exception) -> None:
        if self.problem is None:
            self.problem = f"{what} at {self.api_url}: {type(error).__name__}: {error}"
            log.debug("Prefect API: %s", self.problem)

    def begin(self) -> str | None:
        """Create the flow run, ``Running``; its id (the run's id), or None."""
        if self.problem is not None:
            return None
        try:
            flow = self._post("/flows/", {"name": self.flow})
            run = self._post(
                "/flow_runs/",
                {
                    "flow_id": flow["id"],
                    "parameters": self.parameters,
                    "tags": TAGS,
                    "state": {"type": "RUNNING", "message": "running in the command's process"},
                },
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            self._failed("could not create the flow run", error)
            return None
        self.flow_run_id = str(run["id"])
        return self.flow_run_id

    def emit(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        """An event of the run (``flows.observe``'s ``emit``), sent with ``end``."""
        self._events.append(
            {
                "id": str(uuid.uuid4()),
                "occurred": datetime.now(UTC).isoformat(),
                "event": event,
                "resource": resource,
                "payload": payload,
                "related": [],
            }
        )

    def log(self, message: str, level: int = logging.INFO) -> None:
        """A line of the flow run's log, sent with ``end``."""
        self._logs.append(
            {
                "name": "flows.inline",
                "level": level,
                "message": message,
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )

    def end(self, state: str, message: str, markdown: str, *, key: str) -> None:
        """End the flow run in ``state`` (COMPLETED, CANCELLED, FAILED) with ``message``;
        the summary artifact ``key`` and the run's events."""
        if self.flow_run_id is None or self.problem is not None:
            self.close()
            return
        run_id = self.flow_run_id
        related = [
            {
                "prefect.resource.id": f"prefect.flow-run.{run_id}",
                "prefect.resource.role": "flow-run",
            }
        ]
        try:
            if markdown:
                self._post(
                    "/artifacts/",
                    {
                        "key": key,
                        "type": "markdown",
                        "data": markdown,
                        "description": f"{self.flow} run summary",
                        "flow_run_id": run_id,
                    },
                )
            if self._logs:
                self._post("/logs/", [{**line, "flow_run_id": run_id} for line in self._logs])
            if self._events:
                for event in self._events:
                    event["related"] = related
                self._post("/events", self._events)
            self._post(
                f"/flow_runs/{run_id}/set_state",
                {"state": {"type": state, "message": message[:5000]}, "force": True},
            )
        except (httpx.HTTPError, ValueError) as error:
            self._failed("could not record the end of the flow run", error)
        finally:
            self.close()

    def discard(self) -> None:
        """Delete the flow run (the work went to a Prefect flow run of its own)."""
        if self.flow_run_id is not None and self.problem is None:
            try:
                self.client.delete(f"/flow_runs/{self.flow_run_id}").raise_for_status()
            except httpx.HTTPError as error:
                self._failed("could not delete the flow run", error)
        self.flow_run_id = None
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
