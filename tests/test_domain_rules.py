"""The decisions every registry backend shares (domain/claims.py, domain/attempts.py), as pure
functions: no registry, no clock, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest

from control_room.domain import Action, Conflict, NothingToClaim, Status, Task, attempts
from control_room.domain.claims import (
    check_epoch,
    check_holder,
    check_repeated_claim,
    claim_target,
    inactive,
    refuse_claim,
)

HELD = Task("T1", "work", Status.IN_PROGRESS, agent_id="A1", epoch=4, lease_expires_at=9.0)


def test_one_attempt_left_leads_to_dead_letter_with_the_count_in_the_reason() -> None:
    again = attempts.failed_attempt(replace(HELD, attempts=0, max_attempts=3), "gave up")
    assert again == {
        "status": Status.AVAILABLE, "agent_id": None, "lease_expires_at": None,
        "attempts": 1, "reason": "gave up",
    }  # fmt: skip
    dead = attempts.failed_attempt(replace(HELD, attempts=2, max_attempts=3), "gave up")
    assert dead["status"] is Status.FAILED and dead["attempts"] == 3
    assert dead["reason"] == "gave up (attempt 3 of 3; no attempts left)"


def test_a_hand_in_waits_for_the_checks_when_there_are_any() -> None:
    done = attempts.handed_in(HELD, "did it", ("a.py",), 1.5)
    assert (done.kind, done.changes["status"], done.message) == (
        "completed", Status.COMPLETED, "did it",
    )  # fmt: skip
    assert done.changes["lease_expires_at"] is None and done.data == {"hours": 1.5}
    checked = attempts.handed_in(replace(HELD, checks=("make test",)), "did it", (), None)
    assert (checked.kind, checked.changes["status"]) == ("handed_in", Status.VALIDATING)


def test_a_verdict_completes_or_sends_back_with_the_output_as_feedback() -> None:
    checking = replace(HELD, status=Status.VALIDATING, agent_id=None)
    passed = attempts.verdict(checking, 4, True, "ok")
    assert (passed.kind, passed.changes["status"], passed.message) == (
        "checks_passed", Status.COMPLETED, "checks passed",
    )  # fmt: skip
    output = "x" * 10_000 + "the last line"
    failed = attempts.verdict(checking, 4, False, output)
    assert failed.kind == "checks_failed" and failed.changes["status"] is Status.AVAILABLE
    assert failed.changes["feedback"] == output[-attempts.FEEDBACK_MAX :]
    assert failed.data["output"].endswith("the last line") and len(failed.data["output"]) == 2000
    with pytest.raises(Conflict, match="stale epoch 3 for T1: it is now 4"):
        attempts.verdict(checking, 3, True, "")
    with pytest.raises(Conflict, match="cannot verdict T1: it is IN_PROGRESS"):
        attempts.verdict(HELD, 4, True, "")


def test_expiry_and_revocation_release_with_their_reasons() -> None:
    assert attempts.expired(HELD).changes["reason"] == "lease expired (agent A1, epoch 4)"
    assert attempts.expired(HELD).action is Action.EXPIRE
    revoked = attempts.revoked(HELD, "A1")
    assert (revoked.action, revoked.kind) == (Action.RELEASE, "released")
    assert revoked.changes["reason"] == "agent A1 was revoked"


def test_the_end_of_a_run_settles_its_task() -> None:
    never = lambda: pytest.fail("asked whether claimed since, needlessly")  # noqa: E731
    held = attempts.run_ended(HELD, "A1", "exited 1", True, never)
    assert held is not None and held.changes["reason"] == "agent A1 exited 1 without completing"
    assert held.changes["attempts"] == 1
    stopped = attempts.run_ended(HELD, "A1", "was stopped", False, never)
    assert stopped is not None and "attempts" not in stopped.changes
    assert stopped.changes["reason"].endswith("(not counted as an attempt)")
    waiting = replace(HELD, status=Status.AVAILABLE, agent_id=None)
    abandoned = attempts.run_ended(waiting, "A1", "exited 0", True, lambda: False)
    assert abandoned is not None and abandoned.action is Action.ABANDON
    assert attempts.run_ended(waiting, "A1", "exited 0", True, lambda: True) is None
    assert attempts.run_ended(waiting, "A1", "exited 0", False, never) is None
    assert attempts.run_ended(replace(HELD, agent_id="A2"), "A1", "exited", True, never) is None
    blocked = attempts.gave_up(waiting, "coder", 3, "no binary")
    assert blocked is not None and blocked.changes["status"] is Status.BLOCKED
    assert attempts.gave_up(HELD, "coder", 3, "no binary") is None


def test_claim_refusals_name_what_is_wrong() -> None:
    assert str(inactive("A9")) == "no active agent A9 (revoked, or its run ended)"
    with pytest.raises(NothingToClaim, match=r"capabilities: none\)"):
        refuse_claim(None, (), None)
    with pytest.raises(Conflict, match="T1 is already claimed by A1"):
        refuse_claim("T1", ("*",), HELD)
    with pytest.raises(Conflict, match="cannot claim T1: it is BLOCKED"):
        refuse_claim("T1", ("*",), replace(HELD, status=Status.BLOCKED))
    assert claim_target("A1", None, None) is None
    assert claim_target("A1", None, "T1") == "T1"
    with pytest.raises(Conflict, match="A1 was started for T1: it may claim only that"):
        claim_target("A1", "T2", "T1")


def test_a_second_claim_is_refused_unless_it_repeats_the_accepted_one() -> None:
    check_repeated_claim("A1", None, HELD, ("claimed", "A1"))  # its answer was lost
    check_repeated_claim("A1", "T1", HELD, ("claimed", "A1"))
    with pytest.raises(Conflict, match=r"A1 already holds T1 \(epoch 4\)") as refused:
        check_repeated_claim("A1", "T2", HELD, ("claimed", "A1"))
    assert refused.value.details == {"task_id": "T1", "epoch": 4}
    with pytest.raises(Conflict):
        check_repeated_claim("A1", None, HELD, ("progress", "A1"))


def test_only_the_holder_under_its_epoch_may_write() -> None:
    check_holder(HELD, "A1", 4, Action.COMPLETE)
    with pytest.raises(Conflict, match=r"T1 is not held by A2 \(held by A1\)"):
        check_holder(HELD, "A2", 4, Action.COMPLETE)
    with pytest.raises(Conflict, match="stale epoch 3 for T1: it is now 4; claim again"):
        check_holder(HELD, "A1", 3, Action.COMPLETE)
    with pytest.raises(Conflict, match="cannot verdict T1"):
        check_epoch(HELD, 4, Action.VERDICT)
