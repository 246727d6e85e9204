"""Reading a process's CPU time and resident memory from ``/proc`` (psutil is not a dependency)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0.0 once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def rss_mib(pid: int) -> float:
    """Resident set size (``VmRSS``) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def child_pid(parent: int, executable: Path) -> int | None:
    """A direct child of ``parent`` running ``executable`` (how we find the dev server)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and Path(exe).resolve() == executable.resolve():
            return int(entry.name)
    return None


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds of each named process at one moment."""

    seconds: dict[str, float]

    @classmethod
    def take(cls, pids: dict[str, int]) -> CpuSnapshot:
        return cls({name: cpu_seconds(pid) for name, pid in pids.items()})

    def minus(self, earlier: CpuSnapshot) -> dict[str, float]:
        return {
            name: round(value - earlier.seconds.get(name, 0.0), 3)
            for name, value in self.seconds.items()
        }
