"""Finished runs cached on disk by config hash, written atomically: sweeps resume.

A run is a pure function ``fn(config) -> dict`` of a frozen dataclass. Its result is
stored as JSON under ``cache_dir/<name>-<sha256 of the config's JSON>.json``; the file
is written to a temporary file in the same folder and moved into place with
``os.replace`` (atomic on POSIX), so a killed sweep leaves either a complete result or
nothing, never a truncated file. Rerunning the sweep loads the finished runs and
executes only the missing ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """``value`` with NumPy arrays/scalars, tuples, paths and dataclasses made JSON-ready.

    Non-finite floats stay floats (Python's ``json`` writes them as ``Infinity``/``NaN``
    and reads them back): an infinite Lipschitz certificate is a result, not an error.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return to_jsonable(value.to_dict())
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    return value


# Part of every key: bump it when what a run measures changes meaning without its config
# changing (a task's default tolerance, an estimator), so stale results are not reused.
CACHE_VERSION = 2


def config_hash(config: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``dataclasses.asdict(config)`` (sorted keys)
    and `CACHE_VERSION`."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    text = json.dumps({"cache_version": CACHE_VERSION,
                       "config": to_jsonable(dataclasses.asdict(config))}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_path(name: str, config: Any, cache_dir: Path) -> Path:
    """Where the result of run ``name`` at ``config`` is (or will be) stored."""
    if not isinstance(name, str) or not name or any(c in name for c in "/\\\0"):
        raise ValueError(f"name must be a non-empty string without path separators, got {name!r}")
    return Path(cache_dir) / f"{name}-{config_hash(config)}.json"


def write_json_atomic(data: Any, path: Path) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(to_jsonable(data), f, indent=1, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # KeyboardInterrupt included: never leave a stray temporary file behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_cached(path: Path) -> dict | None:
    """The stored result at ``path``, or None when there is none or it is unusable.

    A file that is not valid UTF-8 JSON holding a non-empty object (a partial write by
    another tool, ``{}``, ``null``, a hand edit) is treated as missing: a warning names it,
    and the run is recomputed and the file overwritten atomically.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.warn(f"cached run {path} is unreadable ({type(exc).__name__}); recomputing it",
                      stacklevel=2)
        return None
    if not isinstance(result, dict) or not result:
        warnings.warn(f"cached run {path} does not hold a result (got "
                      f"{type(result).__name__}); recomputing it", stacklevel=2)
        return None
    return result


def remove_stale_temporaries(cache_dir: Path, older_than: float = 3600.0) -> int:
    """Delete temporary files of `write_json_atomic` older than ``older_than`` seconds (a
    writer killed between creating and renaming them); returns how many. Younger ones may
    belong to a writer still at work (another process, a Ray worker) and are kept."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return 0
    now = time.time()
    removed = 0
    for tmp in cache_dir.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
    return removed


def run_cached(name: str, config: Any, fn: Callable[[Any], dict], cache_dir: Path) -> dict:
    """``fn(config)``, computed once: later calls with an equal config load the stored JSON.

    Args:
        name: the run family ("lipschitz_sweep"); part of the file name.
        config: a dataclass instance; its ``asdict`` JSON (sorted keys) is hashed, so any
            change of a field is a new run.
        fn: the run; must return a JSON-ready dict (NumPy values are converted).
        cache_dir: folder of the cache (created if missing).
    Returns:
        The result dict as stored (after a JSON round trip, so a fresh and a cached
        result are identical), with no cache bookkeeping added. An unusable stored file
        (`load_cached`) is recomputed.
    """
    path = cache_path(name, config, cache_dir)
    cached = load_cached(path)
    if cached is not None:
        return cached
    result = fn(config)
    if not isinstance(result, dict):
        raise TypeError(f"fn must return a dict, got {type(result).__name__}")
    write_json_atomic(result, path)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_cached(name: str, config: Any, cache_dir: Path) -> bool:
    """Whether the run ``name`` at ``config`` has a usable finished result on disk."""
    path = cache_path(name, config, cache_dir)
    if not path.is_file():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # run_cached warns when it recomputes
        return load_cached(path) is not None
