"""What the start of a log says about the machine and the process."""

from __future__ import annotations

import os
import platform
import sys

__all__ = ["system_info_lines"]


def _memory_summary() -> str:
    parts = []
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        peak_bytes = peak if sys.platform == "darwin" else peak * 1024
        parts.append(f"peak RSS {peak_bytes / 2**20:.1f} MiB")
    except (ImportError, OSError, ValueError):
        parts.append("peak RSS unknown")
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        parts.append(f"machine total {total / 2**30:.1f} GiB")
    except (AttributeError, OSError, ValueError):
        parts.append("machine total unknown")
    available = "available unknown"
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = f"available {int(line.split()[1]) / 2**20:.1f} GiB"
                    break
    except (OSError, ValueError, IndexError):
        available = "available unknown (no /proc/meminfo)"
    parts.append(available)
    return ", ".join(parts)


def system_info_lines() -> list[str]:
    """Return one line each for Python, platform, process ids, working directory, argv and memory."""
    return [
        f"Python {sys.version.split()[0]} ({platform.python_implementation()}) at {sys.executable}",
        f"Platform {platform.platform()}, {os.cpu_count()} CPUs, host {platform.node()}",
        f"Process pid {os.getpid()}, parent pid {os.getppid()}",
        f"Working directory {os.getcwd()}",
        f"argv {sys.argv!r}",
        f"Memory: {_memory_summary()}",
    ]
