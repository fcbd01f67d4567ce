"""Peak memory of one benchmark run.

What is measured, honestly:

* ``peak_rss_mb``: the process's peak resident set size (RSS) in MiB. On Linux the peak is
  reset just before each run (writing ``5`` to ``/proc/self/clear_refs``) and read from
  ``VmHWM`` in ``/proc/self/status`` after it; the scope is then ``"run"``: the highest RSS
  during that run, which includes what the process already held (the data set, torch and the
  other libraries; the shared pretrained autoencoder). Where the reset is not possible (another
  OS, a restricted ``/proc``) the value is ``getrusage``'s ``ru_maxrss``, the peak over the
  whole process so far, and the scope is ``"process"``.
* ``peak_cuda_mb``: on a CUDA device, ``torch.cuda.max_memory_allocated`` since a reset just
  before the run (tensors allocated by torch; not the cached pool or the CUDA context).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

__all__ = ["cuda_peak_mb", "peak_rss_mb", "reset_cuda_peak", "reset_rss_peak"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_rss_peak() -> str:
    """Reset the process's RSS high-water mark if the OS allows it.

    Returns
    -------
    scope : {"run", "process"}
        ``"run"`` when the peak was reset (what :func:`peak_rss_mb` reads next covers the run),
        ``"process"`` otherwise.
    """
    try:
        _CLEAR_REFS.write_text("5")
        return "run" if _vm_hwm_kib() is not None else "process"
    except OSError:
        return "process"


def _vm_hwm_kib() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb(scope: str) -> float:
    """The peak RSS in MiB: ``VmHWM`` for scope ``"run"``, else ``ru_maxrss``."""
    if scope == "run":
        kib = _vm_hwm_kib()
        if kib is not None:
            return kib / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def reset_cuda_peak(device: str) -> None:
    """Reset torch's CUDA peak-allocation counter of ``device`` (nothing on other devices)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_mb(device: str) -> float | None:
    """torch's peak CUDA allocation on ``device`` since the reset, in MiB (None off CUDA)."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated(device) / (1024 * 1024)
