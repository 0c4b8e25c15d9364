"""The small soak of issue 11, part of the suite: 30 mixed tasks on a real `framelane local` (a subprocess) with
2 worker processes, while one worker is SIGKILLed mid-render, redis-server is SIGKILLed once, the API process
is SIGKILLed once, the webhook receiver goes down and up, and one source trickles its bytes. Loopback only.
The tasks alternate between two workspaces (issue 18): at the end neither may hold a concurrency slot. (With
`--quota 1` the first workspace's renders run one at a time: `framelane soak --workspaces 2 --quota 1`, slower.)

The large run (≥300 tasks, 4 workers, ≥10 worker kills, ≥2 broker kills) is `make soak`."""

from __future__ import annotations

from framelane.soak import SoakConfig, run_soak


def test_small_soak_loses_nothing() -> None:
    config = SoakConfig(tasks=30, workers=2, timeout=170, workspaces=2)
    report = run_soak(config, echo=print)
    print(report.table())
    assert report.faults == {
        "worker_kill": 1,
        "broker_kill": 1,
        "api_restart": 1,
        "webhook_outage": 1,
        "stalling_source": 1,
    }, report.table()
    assert report.violations == [], report.table()
