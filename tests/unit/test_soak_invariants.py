"""The soak's verdict on a finished run: each invariant catches its own kind of loss (no stack needed)."""

from collections import Counter
from pathlib import Path

from framelane.soak import (
    SoakConfig,
    SoakReport,
    SoakTask,
    _Delivery,
    _repeated_segments,
    _segment_renders,
    _slot_leaks,
    _violations,
)

WS = "ws_1"


def _task(task_id: str, status: str, code: str | None = None, *, request_webhook: bool = False) -> SoakTask:
    expected = ("completed", None) if code is None else ("failed", code)
    task = SoakTask(task_id, "super_resolution", expected, "http://127.0.0.1:1/clip.mp4", request_webhook)
    task.latest = {
        "id": task_id,
        "status": status,
        "error": {"code": code, "message": "m"} if code else None,
        "created_at": "2026-12-02T04:00:00.000Z",
        "completed_at": "2026-12-02T04:00:04.000Z" if status == "completed" else None,
    }
    return task


def _hook(task_id: str, webhook_id: str, event: str = "task.completed", dest: str = "/endpoint") -> _Delivery:
    return _Delivery(dest, webhook_id, event, task_id)


def test_a_clean_run_has_no_violations_and_repeats_of_one_webhook_id_are_fine() -> None:
    tasks = [_task("t1", "completed"), _task("t2", "failed", "no_face_detected", request_webhook=True)]
    keys = [f"outputs/{WS}/t1/output.mp4"]
    hooks = [_hook("t1", "evt_1"), _hook("t1", "evt_1"), _hook("t2", "evt_2", "task.failed", "/request")]
    hooks.append(_hook("t1", "evt_p", "task.progress"))
    assert _violations(tasks, keys, hooks) == []


def test_each_kind_of_loss_is_reported() -> None:
    tasks = [
        _task("stuck", "queued"),
        _task("lost", "failed", "worker_lost"),
        _task("twice", "completed"),
        _task("none", "completed"),
        _task("two_ids", "completed"),
        _task("wrong_type", "completed"),
    ]
    tasks[1].expected = ("completed", None)
    keys = [f"outputs/{WS}/twice/output.mp4", f"outputs/{WS}/twice/output.webm"]
    keys += [f"outputs/{WS}/two_ids/output.mp4", f"outputs/{WS}/wrong_type/output.mp4"]
    hooks = [_hook("twice", "e1"), _hook("none", "e2"), _hook("lost", "e3", "task.failed")]
    hooks += [_hook("two_ids", "e4"), _hook("two_ids", "e5"), _hook("wrong_type", "e6", "task.failed")]
    problems = "\n".join(_violations(tasks, keys, hooks))
    assert "stuck (super_resolution, clip.mp4) left queued" in problems
    assert "lost (super_resolution, clip.mp4) ended failed/worker_lost, expected completed/None" in problems
    assert "twice (super_resolution, clip.mp4) completed with 2 output objects" in problems
    assert "none (super_resolution, clip.mp4) completed with 0 output objects" in problems
    assert "two_ids (super_resolution, clip.mp4) completed: /endpoint got terminal events" in problems
    assert "wrong_type (super_resolution, clip.mp4) completed: /endpoint got terminal events" in problems
    assert len(problems.splitlines()) == 6


def test_the_table_counts_states_and_latencies() -> None:
    tasks = [_task("t1", "completed"), _task("t2", "failed", "no_face_detected")]
    report = SoakReport(SoakConfig(tasks=2), tasks, Counter(worker_kill=1), [], 2, 0, 10.0, [])
    table = report.table()
    assert report.latencies() == [4.0]
    assert "super_resolution       2         1      1     0           2 4.0     4.0" in table
    assert "worker_kill 1/1, broker_kill 0/1" in table
    assert "violations: 0" in table


def test_a_slot_or_queued_render_left_after_the_run_is_a_leak() -> None:
    assert _slot_leaks({"ws_a": {"running": 0, "queued": 0}, "ws_b": {"running": 0, "queued": 0}}) == []
    leaks = _slot_leaks({"ws_a": {"running": 1, "queued": 0}, "ws_b": {"running": 0, "queued": 2}})
    assert leaks == [
        "ws_a holds 1 slots and 0 queued renders after every task ended",
        "ws_b holds 0 slots and 2 queued renders after every task ended",
    ]


def test_a_segment_rendered_to_the_end_twice_is_reported(tmp_path: Path) -> None:
    """Counted from the workers' `segment rendered` lines (a restarted worker appends to its log)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    line = '{{"level":"INFO","message":"segment rendered","task_id":"{}","segment":{}}}'
    (logs / "local-worker-1.log").write_text(
        "\n".join(
            [line.format("long", 0), line.format("long", 1), "not json", '{"message":"segment rendered"']
        )
    )
    (logs / "local-worker-2.log").write_text(line.format("long", 1) + "\n" + line.format("other", 0) + "\n")
    (logs / "moto.log").write_text(line.format("long", 0))  # not a worker's
    renders = _segment_renders(logs)
    assert renders == Counter({("long", 0): 1, ("long", 1): 2, ("other", 0): 1})
    tasks = [_task("long", "completed")]
    assert _repeated_segments(tasks, renders) == ["long (super_resolution, long): segment 1 rendered 2 times"]
    report = SoakReport(SoakConfig(tasks=1), tasks, Counter(), [], 0, 0, 1.0, [], renders)
    assert "segments rendered 4 (3 distinct, 1 rendered again)" in report.table()
