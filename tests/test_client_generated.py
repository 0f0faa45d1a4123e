"""The client's fast paths.  The functions generated from the op table's signatures: the one
made for each signature takes the usual calls itself and hands every other call to the generic
binder, so both paths give torch's values and the binder's error messages.  The op path's
grad-mode check: per thread, though it reads the thread-local only while a thread has it off."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import gt


@pytest.mark.parametrize("call, message", [
    (lambda x: gt.diag(x, 1, 2), r"diag\(\) takes 2 positional arguments but 3 were given"),
    (lambda x: gt.roll(x), r"roll\(\) missing required argument 'shifts'"),
    (lambda x: x.roll(), r"roll\(\) missing required argument 'shifts'"),
    (lambda x: gt.diag(x, offset=1), r"diag\(\) got an unexpected keyword argument 'offset'"),
    (lambda x: gt.diag(x, 1, diagonal=1), r"diag\(\) got multiple values for argument 'diagonal'"),
    (lambda x: gt.kron(x, 2.0), r"kron\(\): argument 'other' must be a gt Tensor, not float"),
    (lambda x: gt.kron(None, x), r"kron\(\): argument 'input' must be a gt Tensor, not NoneType"),
    (lambda x: gt.roll(x, "a"), r"roll\(\): argument 'shifts': "),
    (lambda x: gt.diag(x, 1.5), r"diag\(\): argument 'diagonal': "),
    (lambda x: gt.addcmul(x, x, x, 2), r"addcmul\(\) takes 3 positional arguments but 4 were given"),
    (lambda x: gt.addcmul(x, x, x, value="a"), r"addcmul\(\): argument 'value': expected a number, got str"),
])
def test_signature_functions_name_what_is_wrong_with_a_call(pair, call, message):
    x, t = pair(np.arange(12.0).reshape(3, 4))
    with pytest.raises(TypeError):
        call(t)
    with pytest.raises(TypeError, match=message):
        call(x)


def test_signature_functions_take_every_form_of_call_as_torch(pair, assert_matches):
    x, t = pair(np.arange(12.0).reshape(3, 4), requires_grad=True)
    for call in (lambda lib, a: lib.roll(a, 1, 0),
                 lambda lib, a: lib.roll(input=a, shifts=1, dims=0),
                 lambda lib, a: lib.roll(a, shifts=(1, 2), dims=[0, 1]),
                 lambda lib, a: a.roll(-1),
                 lambda lib, a: a.flip(0, 1),
                 lambda lib, a: a.flip([0, 1]),
                 lambda lib, a: lib.logsumexp(a, dim=1, keepdim=True),
                 lambda lib, a: lib.logsumexp(a, np.int64(1)),
                 lambda lib, a: lib.addcmul(a, a, a, value=2),
                 lambda lib, a: lib.addcmul(a, a, a),
                 lambda lib, a: lib.diag(a, diagonal=-1)):
        got, want = call(gt, x), call(torch, t)
        assert_matches(got, want)
        got.sum().backward()
        want.sum().backward()
        assert_matches(x.grad, t.grad)
        x.grad, t.grad = None, None


def test_signature_functions_take_torch_tensors_and_parameters(pair, assert_matches):
    x, t = pair(np.arange(6.0).reshape(2, 3))
    other = torch.arange(4.0, device=t.device).reshape(2, 2)
    assert_matches(gt.kron(x, other), torch.kron(t, other))
    p = gt.nn.Parameter(x)
    assert_matches(gt.kron(p, x), torch.kron(t, t))
    assert_matches(p.roll(1, 1), t.roll(1, 1))


def test_ops_read_each_threads_grad_mode_with_gradients_off_elsewhere():
    """The op path skips the thread-local read while no thread has gradients off: a thread
    inside no_grad records nothing, while another records, and the count goes back to 0."""
    from gt.client import modes
    x = gt.ones(3, requires_grad=True)
    inside, done, seen = threading.Event(), threading.Event(), {}

    def no_grad_thread():
        with gt.no_grad():
            seen["off_thread"] = (x * x).requires_grad
            inside.set()
            done.wait(30)
        seen["after"] = (x * x).requires_grad

    t = threading.Thread(target=no_grad_thread)
    t.start()
    try:
        assert inside.wait(30)
        seen["elsewhere"] = (x * x).requires_grad
        with gt.no_grad():
            seen["main_off"] = (x * x).requires_grad
    finally:
        done.set()
        t.join(30)
    assert seen == {"off_thread": False, "elsewhere": True, "main_off": False, "after": True}
    assert modes.disabled_threads == 0
    assert (x * x).requires_grad
