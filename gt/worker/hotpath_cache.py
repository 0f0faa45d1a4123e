"""The persistent hot-path cache: what one run learnt about its patterns, for the next run.

Under ``GT_CACHE_DIR`` (default ``~/.cache/gt``; empty: off):

- ``patterns/``: one small JSON file per pattern and environment, holding the
  policy's record of the pattern: its state (hot, compiled, failed, reverted),
  the cycle it belongs to, its best eager and compiled times and the evidence
  of a revert.  A second process that sees a pattern known compiled compiles it
  at its first sight; a known cycle is merged from the first sight of its first
  segment (the worker holds it with the next ones); a reverted
  pattern stays eager until its re-examination is due.
- ``inductor/``: Inductor's own caches (``TORCHINDUCTOR_CACHE_DIR``, its FX graph
  cache), unless the variable is set: a second process loads the generated code
  instead of generating it.
- ``aot/``: compiled graphs built ahead of time, loaded without Inductor
  (``gt.worker.aot_graphs``).

A file's name is the pattern's stable digest (canonical form without this
process's param codes, the params themselves, every input's dtype, shape and
strides), then a hash of it with the environment that makes a compiled graph
valid (GT's and torch's versions, GT's op table, the device and GPU model, the
autocast state, the code generation config: Inductor's config if something
imported it, else torch's defaults and the ``TORCHINDUCTOR_*`` variables, so
that reading it imports nothing).  The directory is listed once, when the worker
starts; if it holds records, the environment's fixed part (versions, op table,
device) is read then, before the script's first step, and the rest (autocast,
default dtype, code generation config) at the first look-up of a pattern whose
digest names a file.  The file repeats
both, and anything that does not match or parse (corrupt, truncated, foreign)
is ignored with one warning and rewritten.  Files are written to a temporary
name and renamed (a crash leaves the old entry; processes sharing the directory
never see half a file), nothing is unpickled, nothing is executed but what
Inductor's cache and ``aot/`` hold (shared libraries, as Inductor's own), and
after a write the directory is bounded to ``GT_CACHE_MAX_MB``, least recently
used files first (a hit refreshes a file's time).
"""
from __future__ import annotations

import array
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
from importlib import metadata

import torch

from gt import ops as _ops

log = logging.getLogger(__name__)

FORMAT = 1
STATES = ("hot", "compiled", "failed", "reverted")
_MAX_CYCLE = 16
# A bounded directory is trimmed to this share of its bound, so trims are rare.
_TRIM_TO = 0.8


def _gt_version() -> str:
    try:
        return metadata.version("gt")
    except metadata.PackageNotFoundError:
        return "unknown"


# Inductor's code generation settings that key a compiled graph, with torch's defaults: read from
# Inductor's config only when something imported it already (importing it costs seconds), and
# the TORCHINDUCTOR_* variables (which set them at its import).
_CODEGEN_DEFAULTS = {"max_autotune": False, "freezing": False, "fallback_random": False,
                     "coordinate_descent_tuning": False, "cpp_wrapper": False, "cpp.simdlen": None,
                     "triton.cudagraphs": False}


def _codegen() -> dict:
    config = sys.modules.get("torch._inductor.config")
    values = dict(_CODEGEN_DEFAULTS)
    if config is not None:
        for name in _CODEGEN_DEFAULTS:
            obj = config
            for part in name.split("."):
                obj = getattr(obj, part, None)
            values[name] = obj
    values.update((k, v) for k, v in os.environ.items()
                  if k.startswith("TORCHINDUCTOR_") and k != "TORCHINDUCTOR_CACHE_DIR")
    return {k: repr(v) for k, v in values.items()}


def installed(device: torch.device) -> dict:
    """What a compiled graph and a measured time are valid for that cannot change while a process runs."""
    if device.type == "cuda":
        model = torch.cuda.get_device_name(device)
    else:   # the CPU's features decide the vector code Inductor generates
        model = platform.machine() + " " + hashlib.sha256(_cpu_flags().encode()).hexdigest()[:16]
    return {
        "gt": _gt_version(),
        "ops": hashlib.sha256("\n".join(_ops.OP_NAMES).encode()).hexdigest()[:16],
        "torch": torch.__version__,
        "python": "%d.%d" % sys.version_info[:2],
        "device": device.type,
        "model": model,
    }


def environment(device: torch.device, fixed: dict | None = None) -> dict:
    """What a compiled graph and a measured time are valid for (``fixed``: ``installed(device)``, if read)."""
    return {
        **(fixed or installed(device)),
        "autocast": torch.is_autocast_enabled(device.type),
        "default_dtype": str(torch.get_default_dtype()),
        "codegen": _codegen(),
    }


def canon_without_params(canon: bytes) -> bytes:
    """A canonical form (gt.worker._batcher) with every op's param code set to 0: the code is
    this process's interning of the params, so callers key the params themselves."""
    words = array.array("i")
    words.frombytes(canon)
    if sys.byteorder != "little":
        words.byteswap()
    k = 2
    for _ in range(words[0]):
        words[k + 1] = 0
        k += 5 + words[k + 3]
    return words.tobytes()


def pattern_digest(canon: bytes, operations: list, metas: tuple) -> str:
    """A digest of a batch pattern that is the same in every process (computed once per pattern)."""
    h = hashlib.sha256(canon_without_params(canon))
    h.update(repr([op[3] for op in operations]).encode())
    h.update(repr(metas).encode())
    return h.hexdigest()[:32]


def use_inductor_cache(root: str) -> None:
    """Inductor's caches go under ``root`` (unless TORCHINDUCTOR_CACHE_DIR is set, or Inductor ran already),
    and its CPU instruction-set probe's answers in ``root``/vec_isa.json (``remember_vec_isa``)."""
    global _vec_isa_file
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(root, "inductor")
    _vec_isa_file = os.path.join(root, "vec_isa.json")


_vec_isa_file: str | None = None


def _cpu_flags() -> str:
    """The CPU's feature flags as Linux reports them ('' elsewhere: nothing is remembered)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def remember_vec_isa() -> None:
    """Answer Inductor's CPU instruction-set probe from the cache (called before the first compile).

    Inductor checks each vector ISA the CPU reports (AVX2, AVX512, its VNNI and BF16 parts ...)
    by building a small library and loading it in a child Python, several children per
    process: seconds before every process's first compiled step.  The answer depends on the
    CPU's flags, the compiler, the ISA's build flags, the probe's code, torch and the Python
    that loads it, all of which key the remembered answer; only successes are kept, so a
    probe that failed (or timed out under load) is asked again next time."""
    global _vec_isa_file
    path, _vec_isa_file = _vec_isa_file, None
    flags = _cpu_flags() if path else ""
    if not flags:
        return
    try:
        from torch._inductor import cpu_vec_isa
        probe, fingerprint = cpu_vec_isa.VecISA.check_build, cpu_vec_isa._get_isa_dry_compile_fingerprint
    except (ImportError, AttributeError):   # another Inductor: its own probe, unchanged
        return
    machine = "\0".join((platform.machine(), flags, sys.executable, torch.__file__))

    def check_build(isa, code: str) -> bool:
        key = hashlib.sha256("\0".join((machine, fingerprint(isa.build_arch_flags()), code)).encode()).hexdigest()
        known = read_json(path)
        if known.get(key) is True:
            return True
        ok = probe(isa, code)
        if ok:
            known[key] = True
            try:
                write_atomic(path, json.dumps(known, sort_keys=True).encode())
            except OSError as exc:
                log.warning("Inductor's CPU probe cannot be remembered in %s (%s)", path, exc)
        return ok
    cpu_vec_isa.VecISA.check_build = check_build


def read_json(path: str) -> dict:
    """A JSON object from ``path``; {} when it is missing, unreadable or not an object."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def bound(root: str, max_bytes: int) -> None:
    """Keep the files under ``root`` within ``max_bytes``, least recently used first (not the lock
    files Inductor or the ahead-of-time builder hold, nor the builder's pending jobs)."""
    files, total = [], 0
    for base, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("locks", "jobs")]
        for name in names:
            if name.startswith("build."):
                continue
            path = os.path.join(base, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            # A loaded library's use is its access time (its modification time binds its builder's check).
            files.append((max(st.st_atime, st.st_mtime), st.st_size, path))
            total += st.st_size
    if total <= max_bytes:
        return
    files.sort()
    for _, size, path in files:
        if total <= _TRIM_TO * max_bytes:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
    log.info("[HotPath] cache %s trimmed to %.1f MB (GT_CACHE_MAX_MB=%d)", root, total / 2**20, max_bytes >> 20)


class PatternCache:
    """The pattern records under ``root`` for one device's environment."""

    def __init__(self, root: str, max_mb: int, device: torch.device) -> None:
        self.root = root
        self.max_bytes = max_mb * 1024 * 1024
        self.dir = os.path.join(root, "patterns")
        os.makedirs(self.dir, exist_ok=True)
        self.device = device
        self._env: dict | None = None
        self._env_id = ""
        self._warned = False
        try:    # the digests that name a file
            self._names = {name.partition("-")[0] for name in os.listdir(self.dir)}
        except OSError:
            self._names = set()
        # With records to look up, what cannot change in this process is read now, before the script's
        # first step; the rest of the environment at the first look-up.
        self._installed = installed(device) if self._names else None

    @property
    def env(self) -> dict:
        if self._env is None:
            self._env = environment(self.device, self._installed)
            self._env_id = hashlib.sha256(json.dumps(self._env, sort_keys=True).encode()).hexdigest()
        return self._env

    def file_name(self, digest: str) -> str:
        """Pattern ``digest``'s files' name in this environment (no suffix)."""
        self.env
        return digest + "-" + hashlib.sha256((self._env_id + digest).encode()).hexdigest()[:24]

    def _path(self, digest: str) -> str:
        return os.path.join(self.dir, self.file_name(digest) + ".json")

    def load(self, digest: str) -> dict | None:
        """The record of pattern ``digest`` from an earlier run, or None."""
        if digest not in self._names:   # no file of any environment holds it: no environment is read
            return None
        path = self._path(digest)
        try:
            with open(path, "rb") as f:
                raw = f.read(1 << 20)
        except OSError:
            return None
        try:
            entry = json.loads(raw)
            record = entry["record"]
            if entry["format"] != FORMAT or entry["env"] != self.env or entry["pattern"] != digest:
                raise ValueError("written for another environment or pattern")
            _check(record)
        except (ValueError, KeyError, TypeError) as exc:
            self._warn(path, exc)
            return None
        try:
            os.utime(path)    # least recently used goes first
        except OSError:
            pass
        return record

    def store(self, digest: str, record: dict) -> None:
        """Write pattern ``digest``'s record atomically, then keep the directory within its bound."""
        _check(record)
        data = json.dumps({"format": FORMAT, "env": self.env, "pattern": digest, "record": record},
                          sort_keys=True).encode()
        try:
            write_atomic(self._path(digest), data)
            self._names.add(digest)
            bound(self.root, self.max_bytes)
        except OSError as exc:
            self._warn(self.dir, exc)

    def _warn(self, path: str, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            log.warning("[HotPath] ignoring an unusable hot-path cache entry %s (%s: %s); its pattern is "
                        "learnt again (further ones are ignored silently)", path, type(exc).__name__, exc)


def _check(record: dict) -> None:
    """A record holds only what the policy reads back, of the types it expects."""
    if not isinstance(record, dict) or record.get("state") not in STATES:
        raise ValueError("not a pattern record")
    cycle = record.get("cycle")
    if cycle is not None and (not isinstance(cycle, list) or len(cycle) > _MAX_CYCLE
                              or not all(isinstance(d, str) and len(d) == 32 for d in cycle)):
        raise ValueError("bad cycle")
    for name in ("eager_s", "compiled_s", "ratio"):
        value = record.get(name)
        if value is not None and (type(value) is not float or not value >= 0):
            raise ValueError(f"bad {name}")
    reverts = record.get("reverts", 0)
    if type(reverts) is not int or not 0 <= reverts < 64:
        raise ValueError("bad reverts")
