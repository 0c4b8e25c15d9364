"""The task state machine in both transcription shapes: every state reachable and every target defined (Step
Functions rejects a definition with an unreachable state), and the shape each one promises."""

from __future__ import annotations

from typing import Any

import pytest

from framelane.pipeline.asl import TIMEOUTS, TaskMachineConfig, task_state_machine

QUEUES = {f"{step}_queue_url": f"https://sqs/{step}" for step in ("ingest", "dispatch", "finalize", "notify")}


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state["Next"]} if "Next" in state else set()
    found |= {c["Next"] for c in state.get("Catch", [])}
    found |= {c["Next"] for c in state.get("Choices", [])}
    return found | ({state["Default"]} if "Default" in state else set())


def _reachable(machine: dict[str, Any]) -> set[str]:
    seen, pending = set(), [machine["StartAt"]]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_targets(machine["States"][name]))
    return seen


@pytest.mark.parametrize("on_workers", [False, True])
def test_every_state_is_reachable_and_every_target_exists(on_workers: bool) -> None:
    config = TaskMachineConfig(
        **QUEUES,
        transcribe_queue_url=None if on_workers else "https://sqs/transcribe",
        transcribe_on_workers=on_workers,
    )
    machine = task_state_machine(config)
    assert _reachable(machine) == set(machine["States"])


def test_on_workers_transcribe_is_dispatched_and_timed_like_a_render() -> None:
    states = task_state_machine(TaskMachineConfig(**QUEUES, transcribe_on_workers=True))["States"]
    transcribe, render = states["Transcribe"], states["Render"]
    assert transcribe["Parameters"] == render["Parameters"]  # the dispatch queue: the broker
    for key in ("HeartbeatSeconds", "TimeoutSeconds", "Catch"):
        assert transcribe[key] == render[key]
    assert (
        transcribe["Catch"][0]["ErrorEquals"] == TIMEOUTS and transcribe["Catch"][0]["Next"] == "WorkerLost"
    )


def test_the_step_transcribing_itself_needs_its_queue() -> None:
    with pytest.raises(ValueError, match="needs its queue"):
        task_state_machine(TaskMachineConfig(**QUEUES))
