"""The shape of one op-table entry, its typed signature, and the checks every entry passes."""
from __future__ import annotations

import ast
import inspect
import re
import types
from typing import Callable, NamedTuple

# How the client infers an op's result (the shape-rule kinds), each read by gt/client:
#   elementwise  one tensor in, same shape; dtype and dtype errors as torch's (asked once per dtype)
#   broadcast    two tensors, broadcast shapes; dtype as above.  ``<name>_scalar`` is its twin
#                taking a Python number as the second operand, if the table has one
#   scalar       a tensor and a Python number, same shape; dtype as above
#   meta         shape and dtype from the entry's ``rule`` where it answers, else from the kernel
#                run on meta tensors (cached per shapes, dtypes and params): any op whose kernel
#                torch can run on "meta"
#   data         a result whose shape depends on the values (nonzero, unique): the client reads
#                the inputs (a sync point), runs the kernel on them and sends the result
#   gradient     a backward helper: inferred as ``meta``, emitted by gradient functions only
#   creation     no tensor inputs; the kernel takes the worker's device as ``device=``
#   client       a hand-written client function computes shape and dtype (gt/client/)
KINDS = frozenset({"elementwise", "broadcast", "scalar", "meta", "data", "gradient", "creation", "client"})
# The older labels of "client" entries, still accepted from entries written before them.
_CLIENT_LABELS = frozenset({"reduction", "matmul", "view", "indexing", "loss"})

# What an entry's signature generates (``variants``) and where its function goes (``export``).
VARIANTS = frozenset({"function", "method", "inplace", "out"})
NAMESPACES = frozenset({"gt", "gt.linalg", "gt.fft", "gt.special", "gt.nn.functional"})
# Argument types of a signature ("?": None allowed; "int[]": an int or a sequence of ints).
# "Tensor?" (None allowed) only in "data" ops; "Any": a number, string, None or nested sequence of them.
TYPES = frozenset({"Tensor", "Tensor?", "Scalar", "Scalar?", "int", "int?", "int[]", "int[]?", "float", "float?",
                   "bool", "str", "str?", "dtype?", "Any"})


class Param(NamedTuple):
    """One argument of a signature: ``name: type = default`` (``keyword``: after ``*``)."""

    name: str
    type: str
    default: object = inspect.Parameter.empty
    keyword: bool = False


class VJP:
    """``grad=VJP``: the gradient is torch's own backward of the kernel (``torch.func.vjp``
    on the worker, which compiled graphs can trace), one instruction per input that needs it.  For ops whose
    gradient torch computes from several kernels or formulas (qr, svd, eigh ...)."""


class Op(NamedTuple):
    """One op, defined once.

    ``kernel(*tensor_inputs, *scalars, *params)`` is what the worker runs, eagerly
    or inside an fx graph.  ``args`` names those arguments in that order (with a
    ``sig``, they follow from it).

    ``grad`` holds one gradient function per tensor input (None where there is
    none; empty: not differentiable), or ``VJP``.  A gradient function's parameters
    are names it is given: ``g`` (the incoming gradient), ``out`` (the op's result,
    saved only when some function takes it), ``inputs`` (all tensor inputs: a
    function taking it returns every input's gradient at once) and the names in
    ``args``.  It computes with GT tensor methods and ``ops.<entry name>``, which
    emits that entry (torch's backward kernels are "gradient" entries):
    ``lambda g, out: ops.sigmoid_backward(g, out)``.  A formula string over the
    same names is accepted too and compiled once when the table loads.
    Broadcasting kinds sum each gradient back to its input's shape.

    ``node`` is torch's grad_fn stem (``"exp"`` -> ``ExpBackward0``; a trailing
    digit is torch's overload number).  ``sig`` is the typed signature with torch's
    argument names and defaults (``"input: Tensor, dim: dim = 0, *, keepdim: bool = False"``);
    from it gt/client/generate.py makes the ``variants`` (``"function"`` in each of
    ``export``'s namespaces, ``"method"`` on Tensor, ``"inplace"`` as ``Tensor.<name>_``,
    ``"out"`` as an ``out=`` keyword).  ``public=True`` is the short form for an
    elementwise, broadcast or meta entry without ``sig``: function and method in ``gt``.

    ``rule`` (meta and gradient kinds) is a cheap shape rule, ``rule(inputs, params)`` ->
    (shape, dtype), or None where the kernel on meta tensors must decide (``gt.ops.rules``).
    """

    name: str
    kernel: Callable
    kind: str
    args: tuple = ("x",)
    grad: tuple = ()
    node: str = ""
    public: bool = False
    sig: str = ""
    variants: tuple = ()
    export: tuple = ("gt",)
    rule: Callable | None = None


class Signature(NamedTuple):
    """A parsed ``sig``: its parameters and, for an op of several results, their names."""

    params: tuple
    outputs: tuple = ()


def elementwise(name: str, kernel: Callable, grad: Callable | None = None, node: str = "", inplace: bool = True,
                export: tuple = ("gt",)) -> Op:
    """An elementwise entry: ``gt.<name>``, ``Tensor.<name>`` and (unless torch lacks it) ``Tensor.<name>_``."""
    variants = ("function", "method", "inplace") if inplace else ("function", "method")
    return Op(name, kernel, "elementwise", ("x",), (grad,) if grad else (), node or name, variants=variants,
              export=export)


def _split_top_level(text: str) -> list:
    """``text`` split at the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for c in text:
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and not depth:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(c)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


_PARAM = re.compile(r"^(\w+)\s*:\s*([\w\[\]?]+)\s*(?:=\s*(.+))?$")


def parse_signature(name: str, sig: str) -> Signature:
    """``"input: Tensor, dim: int = 0, *, keepdim: bool = False"`` -> its ``Param``s.  An op
    with several results names them after an arrow, ``"A: Tensor -> (Q, R)"``: its kernel
    takes a last param ``which`` (the result's position) and is emitted once per result."""
    text, arrow, outputs = sig.partition("->")
    params, keyword = [], False
    for part in _split_top_level(text):
        if part == "*":
            keyword = True
            continue
        m = _PARAM.match(part)
        if m is None:
            raise ValueError(f"op table: {name!r}: malformed argument {part!r} in its signature")
        arg, kind, default = m.groups()
        if kind not in TYPES:
            raise ValueError(f"op table: {name!r}: argument {arg!r} has unknown type {kind!r}")
        try:
            value = inspect.Parameter.empty if default is None else ast.literal_eval(default)
        except (ValueError, SyntaxError):
            raise ValueError(f"op table: {name!r}: argument {arg!r} has a default that is not a literal") from None
        if not keyword and value is inspect.Parameter.empty and params and \
                params[-1].default is not inspect.Parameter.empty:
            raise ValueError(f"op table: {name!r}: argument {arg!r} without a default follows one with a default")
        params.append(Param(arg, kind, value, keyword))
    names = re.fullmatch(r"\s*\(\s*(\w+(?:\s*,\s*\w+)*)\s*\)\s*", outputs) if arrow else None
    if arrow and names is None:
        raise ValueError(f"op table: {name!r}: results are named as '-> (a, b)', got {outputs.strip()!r}")
    return Signature(tuple(params), tuple(n.strip() for n in names.group(1).split(",")) if names else ())


def signature_args(sig: Signature) -> tuple:
    """The kernel's argument names for a signature: the tensors, then the rest, each in order
    (and ``which`` for an op of several results)."""
    tensors = tuple(p.name for p in sig.params if p.type in ("Tensor", "Tensor?"))
    rest = tuple(p.name for p in sig.params if p.type not in ("Tensor", "Tensor?"))
    return tensors + rest + (("which",) if sig.outputs else ())


# ``ops.<name>`` in gradient functions: the client's emitter of each table entry and the
# vocabulary below, filled by gt/client/gradients.py when the client loads (the table
# itself imports no client code).
ops = types.SimpleNamespace()
# Helpers beyond table entries that gradient functions may call through ``ops``.
VOCABULARY = frozenset({"sum_to", "expand_back", "numel_of", "inverse_permutation", "matmul_grads", "cat_grads",
                        "stack_grads", "index_grads", "setitem_grads", "einsum_grads", "unflatten_grads", "where",
                        "log"})


def _compiled(e: Op, formula: str, names: frozenset) -> Callable:
    """A formula string as a gradient function, compiled once (the older form of ``grad``)."""
    all_at_once = formula.startswith("*")
    body = formula[1:] if all_at_once else formula
    params = ("g", "out") + (("inputs",) if all_at_once else ()) + tuple(e.args)
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"op table: {e.name!r} has a malformed gradient {formula!r}: {exc.msg}") from None
    known = {*params, *names, *VOCABULARY, "range", "len", "tuple", "enumerate"}
    known.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in known:
            raise ValueError(f"op table: {e.name!r}: gradient {formula!r} uses unknown name {node.id!r}")
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {"inputs"}
    params = tuple(p for p in params if p in used)   # so a rule saves ``out`` only where it is used
    code = compile(f"lambda {', '.join(params)}: {body}", f"<gradient of {e.name}>", "eval")
    return eval(code, vars(ops))  # noqa: S307 - a table formula, compiled once at load


def gradient_functions(e: Op, names: frozenset) -> tuple:
    """``e.grad`` as functions (strings compiled once), each checked against the names it may take."""
    fns = tuple(_compiled(e, f, names) if isinstance(f, str) and f else (f or None) for f in e.grad)
    allowed = {"g", "out", "inputs", *e.args}
    for fn in fns:
        if fn is None:
            continue
        if not callable(fn):
            raise TypeError(f"op table: {e.name!r}: a gradient must be a function, a formula or None")
        params = inspect.signature(fn).parameters
        unknown = [p for p in params if p not in allowed]
        if unknown:
            raise ValueError(f"op table: {e.name!r}: gradient takes {unknown}, not among g, out, inputs, "
                             f"{', '.join(e.args)}")
        if "inputs" in params and len(fns) != 1:
            raise ValueError(f"op table: {e.name!r}: a gradient over all inputs must be the only one")
    return fns


def vjp_kernel(kernel: Callable, n_tensors: int) -> Callable:
    """The backward of ``kernel`` by torch itself: ``(g, *tensors, *params, which)`` -> the
    gradient of tensor input ``which``."""
    import torch

    def backward(g, *args):
        *args, which = args
        tensors, params = list(args[:n_tensors]), args[n_tensors:]

        def forward(t):
            tensors[which] = t
            return kernel(*tensors, *params)
        return torch.func.vjp(forward, args[which])[1](g)[0]
    backward.__name__ = f"{getattr(kernel, '__name__', 'kernel')}_vjp"
    return backward


def normalised(entries: tuple) -> tuple:
    """Entries in their full form: legacy kinds named "client", ``args`` from ``sig``,
    ``public`` as variants, and a ``<name>_vjp`` gradient entry after each ``VJP`` one."""
    out = []
    for e in entries:
        if e.kind in _CLIENT_LABELS:
            e = e._replace(kind="client")
        if e.sig:
            sig = parse_signature(e.name, e.sig)
            if e.kind != "data" and any(p.type == "Tensor?" for p in sig.params):
                raise ValueError(f"op table: {e.name!r}: optional tensors are for 'data' ops only")
            if e.kind == "data" and e.grad:
                raise ValueError(f"op table: {e.name!r}: a 'data' op has no gradient")
            derived = signature_args(sig)
            if e.args not in (("x",), derived):
                raise ValueError(f"op table: {e.name!r}: args {e.args} disagree with its signature ({derived})")
            e = e._replace(args=derived, variants=e.variants or ("function", "method"))
        elif e.public and not e.variants:
            e = e._replace(variants=("function", "method"))
        if e.grad is VJP or e.grad == (VJP,):
            e = e._replace(grad=(VJP,))
            n = len(_tensor_names(e))
            out += [e, Op(e.name + "_vjp", vjp_kernel(e.kernel, n), "gradient", ("g",) + e.args + ("which",))]
        else:
            out.append(e)
    return tuple(out)


def _tensor_names(e: Op) -> tuple:
    """The tensor inputs of an entry with a signature (a VJP entry has one)."""
    if not e.sig:
        raise ValueError(f"op table: {e.name!r}: grad=VJP needs a signature (which args are tensors)")
    return tuple(p.name for p in parse_signature(e.name, e.sig).params if p.type == "Tensor")


def load(entries: tuple) -> tuple:
    """The table as the client and worker use it: normalised, checked, gradients as functions."""
    entries = normalised(entries)
    check(entries)
    names = frozenset(e.name for e in entries)
    return tuple(e if e.grad == (VJP,) else e._replace(grad=gradient_functions(e, names)) for e in entries)


def check(entries: tuple) -> None:
    """Reject a malformed table at load: unknown kinds, variants or namespaces, duplicate
    names, gradients that are neither functions nor formulas over the entry's names."""
    seen = set()
    for e in entries:
        if e.name in seen:
            raise ValueError(f"op table: {e.name!r} is defined twice")
        seen.add(e.name)
        if e.kind not in KINDS:
            raise ValueError(f"op table: {e.name!r} has unknown kind {e.kind!r}")
        if not callable(e.kernel):
            raise TypeError(f"op table: {e.name!r} has a kernel that is not callable")
        if e.rule is not None and (not callable(e.rule) or e.kind not in ("meta", "gradient", "client")):
            raise ValueError(f"op table: {e.name!r}: a shape rule must be a function, on a meta, gradient or "
                             f"client entry")
        if not set(e.variants) <= VARIANTS or not set(e.export) <= NAMESPACES:
            raise ValueError(f"op table: {e.name!r}: unknown variants {e.variants} or namespaces {e.export}")
        if not isinstance(e.grad, tuple):
            raise TypeError(f"op table: {e.name!r}: grad must be a tuple of gradient functions or VJP")
