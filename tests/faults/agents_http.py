"""Outside agents over REST for fault tests: threads that register with the operator token, then
loop claim -> progress -> complete, ride out a server that dies and comes back on the same port,
and write down every transition the server acknowledged (HTTP 200/201) for a checker to find in
the registry afterwards.

An answer that never came (connection refused, reset, timeout) is an unknown outcome: the same
request is tried again once the server is back, and only an answer counts.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx2

HELD = ("CLAIMED", "IN_PROGRESS")


@dataclass(frozen=True)
class Ack:
    """One acknowledged transition: `kind` is "claim", "progress" or "complete"."""

    kind: str
    task_id: str
    agent_id: str
    epoch: int
    status: str  # the task's status in the answer


@dataclass
class Ledger:
    """What the agents were told, shared by their threads."""

    acks: list[Ack] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # every HTTP status answered
    unknown: int = 0  # requests without an answer (the server died or was down)
    recovered: int = 0  # held tasks found after a claim whose answer was lost
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, kind: str, task_id: str, agent_id: str, epoch: int, status: str) -> None:
        with self.lock:
            self.acks.append(Ack(kind, task_id, agent_id, epoch, status))

    def answered(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    def lost(self) -> None:
        with self.lock:
            self.unknown += 1


class OutsideAgent(threading.Thread):
    """One outside agent: claim -> progress -> complete until `stop` is set."""

    def __init__(
        self, index: int, url: str, operator: str, ledger: Ledger, stop: threading.Event
    ) -> None:
        super().__init__(name=f"outside-{index}", daemon=True)
        self.index, self.url, self.operator = index, url, operator
        self.ledger, self.stop = ledger, stop
        self.random = random.Random(index)
        self.agent_id = ""
        self.headers: dict[str, str] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            with httpx2.Client(base_url=self.url, timeout=5) as http:
                self.http = http
                if self._register():
                    self._work()
        except Exception as error:  # reported by the test, not lost in a thread
            self.errors.append(repr(error))

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, operator: bool = False
    ) -> tuple[int, Any] | None:
        """The server's answer, retried (same request) while there is none; None once stopped."""
        headers = {"Authorization": f"Bearer {self.operator}"} if operator else self.headers
        while not self.stop.is_set():
            try:
                answer = self.http.request(method, path, json=body, headers=headers)
            except httpx2.TransportError:
                self.ledger.lost()
                self.unanswered()
                continue
            self.ledger.answered(answer.status_code)
            try:
                return answer.status_code, answer.json()
            except ValueError:
                return answer.status_code, None
        return None

    def unanswered(self) -> None:
        """No answer came: wait a little before sending the same request again."""
        self.stop.wait(self.random.uniform(0.05, 0.25))

    def _register(self) -> bool:
        body = {"name": f"outside-{self.index}", "capabilities": ["outside"]}
        answer = self._call("POST", "/api/agents", body, operator=True)
        if answer is None:
            return False
        status, joined = answer
        assert status == 201, (status, joined)
        self.agent_id = joined["agent_id"]
        self.headers = {"Authorization": f"Bearer {joined['token']}"}
        return True

    def _held(self) -> tuple[str, int] | None:
        """The task this agent holds (a claim whose answer was lost), if any."""
        for status in HELD:
            answer = self._call("GET", f"/api/tasks?status={status}&agent={self.agent_id}")
            if answer is None or answer[0] != 200:
                return None
            for task in answer[1]["tasks"]:
                if task["agent_id"] == self.agent_id:
                    return task["id"], task["epoch"]
        return None

    def _claim(self) -> tuple[str, int] | None:
        answer = self._call("POST", "/api/tasks/claim", {})
        if answer is None:
            return None
        status, body = answer
        if status == 200:
            task_id, epoch = body["task"]["id"], body["lease"]["epoch"]
            self.ledger.ack("claim", task_id, self.agent_id, epoch, body["task"]["status"])
            return task_id, epoch
        if status == 409:  # we already hold one: a claim went through but its answer was lost
            held = self._held()
            if held is not None:
                with self.ledger.lock:
                    self.ledger.recovered += 1
            return held
        self.stop.wait(0.1)  # 404: nothing to claim for now
        return None

    def _work(self) -> None:
        while not self.stop.is_set():
            held = self._claim()
            if held is None:
                continue
            task_id, epoch = held
            path = f"/api/tasks/{task_id}"
            self.stop.wait(self.random.uniform(0.01, 0.05))
            answer = self._call("POST", f"{path}/progress", {"epoch": epoch, "percent": 50})
            if answer is None:
                self._release(task_id, epoch)
                return
            if answer[0] != 200:
                continue  # the lease went (expired while the server was down): claim again
            self.ledger.ack("progress", task_id, self.agent_id, epoch, answer[1]["status"])
            if self.stop.wait(self.random.uniform(0.01, 0.05)):
                self._release(task_id, epoch)
                return
            body = {"epoch": epoch, "summary": f"done by {self.agent_id}"}
            answer = self._call("POST", f"{path}/complete", body)
            if answer is None:
                self._release(task_id, epoch)
                return
            if answer[0] == 200:
                self.ledger.ack("complete", task_id, self.agent_id, epoch, answer[1]["status"])

    def _release(self, task_id: str, epoch: int) -> None:
        """On the way out: give the task back (best effort, one try)."""
        with contextlib.suppress(httpx2.TransportError):
            self.http.post(
                f"/api/tasks/{task_id}/release",
                json={"epoch": epoch, "reason": "the test is over"},
                headers=self.headers,
            )


def start_fleet(count: int, url: str, operator: str) -> tuple[list[OutsideAgent], Ledger, Any]:
    """`count` agents working against `url`; stop them with `stop_fleet`."""
    ledger, stop = Ledger(), threading.Event()
    agents = [OutsideAgent(i, url, operator, ledger, stop) for i in range(count)]
    for agent in agents:
        agent.start()
    return agents, ledger, stop


def stop_fleet(agents: list[OutsideAgent], stop: threading.Event, timeout: float = 20) -> None:
    stop.set()
    deadline = time.monotonic() + timeout
    for agent in agents:
        agent.join(max(0.1, deadline - time.monotonic()))
    alive = [a.name for a in agents if a.is_alive()]
    assert not alive, f"outside agents did not stop: {alive}"
