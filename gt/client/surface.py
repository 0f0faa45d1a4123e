"""Where each client function goes: ``gt.<name>``, ``gt.linalg.<name>`` ..., ``Tensor.<name>``.

The client modules declare their hand-written functions here, as data, next to their
definitions; ``gt.client.generate`` adds the functions it makes from the op table's
signatures and installs the methods on ``Tensor`` once, when the client has loaded.
``gt`` and its sub-namespaces export ``FUNCTIONS[namespace]``.  Importing nothing of
the client, this module sits below every module that declares into it, so no client
module needs to import the ones above it.
"""
from __future__ import annotations

from gt.ops.table import NAMESPACES

FUNCTIONS: dict = {ns: {} for ns in NAMESPACES}   # namespace -> {name: function}
METHODS: dict = {}                                # Tensor attribute -> function or property
INPLACE: dict = {}                                # Tensor method -> its in-place form's name (``x.exp_()``)


def _add(table: dict, where: str, items: dict) -> None:
    for name, fn in items.items():
        if name in table and table[name] is not fn:
            raise ValueError(f"gt.client: {where}.{name} is declared twice")
        table[name] = fn


def functions(namespace: str = "gt", **fns) -> None:
    """Export ``fns`` as ``<namespace>.<name>``."""
    _add(FUNCTIONS[namespace], namespace, fns)


def methods(**fns) -> None:
    """Make ``fns`` Tensor methods (or properties: pass a ``property``)."""
    _add(METHODS, "Tensor", fns)


def inplace(*names: str, **renamed: str) -> None:
    """Give the Tensor methods ``names`` in-place forms ``<name>_`` (computed, then rebound);
    ``renamed`` maps a method to an in-place form of another name (``__add__="__iadd__"``)."""
    _add(INPLACE, "Tensor", {name: name + "_" for name in names})
    _add(INPLACE, "Tensor", renamed)


def _qualified(name: str) -> tuple:
    """``"linalg.det"`` -> ``("gt.linalg", "det")``; ``"abs"`` -> ``("gt", "abs")``."""
    namespace, _, short = name.rpartition(".")
    return ("gt." + namespace if namespace else "gt"), short


def alias(pairs: tuple) -> None:
    """Declare each ``(alias, target)`` of ``gt.ops.aliases.ALIASES``: the target's function under
    the alias's name and, where torch's Tensor has them, its method and in-place form."""
    import torch

    for name, target in pairs:
        (namespace, short), (target_namespace, target_short) = _qualified(name), _qualified(target)
        fn = FUNCTIONS[target_namespace].get(target_short)
        if fn is None:
            raise ValueError(f"gt.client: alias {name!r} names {target!r}, which GT does not have")
        functions(namespace, **{short: fn})
        if namespace != "gt" or not hasattr(torch.Tensor, short):
            continue
        methods(**{short: METHODS.get(target_short, fn)})
        if hasattr(torch.Tensor, short + "_"):
            if target_short in INPLACE:
                inplace(short)
            elif target_short + "_" in METHODS:
                methods(**{short + "_": METHODS[target_short + "_"]})


def missing_from(namespace: str):
    """A module ``__getattr__`` for ``gt.<namespace>``: a name torch has there is named as one
    GT does not support yet."""
    import importlib

    torch_module = importlib.import_module("torch." + namespace)

    def __getattr__(name: str):
        if hasattr(torch_module, name):
            raise AttributeError(f"module 'gt.{namespace}' has no attribute '{name}': GT does not support "
                                 f"torch.{namespace}.{name} yet")
        raise AttributeError(f"module 'gt.{namespace}' has no attribute '{name}'")
    return __getattr__
