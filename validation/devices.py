"""Which torch device a run uses: the one resolver the CLI, the suites and the policies share."""

from __future__ import annotations

import torch

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str) -> str:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` -> the device a run uses.

    ``"auto"`` is ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``.

    Raises:
        ValueError: an unknown name, or CUDA asked for where it is not available (the
            message says to use ``cpu`` or ``auto``).
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a str, got {type(device).__name__}")
    kind, _, index = device.partition(":")
    if device not in DEVICES and not (kind == "cuda" and index.isdigit()):
        raise ValueError(f"device must be one of {DEVICES} or 'cuda:N', got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device is {device!r} but CUDA is not available here "
                             "(torch.cuda.is_available() is False); use cpu or auto")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device is {device!r} but only {torch.cuda.device_count()} "
                             "CUDA device(s) exist")
    return device


__all__ = ["DEVICES", "resolve_device"]
