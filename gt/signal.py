"""Named scopes (the prototype's "signals") and their configuration.

    with gt.signal.context("forward"):      # or gt.signal.enter("forward") ... gt.signal.exit("forward")
        out = model(x)

A scope changes nothing unless it is configured, from the YAML file named by
``GT_CONFIG``::

    forward:
      compile: true
    eval:
      compile: false
      dynamic: false
    layer1:
      shard: {axis: 0, workers: [0, 1]}
      backward: layer1_bwd

or from Python with ``gt.register_config("forward", gt.SignalConfig(compile=True))``.
A configured scope cuts the worker's batches at its entry and exit.  With
``compile: true`` the batches made inside it compile on first sight (no hot-path
threshold), cached like any hot pattern; with ``compile: false`` they never
compile (nor join a step's merged graph), whatever the hot-path detector counts.
``dynamic: true`` compiles the scope's batches with symbolic sizes from the
first graph on, ``dynamic: false`` keeps every size exact (a graph per size);
unset, sizes become symbolic once they vary (``GT_AUTO_COMPILE=1``'s automatic
dynamic, which ``dynamic`` needs).  The innermost scope that sets a setting
decides it.

A ``shard`` setting needs a data-parallel group (``gt.gpu_workers(n, shard=True)``) and
``workers`` naming all of it (0 .. n-1): the parameters made inside the scope (a model built
in it) are sharded along ``axis`` when the scope closes, FSDP-style (gt.client.data_parallel:
each worker keeps its shard, a use gathers the whole tensor, the gradient is reduce-scattered,
the optimizer steps on the shards); ``gt.signal.tensor(t, name)`` shards parameter ``t`` the
same way, or splits a replicated tensor along dim 0 as a batch (``axis`` 0).  A ``backward``
setting is refused with NotImplementedError: GT does not route a scope's gradients through
another scope (nothing is silently ignored).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from gt.client import runtime
from gt.client.nn import parameter as _parameter
from gt.config import ConfigError


@dataclass(frozen=True)
class ShardConfig:
    """How a scope's parameters are split over the data-parallel workers: along ``axis``, over
    ``workers`` (ranks; GT shards over the whole group, so they are 0 .. n-1)."""

    axis: int = 0
    workers: tuple = ()

    def __post_init__(self) -> None:
        if type(self.axis) is not int:
            raise TypeError(f"ShardConfig.axis must be an int, got {type(self.axis).__name__}")
        workers = self.workers
        if not isinstance(workers, (list, tuple)) or not workers:
            raise ValueError(f"ShardConfig.workers must be a non-empty list of worker ids, got {workers!r}")
        for w in workers:
            if type(w) is not int or w < 0:
                raise ValueError(f"ShardConfig.workers holds {w!r}: worker ids are non-negative ints")
        if len(set(workers)) != len(workers):
            raise ValueError(f"ShardConfig.workers lists a worker twice: {list(workers)}")
        object.__setattr__(self, "workers", tuple(workers))


@dataclass(frozen=True)
class SignalConfig:
    """A scope's settings: ``compile`` its region (True: at once, False: never, None: as the
    hot-path detector decides), its sizes ``dynamic`` (True: symbolic, False: exact, None: once they
    vary), ``shard`` its tensors, use ``backward_signal`` for gradients."""

    compile: bool | None = None
    shard: ShardConfig | None = None
    backward_signal: str | None = None
    dynamic: bool | None = None

    def __post_init__(self) -> None:
        for name in ("compile", "dynamic"):
            value = getattr(self, name)
            if value is not None and type(value) is not bool:
                raise TypeError(f"SignalConfig.{name} must be True, False or None, got {value!r}")
        if self.shard is not None and not isinstance(self.shard, ShardConfig):
            raise TypeError(f"SignalConfig.shard must be a ShardConfig, got {type(self.shard).__name__}")
        if self.backward_signal is not None and not isinstance(self.backward_signal, str):
            raise TypeError(f"SignalConfig.backward_signal must be a scope name, got {self.backward_signal!r}")
        if self.backward_signal is not None:
            raise NotImplementedError(_BACKWARD_REFUSED.format(
                what=f"SignalConfig(backward_signal={self.backward_signal!r})"))


_BACKWARD_REFUSED = ("{what}: GT does not support backward signals yet (running a scope's gradients "
                     "under another scope); gradients are computed where the forward ran. To compile "
                     "the backward pass, open a compile scope around loss.backward().")


_configs: dict[str, SignalConfig] = {}
_stack: list[tuple[str, bool, tuple | None]] = []
# (name, configured, (ShardConfig, the enclosing scope's parameter list) or None) of the open scopes,
# innermost last


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a signal name must be a non-empty str, got {name!r}")
    return name


def register_config(name: str, config: SignalConfig) -> None:
    """Configure scope ``name`` (replacing any earlier configuration)."""
    _check_name(name)
    if not isinstance(config, SignalConfig):
        raise TypeError(f"register_config: config must be a SignalConfig, got {type(config).__name__}")
    _configs[name] = config


def get_config(name: str) -> SignalConfig | None:
    """The configuration of scope ``name``, or None."""
    return _configs.get(name)


def _from_mapping(name: str, raw: Any, where: str) -> SignalConfig:
    if raw is None:
        return SignalConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: scope {name!r} must map to settings, got {raw!r}")
    unknown = set(raw) - {"compile", "dynamic", "shard", "backward", "backward_signal"}
    if unknown:
        raise ConfigError(f"{where}: scope {name!r} has unknown settings {sorted(unknown)} "
                          "(known: compile, dynamic, shard, backward)")
    shard = raw.get("shard")
    try:
        if shard is not None:
            if not isinstance(shard, dict) or set(shard) - {"axis", "workers"}:
                raise ValueError(f"shard must be {{axis: int, workers: [ids]}}, got {shard!r}")
            shard = ShardConfig(**shard)
        return SignalConfig(compile=raw.get("compile"), dynamic=raw.get("dynamic"), shard=shard,
                            backward_signal=raw.get("backward", raw.get("backward_signal")))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: scope {name!r}: {exc}") from None
    except NotImplementedError as exc:
        raise NotImplementedError(f"{where}: scope {name!r}: {exc}") from None


def load_config(path: str) -> None:
    """Register every scope of a YAML file (``name: {compile: true, shard: {...}, backward: name}``)."""
    import yaml

    where = f"GT_CONFIG={path!r}"
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of scope names to settings")
    configs = {_check_name(str(name)): _from_mapping(name, settings, where) for name, settings in raw.items()}
    _configs.update(configs)


def enter(name: str, backward: str | None = None) -> None:
    """Open scope ``name`` (``exit(name)`` closes it)."""
    config = _configs.get(_check_name(name))
    region = None if config is None else (config.compile, config.dynamic)
    _refuse_backward("enter", name, backward)
    sharding = None
    if config is not None and config.shard is not None:
        _group(config.shard, name)
        sharding = (config.shard, _parameter.created)
        _parameter.created = []
    configured = region is not None and region != (None, None)
    _stack.append((name, configured, sharding))
    if configured:
        runtime.mark_boundary(region)


def _group(shard: ShardConfig, name: str):
    """The data-parallel group that ``shard`` (scope ``name``'s) splits over; an error unless there is one
    and ``shard.workers`` names all of it."""
    from gt.client.data_parallel import DataParallelWorker

    dp = runtime.worker if runtime._remote is None else None
    what = f"{shard!r} of scope {name!r}"
    if not isinstance(dp, DataParallelWorker):
        raise RuntimeError(f"{what}: sharding needs a data-parallel group of workers, and this client has one "
                           "worker; call gt.gpu_workers(n, shard=True) (or GT_AUTO_SHARD=1) before using it")
    if sorted(shard.workers) != list(range(dp.world)):
        raise NotImplementedError(f"{what}: GT shards over every worker of the group (workers 0..{dp.world - 1}); "
                                  "GT does not support sharding over a subset of the workers yet")
    return dp


def _refuse_backward(fn: str, name: str, backward: Any) -> None:
    if backward is not None:
        raise NotImplementedError(_BACKWARD_REFUSED.format(what=f"gt.signal.{fn}({name!r}, {backward!r})"))


def exit(name: str) -> None:  # noqa: A001 - the prototype's name
    """Close scope ``name``, the innermost open scope."""
    if not _stack:
        raise RuntimeError(f"gt.signal.exit({name!r}): no scope is open")
    top, configured, sharding = _stack[-1]
    if top != name:
        raise RuntimeError(f"gt.signal.exit({name!r}): the innermost open scope is {top!r}")
    _stack.pop()
    if sharding is not None:
        shard, previous = sharding
        made, _parameter.created = _parameter.created, previous
        _group(shard, name).shard(made, shard.axis, f"{shard!r} of scope {name!r}")
    if configured:
        runtime.mark_boundary(False)


@contextmanager
def context(name: str, backward: str | None = None) -> Iterator[None]:
    """``with gt.signal.context(name):`` runs its body inside scope ``name``."""
    _refuse_backward("context", _check_name(name), backward)
    enter(name)
    try:
        yield
    finally:
        exit(name)


def tensor(t: Any, name: str, backward_name: str | None = None) -> Any:
    """Tag tensor ``t`` with scope ``name`` (a copy-shard in the prototype).

    A scope configured with a ShardConfig shards a parameter (a leaf that requires grad) in place
    and returns it, or returns a replicated tensor's shard along dim 0 as a batch; any other scope
    returns ``t`` as it is.  A ``backward_name`` is refused like ``backward=`` on a scope.
    """
    from gt.client.tensor import Tensor

    if not isinstance(t, Tensor):
        raise TypeError(f"gt.signal.tensor: expected a gt Tensor, got {type(t).__name__}")
    _refuse_backward("tensor", _check_name(name), backward_name)
    config = _configs.get(name)
    if config is None or config.shard is None:
        return t
    shard, dp = config.shard, _group(config.shard, name)
    what = f"gt.signal.tensor(t, {name!r}) with {shard!r}"
    if t.requires_grad and t.is_leaf:
        dp.shard([t], shard.axis, what)
        return t
    if t.requires_grad or shard.axis != 0:
        raise NotImplementedError(f"{what}: GT shards parameters (leaves that require grad) along any axis and "
                                  "splits other tensors along dim 0 as batches; GT does not support sharding "
                                  + ("a computed tensor that requires grad" if t.requires_grad
                                     else f"a tensor that is not a parameter along axis {shard.axis}") + " yet")
    return dp.split(t, what)


def _load_env_config() -> None:
    path = os.environ.get("GT_CONFIG", "").strip()
    if path:
        load_config(path)


_load_env_config()

__all__ = ["ShardConfig", "SignalConfig", "context", "enter", "exit", "get_config", "load_config",
           "register_config", "tensor"]
