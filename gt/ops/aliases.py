"""torch's other names for GT's functions (``torch.absolute`` is ``torch.abs``), as data.

Each pair is ``(alias, target)``, a name in ``gt`` or ``<namespace>.<name>``
(``"linalg.det"`` is ``gt.linalg.det``).  The alias is the target's very function
in the alias's namespace; when torch's Tensor has a method of the alias's name it
is the target's method (or, for a function torch has only as a function, that
function taking the tensor first), and its in-place form ``<alias>_`` where torch
has one and GT has the target's.  ``gt.client.surface.alias`` applies them once,
after the table's functions are generated.
"""
from __future__ import annotations

ALIASES: tuple = (
    ("absolute", "abs"), ("arccos", "acos"), ("arcsin", "asin"), ("arctan", "atan"), ("arctan2", "atan2"),
    ("arccosh", "acosh"), ("arcsinh", "asinh"), ("arctanh", "atanh"), ("negative", "neg"), ("fix", "trunc"),
    ("divide", "div"), ("true_divide", "div"), ("multiply", "mul"), ("subtract", "sub"),
    ("greater", "gt"), ("greater_equal", "ge"), ("less", "lt"), ("less_equal", "le"), ("not_equal", "ne"),
    ("moveaxis", "movedim"), ("ger", "outer"), ("clip", "clamp"), ("row_stack", "vstack"),
    ("det", "linalg.det"), ("inverse", "linalg.inv"), ("matrix_exp", "linalg.matrix_exp"),
    ("special.expit", "sigmoid"), ("special.psi", "digamma"), ("special.gammaln", "lgamma"),
)
