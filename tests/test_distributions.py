"""gt.distributions side by side with torch.distributions: samples under the same seed,
log_prob/entropy/moments and their gradients, KL divergences, torch's validation errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt

RTOL, ATOL = 1e-5, 1e-6
L = np.array([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [-0.3, 0.2, 0.7]], np.float32)


def _params(lib, name):
    """The parameters of one distribution (leaves with gradients), the same in both libraries."""
    def t(a):
        return lib.tensor(np.asarray(a, np.float32), requires_grad=True)
    return {
        "normal": lambda: (t([0.5, -1.0, 2.0]), t([1.0, 0.3, 2.5])),
        "uniform": lambda: (t([-1.0, 0.0, 2.0]), t([1.0, 0.5, 4.0])),
        "bernoulli-probs": lambda: (t([0.2, 0.5, 0.9]),),
        "bernoulli-logits": lambda: (t([-1.0, 0.3, 2.0]),),
        "categorical-probs": lambda: (t([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]),),
        "categorical-logits": lambda: (t([[0.1, 0.5, -0.3], [1.0, 2.0, 3.0]]),),
        "gamma": lambda: (t([2.0, 0.5, 5.0]), t([1.0, 3.0, 0.5])),
        "beta": lambda: (t([2.0, 0.5, 1.5]), t([1.0, 3.0, 1.5])),
        "dirichlet": lambda: (t([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]]),),
        "mvn-scale_tril": lambda: (t([[0.5, -1.0, 0.0], [1.0, 0.0, 2.0]]), t(L)),
        "mvn-covariance": lambda: (t([0.5, -1.0, 0.0]), t(L @ L.T)),
        "mvn-precision": lambda: (t([[0.5, -1.0, 0.0], [1.0, 0.0, 2.0]]), t(np.linalg.inv(L @ L.T))),
    }[name]()


def _make(lib, name, params):
    D = lib.distributions
    return {
        "normal": lambda: D.Normal(*params),
        "uniform": lambda: D.Uniform(*params),
        "bernoulli-probs": lambda: D.Bernoulli(probs=params[0]),
        "bernoulli-logits": lambda: D.Bernoulli(logits=params[0]),
        "categorical-probs": lambda: D.Categorical(probs=params[0]),
        "categorical-logits": lambda: D.Categorical(logits=params[0]),
        "gamma": lambda: D.Gamma(*params),
        "beta": lambda: D.Beta(*params),
        "dirichlet": lambda: D.Dirichlet(*params),
        "mvn-scale_tril": lambda: D.MultivariateNormal(params[0], scale_tril=params[1]),
        "mvn-covariance": lambda: D.MultivariateNormal(params[0], covariance_matrix=params[1]),
        "mvn-precision": lambda: D.MultivariateNormal(params[0], precision_matrix=params[1]),
    }[name]()


NAMES = ["normal", "uniform", "bernoulli-probs", "bernoulli-logits", "categorical-probs", "categorical-logits",
         "gamma", "beta", "dirichlet", "mvn-scale_tril", "mvn-covariance", "mvn-precision"]
REPARAMETERISED = [n for n in NAMES if not n.startswith(("bernoulli", "categorical"))]


def _both(name):
    g_params, t_params = _params(gt, name), _params(torch, name)
    return (_make(gt, name, g_params), g_params), (_make(torch, name, t_params), t_params)


def _close(g, t, rtol=RTOL, atol=ATOL):
    assert isinstance(g, gt.Tensor) and tuple(g.shape) == tuple(t.shape) and g.dtype == t.dtype, (g, t)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def _grads_close(g_params, t_params, rtol=1e-4, atol=1e-5):
    for g, t in zip(g_params, t_params):
        assert (g.grad is None) == (t.grad is None)
        if t.grad is not None:
            _close(g.grad, t.grad, rtol, atol)


@pytest.mark.parametrize("name", NAMES)
def test_samples_equal_torchs_under_the_same_seed(name):
    (g, _), (t, _) = _both(name)
    assert g.batch_shape == t.batch_shape and g.event_shape == t.event_shape
    for shape in ((), (4,), (2, 3)):
        gt.manual_seed(7)
        g_sample = g.sample(shape)
        torch.manual_seed(7)
        t_sample = t.sample(shape)
        _close(g_sample, t_sample)
        assert not g_sample.requires_grad


@pytest.mark.parametrize("name", REPARAMETERISED)
def test_rsample_equals_torchs_with_gradients_to_the_parameters(name):
    (g, g_params), (t, t_params) = _both(name)
    gt.manual_seed(3)                 # gt's generator is torch's: seed before each draw
    g_x = g.rsample((5,))
    torch.manual_seed(3)
    t_x = t.rsample((5,))
    _close(g_x, t_x)
    weights = np.linspace(-1, 2, int(np.prod(t_x.shape)), dtype=np.float32).reshape(t_x.shape)
    (g_x * gt.tensor(weights)).sum().backward()
    (t_x * torch.tensor(weights)).sum().backward()
    _grads_close(g_params, t_params)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_entropy_and_gradients_equal_torchs(name):
    (g, g_params), (t, t_params) = _both(name)
    torch.manual_seed(0)
    value = t.sample((4,))
    g_lp, t_lp = g.log_prob(gt.tensor(value.numpy())), t.log_prob(value)
    _close(g_lp, t_lp)
    g_h, t_h = g.entropy(), t.entropy()
    _close(g_h, t_h)
    (g_lp.sum() + g_h.sum()).backward()
    (t_lp.sum() + t_h.sum()).backward()
    _grads_close(g_params, t_params)


@pytest.mark.parametrize("name", NAMES)
def test_moments_equal_torchs(name):
    (g, _), (t, _) = _both(name)
    for attr in ("mean", "variance", "stddev"):
        g_v, t_v = getattr(g, attr), getattr(t, attr)
        assert tuple(g_v.shape) == tuple(t_v.shape)
        np.testing.assert_allclose(g_v.detach().numpy(), t_v.detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["mvn-scale_tril", "mvn-covariance", "mvn-precision"])
def test_mvn_matrices_and_their_gradients_equal_torchs(name):
    """Each of the three matrices follows from the one given (precision: Cholesky of the
    reversed matrix, as torch's ``_precision_to_scale_tril``)."""
    (g, g_params), (t, t_params) = _both(name)
    total = []
    for attr in ("scale_tril", "covariance_matrix", "precision_matrix"):
        g_m, t_m = getattr(g, attr), getattr(t, attr)
        _close(g_m, t_m, rtol=1e-4, atol=1e-5)
        total.append((g_m.sum(), t_m.sum()))
    sum(a for a, _ in total).backward()
    sum(b for _, b in total).backward()
    _grads_close(g_params, t_params, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_at_extreme_probs_equals_torchs(dtype):
    """Probabilities at and next to 0 and 1: logits from ``log1p`` as torch's (bit for bit), so
    log_prob, entropy and their gradients are finite and equal torch's."""
    tiny = np.finfo(dtype).eps / 4
    probs = np.concatenate([[0.0, tiny, 1e-4, 0.5, 1 - 1e-4, 1 - tiny, 1.0],
                            np.random.default_rng(0).uniform(0, 0.01, 20)]).astype(dtype)
    value = (np.arange(len(probs)) % 2).astype(dtype)
    results = []
    for lib in (gt, torch):
        p = lib.tensor(probs, requires_grad=True)
        d = lib.distributions.Bernoulli(probs=p)
        out = (d.logits, d.log_prob(lib.tensor(value)), d.entropy())
        sum(o.sum() for o in out).backward()
        results.append(out + (p.grad,))
    np.testing.assert_array_equal(results[0][0].detach().numpy(), results[1][0].detach().numpy())
    for a, b in zip(*results):
        assert np.isfinite(b.detach().numpy()).all()
        _close(a, b, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)


def test_categorical_probs_logits_and_support_as_torchs():
    (g, _), (t, _) = _both("categorical-probs")
    _close(g.logits, t.logits)
    _close(g.probs, t.probs)
    _close(g.mode, t.mode)
    _close(g.enumerate_support(), t.enumerate_support())
    assert repr(g.support) == repr(t.support) and repr(g) == repr(t)


def test_bernoulli_mode_and_support_as_torchs():
    (g, _), (t, _) = _both("bernoulli-probs")
    np.testing.assert_array_equal(g.mode.numpy(), t.mode.numpy())
    _close(g.enumerate_support(), t.enumerate_support())
    _close(g.logits, t.logits, rtol=1e-5)


def test_normal_cdf_and_uniform_cdf_icdf_equal_torchs():
    (g, _), (t, _) = _both("normal")
    x = np.array([0.3, -0.5, 1.0], np.float32)
    _close(g.cdf(gt.tensor(x)), t.cdf(torch.tensor(x)))
    (g, _), (t, _) = _both("uniform")
    x = np.array([0.3, 0.2, 3.0], np.float32)
    _close(g.cdf(gt.tensor(x)), t.cdf(torch.tensor(x)))
    q = np.array([0.1, 0.5, 0.9], np.float32)
    _close(g.icdf(gt.tensor(q)), t.icdf(torch.tensor(q)))


def test_scalar_parameters_give_an_empty_batch_shape():
    for lib in (gt, torch):
        d = lib.distributions.Normal(0.0, 1.0)
        assert d.batch_shape == torch.Size() and d.sample().shape == torch.Size()
        assert repr(d) == "Normal(loc: 0.0, scale: 1.0)"
    assert gt.distributions.Normal(0.0, 1.0).loc.dtype == torch.float32


KL_PAIRS = [("normal", lambda lib, p: lib.distributions.Normal(p[0] * 0.5, p[1] + 1)),
            ("categorical-logits", lambda lib, p: lib.distributions.Categorical(logits=p[0] * 2)),
            ("bernoulli-probs", lambda lib, p: lib.distributions.Bernoulli(probs=p[0] * 0.5 + 0.1)),
            ("uniform", lambda lib, p: lib.distributions.Uniform(p[0] - 1, p[1] + 1)),
            ("gamma", lambda lib, p: lib.distributions.Gamma(p[0] + 1, p[1] * 2)),
            ("beta", lambda lib, p: lib.distributions.Beta(p[1], p[0])),
            ("dirichlet", lambda lib, p: lib.distributions.Dirichlet(p[0] + 0.5)),
            ("mvn-scale_tril", lambda lib, p: lib.distributions.MultivariateNormal(p[0] * 2, scale_tril=p[1] * 1.5))]


@pytest.mark.parametrize("name, other", KL_PAIRS, ids=[n for n, _ in KL_PAIRS])
def test_kl_divergence_and_its_gradients_equal_torchs(name, other):
    (g, g_params), (t, t_params) = _both(name)
    g_kl = gt.distributions.kl_divergence(g, other(gt, g_params))
    t_kl = torch.distributions.kl_divergence(t, other(torch, t_params))
    _close(g_kl, t_kl, rtol=1e-4, atol=1e-5)
    g_kl.sum().backward()
    t_kl.sum().backward()
    _grads_close(g_params, t_params)


def test_independent_normal_equals_torchs():
    """A VAE's diagonal posterior: Independent(Normal(mu, sigma), 1) over (batch, latent)."""
    rng = np.random.default_rng(0)
    mu, log_sigma = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    results = []
    for lib in (gt, torch):
        m, s = lib.tensor(mu, requires_grad=True), lib.tensor(log_sigma, requires_grad=True)
        d = lib.distributions.Independent(lib.distributions.Normal(m, s.exp()), 1)
        prior = lib.distributions.Independent(lib.distributions.Normal(lib.zeros(4, 3), lib.ones(4, 3)), 1)
        lib.manual_seed(5)
        z = d.rsample()
        out = (d.log_prob(z), d.entropy(), lib.distributions.kl_divergence(d, prior))
        sum(o.sum() for o in out).backward()
        results.append((d.batch_shape, d.event_shape, repr(d), z, *out, m.grad, s.grad))
    g, t = results
    assert g[:3] == t[:3]
    for a, b in zip(g[3:], t[3:]):
        _close(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Expected reinterpreted_batch_ndims <= len"):
        gt.distributions.Independent(gt.distributions.Normal(0.0, 1.0), 1)


def test_kl_of_disjoint_supports_is_inf_as_torchs():
    for lib in (gt, torch):
        p = lib.distributions.Uniform(lib.tensor([0.0, 0.0]), lib.tensor([1.0, 1.0]))
        q = lib.distributions.Uniform(lib.tensor([0.5, -1.0]), lib.tensor([2.0, 2.0]))
        kl = lib.distributions.kl_divergence(p, q)
        assert kl[0].item() == float("inf") and kl[1].item() == pytest.approx(np.log(3.0))


def test_reinforce_gradient_equals_torchs():
    """The policy-gradient estimate: -(log pi(a) * advantage).mean() through Categorical."""
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((6, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    adv = rng.standard_normal(6).astype(np.float32)
    grads = []
    for lib in (gt, torch):
        lib.manual_seed(1)
        weight = lib.tensor(w, requires_grad=True)
        dist = lib.distributions.Categorical(logits=lib.tensor(obs) @ weight)
        action = dist.sample()
        loss = -(dist.log_prob(action) * lib.tensor(adv)).mean() - 0.01 * dist.entropy().mean()
        loss.backward()
        grads.append((action.numpy() if lib is gt else action.numpy(), weight.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build, match", [
    (lambda lib: lib.distributions.Normal(lib.tensor([0.0]), lib.tensor([-1.0])),
     r"Expected parameter scale \(Tensor of shape \(1,\)\) of distribution Normal\(loc: tensor\(\[0.\]\), scale: "
     r"tensor\(\[-1.\]\)\) to satisfy the constraint GreaterThan\(lower_bound=0.0\)"),
    (lambda lib: lib.distributions.Categorical(probs=lib.tensor([0.5, 0.5]), logits=lib.tensor([0.0, 0.0])),
     "Either `probs` or `logits` must be specified, but not both."),
    (lambda lib: lib.distributions.Categorical(probs=lib.tensor(0.5)),
     "`probs` parameter must be at least one-dimensional."),
    (lambda lib: lib.distributions.Uniform(lib.tensor([1.0]), lib.tensor([0.0])),
     "Uniform is not defined when low>= high|Expected parameter low"),
    (lambda lib: lib.distributions.Categorical(probs=lib.tensor([0.5, 0.5])).log_prob(lib.tensor(3)),
     r"Expected value argument \(Tensor of shape \(\)\) to be within the support \(IntegerInterval\(lower_bound=0, "
     r"upper_bound=1\)\)"),
    (lambda lib: lib.distributions.Normal(lib.zeros(3), lib.ones(3)).log_prob(lib.zeros(2)),
     "Value is not broadcastable with batch_shape\\+event_shape"),
    (lambda lib: lib.distributions.Dirichlet(lib.tensor([[-1.0, 1.0]])), "Expected parameter concentration"),
    (lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2)),
     "Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified."),
    (lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2), scale_tril=lib.tensor([[1.0, 1.0], [0.0, 1.0]])),
     "to satisfy the constraint LowerCholesky"),
])
def test_bad_arguments_raise_torchs_value_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build(torch)
    with pytest.raises(ValueError, match=match):
        build(gt)


def test_validation_can_be_turned_off_as_torchs():
    for lib in (gt, torch):
        d = lib.distributions.Normal(lib.tensor([0.0]), lib.tensor([-1.0]), validate_args=False)
        assert d.scale.item() == -1.0


def test_what_gt_lacks_is_named():
    with pytest.raises(AttributeError, match="GT does not support torch.distributions.Poisson yet"):
        gt.distributions.Poisson
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q "
                                                  "type Gamma"):
        gt.distributions.kl_divergence(gt.distributions.Normal(0.0, 1.0), gt.distributions.Gamma(1.0, 1.0))


def test_register_kl_adds_a_pair():
    class Wide(gt.distributions.Normal):
        pass

    @gt.distributions.register_kl(Wide, gt.distributions.Normal)
    def _kl(p, q):
        return p.loc * 0 + 42.0

    try:
        assert gt.distributions.kl_divergence(Wide(0.0, 1.0), gt.distributions.Normal(0.0, 1.0)).item() == 42.0
        assert gt.distributions.kl_divergence(gt.distributions.Normal(0.0, 1.0), Wide(0.0, 1.0)).item() == 0.0
    finally:
        del gt.distributions.kl._KL_REGISTRY[Wide, gt.distributions.Normal]


def test_a_vae_step_compiles_with_rsample(use_worker):
    """rsample's noise is a fresh input each step: a hot path of Normal's reparameterised
    sample, log_prob and KL compiles and equals eager."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)

    def train(worker_kw):
        w = use_worker(**worker_kw)
        gt.manual_seed(0)
        enc, dec = gt.nn.Linear(4, 4), gt.nn.Linear(2, 4)
        opt = gt.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=0.01)
        for _ in range(6):
            opt.zero_grad()
            h = enc(gt.tensor(x))
            q = gt.distributions.Normal(h[:, :2], h[:, 2:].exp(), validate_args=False)
            z = q.rsample()
            kl = gt.distributions.kl_divergence(q, gt.distributions.Normal(0.0, 1.0)).sum(-1)
            loss = ((dec(z) - gt.tensor(x)) ** 2).sum(-1).mean() + kl.mean()
            loss.backward()
            opt.step()
        return [p.detach().numpy() for p in enc.parameters()], w.get_stats()["compilation"]

    eager, _ = train({"batch_size": 1})
    compiled, stats = train({"batch_size": 1024, "auto_compile": True, "threshold": 2})
    assert stats["compile_failures"] == 0
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c, e, rtol=1e-4, atol=1e-5)
