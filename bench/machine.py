"""What every benchmark prints about the machine it ran on."""

from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), with " (VM)" under a hypervisor."""
    try:
        with open("/proc/cpuinfo") as info:
            lines = info.readlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    virtual = any(line.startswith("flags") and " hypervisor" in line for line in lines)
    return (model or platform.processor() or "unknown CPU") + (" (VM)" if virtual else "")
