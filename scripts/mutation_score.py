"""Mutation score per module from `mutmut results --all true` (read on stdin), as a Markdown table.

Killed counts timeouts and segfaults too (the test run failed); "no tests" mutants are survivors: no fast test
runs that code at all.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

KILLED = {"killed", "timeout", "segfault"}


def main() -> None:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in sys.stdin:
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" not in name:
            continue
        module = ".".join(part for part in name.split(".") if not part.startswith(("x_", "xǁ")))
        by_module[module][status] += 1
    print("| module | mutants | killed | survived | no tests | score |")
    print("|---|---:|---:|---:|---:|---:|")
    total: Counter[str] = Counter()
    for module, counts in sorted(by_module.items()):
        total.update(counts)
        print(_row(module, counts))
    print(_row("**all**", total))


def _row(module: str, counts: Counter[str]) -> str:
    mutants = sum(counts.values())
    killed = sum(counts[s] for s in KILLED)
    return (
        f"| {module} | {mutants} | {killed} | {counts['survived']} | {counts['no tests']} "
        f"| {100 * killed / max(mutants, 1):.0f} % |"
    )


if __name__ == "__main__":
    main()
