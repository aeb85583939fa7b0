"""nn.Module, Parameter, init and the optimizers: registration, state dicts (and that a failed load changes
nothing), PyTorch's default initialisation distributions, the optimizers' update formulas written out here
independently in numpy, and modules inside compiled functions.

tests/compat/training_loop.py checks the same against PyTorch's printed output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.shared = self.fc  # the same module twice: its parameters count once
        self.register_buffer("steps", tg.zeros(1))
        self.register_buffer("scratch", tg.zeros(2), persistent=False)
        self.blocks = nn.ModuleList([nn.Tanh(), nn.Linear(4, 2, bias=False)])

    def forward(self, x):
        return self.blocks[1](self.blocks[0](self.fc(x)))


def test_modules_register_parameters_buffers_and_children_by_attribute():
    net = _Net()
    assert [n for n, _ in net.named_parameters()] == ["fc.weight", "fc.bias", "blocks.1.weight"]
    # (the state dict names a shared module's tensors under each name, as PyTorch's does)
    assert list(net.state_dict()) == ["steps", "fc.weight", "fc.bias", "shared.weight", "shared.bias",
                                      "blocks.1.weight"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "fc", "blocks", "blocks.0", "blocks.1"]
    assert isinstance(net.fc.weight, nn.Parameter) and net.fc.weight.is_leaf and net.fc.weight.requires_grad
    assert net.blocks[1].bias is None and "bias" in net.blocks[1]._parameters
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        net.fc.weight = tg.ones(4, 3)
    assert not net.eval().training and not net.blocks[0].training and net.train().fc.training
    out = net(tg.ones(5, 3))
    assert out.shape == (5, 2) and out.grad_fn is not None


def test_parameter_shares_its_source_and_is_a_leaf():
    source = tg.tensor([1.0, 2.0])
    p = nn.Parameter(source)
    with tg.no_grad():
        p.mul_(3)
    assert source.tolist() == [3.0, 6.0] and p.grad_fn is None
    (p * p).sum().backward()
    assert p.grad.tolist() == [6.0, 12.0]
    assert not nn.Parameter(source, requires_grad=False).requires_grad


def test_a_failed_load_state_dict_changes_nothing():
    net = _Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bad = {k: v + 1 for k, v in before.items()}
    bad["fc.weight"] = tg.zeros(2, 2)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight: copying a param with shape "
                                           r"torch.Size\(\[2, 2\]\) from checkpoint"):
        net.load_state_dict(bad)
    del bad["fc.weight"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "fc.weight"'):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():
        assert np.array_equal(v.numpy(), before[k].numpy()), k
    result = net.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["fc.weight"] and result.unexpected_keys == []
    assert np.array_equal(net.fc.bias.detach().numpy(), before["fc.bias"].numpy() + 1)


def test_to_zero_grad_and_requires_grad():
    net = _Net().double()
    assert all(p.dtype == tg.float64 for p in net.parameters()) and net.steps.dtype == tg.float64
    net(tg.ones(2, 3, dtype=tg.float64)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert not any(p.requires_grad for p in net.requires_grad_(False).parameters())


def test_linear_initialisation_has_pytorchs_distribution():
    tg.manual_seed(3)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound and abs(w.mean()) < 0.01 * bound
    assert layer.weight.dtype == tg.float32
    w = tg.empty(200, 300)
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)


# --------------------------------------------------------------------------
# The optimizers against their formulas, written out here (PyTorch's documentation of each)
# --------------------------------------------------------------------------

def _reference_path(kind, kw, p0, c, steps=20):
    """p after `steps` updates on sum(c p^4 - p), each from the gradient at the current p, by the formula."""
    p, state = p0.copy(), {}
    for t in range(1, steps + 1):
        g = 4 * c * p ** 3 - 1
        if kind == "sgd":
            g = g + kw["weight_decay"] * p
            if kw["momentum"]:
                buf = state.get("buf")
                buf = g.copy() if buf is None else kw["momentum"] * buf + (1 - kw["dampening"]) * g
                state["buf"] = buf
                g = g + kw["momentum"] * buf if kw["nesterov"] else buf
            p = p - kw["lr"] * g
            continue
        if kind == "rmsprop":
            g = g + kw["weight_decay"] * p
            v = kw["alpha"] * state.get("v", 0.0) + (1 - kw["alpha"]) * g * g
            mean = kw["alpha"] * state.get("mean", 0.0) + (1 - kw["alpha"]) * g
            avg = np.sqrt(v - mean ** 2 if kw["centered"] else v) + kw["eps"]
            buf = kw["momentum"] * state.get("buf", 0.0) + g / avg
            state.update(v=v, mean=mean, buf=buf)
            p = p - kw["lr"] * (buf if kw["momentum"] else g / avg)
            continue
        if kind == "adagrad":
            g = g + kw["weight_decay"] * p
            total = state.get("sum", kw["initial_accumulator_value"]) + g * g
            state["sum"] = total
            p = p - kw["lr"] / (1 + (t - 1) * kw["lr_decay"]) * g / (np.sqrt(total) + kw["eps"])
            continue
        b1, b2 = kw["betas"]
        if kind == "adamw":
            p = p * (1 - kw["lr"] * kw["weight_decay"])
        else:
            g = g + kw["weight_decay"] * p
        m = b1 * state.get("m", 0.0) + (1 - b1) * g
        v = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        vmax = np.maximum(state.get("vmax", 0.0), v)
        state.update(m=m, v=v, vmax=vmax)
        vhat = (vmax if kw["amsgrad"] else v) / (1 - b2 ** t)
        p = p - kw["lr"] * (m / (1 - b1 ** t)) / (np.sqrt(vhat) + kw["eps"])
    return p


@pytest.mark.parametrize("settings", [
    ("sgd", dict(lr=0.05, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.01, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.0, nesterov=False)),
    ("adam", dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False)),
    ("adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("adamw", dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, amsgrad=False)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)),
    ("rmsprop", dict(lr=0.01, alpha=0.99, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-10)),
], ids=["sgd", "sgd-nesterov-decay", "sgd-dampening", "adam", "adam-amsgrad-decay", "adamw", "rmsprop",
        "rmsprop-centered-momentum", "adagrad"])
def test_twenty_steps_follow_the_documented_update(settings):
    kind, kw = settings
    p0, c = np.linspace(-1.0, 1.5, 6), np.linspace(0.5, 2.0, 6)
    p_ref = _reference_path(kind, kw, p0, c)
    p = nn.Parameter(tg.tensor(p0))
    opt = {"sgd": tg.optim.SGD, "adam": tg.optim.Adam, "adamw": tg.optim.AdamW, "rmsprop": tg.optim.RMSprop,
           "adagrad": tg.optim.Adagrad}[kind]([p], **kw)
    weights = tg.tensor(c)
    for _ in range(20):
        opt.zero_grad()
        (weights * p ** 4 - p).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), p_ref, rtol=1e-12, atol=1e-14)


def test_optimizer_errors_and_state_round_trip():
    p = nn.Parameter(tg.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        tg.optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        tg.optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        tg.optim.SGD([], lr=0.1)
    opt = tg.optim.Adam([p], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (p ** 2).sum().backward()
        opt.step()
    saved = opt.state_dict()
    twin = nn.Parameter(tg.tensor(p.detach().numpy().copy()))
    other = tg.optim.Adam([twin], lr=0.5)
    other.load_state_dict(saved)
    for o, q in ((opt, p), (other, twin)):
        o.zero_grad()
        (q ** 2).sum().backward()
        o.step()
    np.testing.assert_array_equal(p.detach().numpy(), twin.detach().numpy())


def test_modules_run_inside_compiled_functions_and_see_updated_parameters():
    tg.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = np.linspace(-1, 1, 15).reshape(5, 3).astype(np.float32)
    f = tg.value_and_grad(lambda x: (net(x) ** 2).sum(), tier="executor")
    xt = tg.tensor(x, requires_grad=True)
    eager = (net(xt) ** 2).sum()
    eager.backward()
    value, grad = f(x)
    np.testing.assert_allclose(value, eager.item(), rtol=1e-6)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    opt = tg.optim.SGD(net.parameters(), lr=0.1)
    (net(tg.tensor(x)) ** 2).sum().backward()
    opt.step()
    np.testing.assert_allclose(f(x)[0], (net(tg.tensor(x)) ** 2).sum().item(), rtol=1e-6)


def test_schedulers_follow_their_closed_forms():
    p = nn.Parameter(tg.tensor([1.0]))
    cases = [(lambda o: tg.optim.lr_scheduler.StepLR(o, 3, 0.5), lambda e: 0.5 ** (e // 3)),
             (lambda o: tg.optim.lr_scheduler.ExponentialLR(o, 0.9), lambda e: 0.9 ** e),
             (lambda o: tg.optim.lr_scheduler.CosineAnnealingLR(o, 6, eta_min=0.1),
              lambda e: 0.1 + 0.9 * (1 + math.cos(math.pi * e / 6)) / 2),
             (lambda o: tg.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)), lambda e: 1 / (1 + e))]
    for make, closed in cases:
        opt = tg.optim.SGD([p], lr=1.0)
        sched = make(opt)
        for epoch in range(1, 15):
            opt.step()
            sched.step()
            assert math.isclose(opt.param_groups[0]["lr"], closed(epoch), rel_tol=1e-12), (type(sched), epoch)


def test_clip_grad_norm_scales_to_the_bound_and_returns_the_norm():
    a, b = nn.Parameter(tg.zeros(2)), nn.Parameter(tg.zeros(1))
    a.grad, b.grad = tg.tensor([3.0, 0.0]), tg.tensor([4.0])
    norm = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert math.isclose(norm.item(), 5.0, rel_tol=1e-7)
    np.testing.assert_allclose(np.concatenate([a.grad.numpy(), b.grad.numpy()]), np.array([3, 0, 4]) / (5 + 1e-6),
                               rtol=1e-6)
    assert math.isclose(nn.utils.clip_grad_norm_([a, b], max_norm=10.0).item(), 1.0, rel_tol=1e-5)
    b.grad = tg.tensor([math.inf])
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)


def test_data_loader_batches_shuffles_reproducibly_and_drops_the_last():
    from tracegrad.utils.data import DataLoader, TensorDataset
    data = TensorDataset(tg.arange(14.0).reshape(7, 2), tg.arange(7))
    assert [len(y) for _, y in DataLoader(data, batch_size=3)] == [3, 3, 1]
    assert len(DataLoader(data, batch_size=3, drop_last=True)) == 2

    def epoch(seed):
        loader = DataLoader(data, batch_size=2, shuffle=True, generator=tg.Generator().manual_seed(seed))
        return [y.tolist() for _, y in loader]
    first, again = epoch(4), epoch(4)
    assert first == again and sorted(sum(first, [])) == list(range(7)) and sum(first, []) != list(range(7))
    xb, yb = next(iter(DataLoader(data, batch_size=4)))
    assert xb.shape == (4, 2) and yb.tolist() == [0, 1, 2, 3]
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(tg.zeros(3), tg.zeros(4))


def test_layers_with_state_match_their_formulas():
    x = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0], [2.0, 0.0, -1.0]])
    ln = nn.LayerNorm(3).double()
    centred = x - x.mean(1, keepdims=True)
    np.testing.assert_allclose(ln(tg.tensor(x)).detach().numpy(),
                               centred / np.sqrt((centred ** 2).mean(1, keepdims=True) + 1e-5), rtol=1e-12)
    bn = nn.BatchNorm1d(3).double()
    out = bn(tg.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    np.testing.assert_allclose(bn(tg.tensor(x)).detach().numpy(),
                               (x - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5), rtol=1e-12)
    emb = nn.Embedding(4, 2, padding_idx=1)
    rows = emb(tg.tensor([[0, 1], [1, 3]]))
    rows.sum().backward()
    assert emb.weight.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(IndexError, match="index out of range in self"):
        emb(tg.tensor([4]))


def test_layer_norm_gradient_against_finite_differences_and_compiled():
    from numeric import numeric_grad
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 4)), rng.normal(size=4), rng.normal(size=4)

    def loss(x):
        return (nn.functional.layer_norm(x, (4,), tg.tensor(w), tg.tensor(b)) ** 3).sum()
    xt = tg.tensor(x, requires_grad=True)
    loss(xt).backward()
    fd = numeric_grad(lambda xs: loss(tg.tensor(xs[0])).item(), [x], 0)
    np.testing.assert_allclose(xt.grad.numpy(), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tg.grad(loss, tier="executor")(x), xt.grad.numpy(), rtol=1e-10)


def test_compiled_functions_refuse_to_write_tensors_they_did_not_create():
    """A write to a closed-over tensor (a BatchNorm's running statistics) would happen once, while tracing:
    it raises at the user's line, before writing; tensors the function makes are written freely."""
    counter = tg.zeros(1, dtype=tg.float64)

    def step(x):
        counter.add_(1.0)
        return x * 2
    with pytest.raises(RuntimeError, match=r"test_nn.py:\d+: in-place write to a tensor the compiled function"):
        tg.jit(step, tier="executor")(np.ones(2))
    assert counter.item() == 0.0
    bn = nn.BatchNorm1d(2).double()
    with pytest.raises(RuntimeError, match="in-place write to a tensor the compiled function did not create"):
        tg.jit(lambda x: bn(x).sum(), tier="executor")(np.ones((3, 2)))
    bn.eval()
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(tg.jit(lambda x: bn(x), tier="executor")(x).detach().numpy(),
                               bn(tg.tensor(x)).detach().numpy())

    w = nn.Parameter(tg.tensor([1.0, 2.0], dtype=tg.float64))
    opt = tg.optim.Adam([w], lr=0.1)

    def inside(x):
        w.grad = x * 1.0
        opt.step()
        return x
    with pytest.raises(RuntimeError, match=r"test_nn.py:\d+: assigning .grad inside a compiled function would change"):
        tg.jit(inside, tier="executor")(np.ones(2))
    w.grad = tg.ones(2, dtype=tg.float64)

    def stepping(x):
        opt.step()
        return x
    with pytest.raises(RuntimeError, match="in-place write to a tensor the compiled function did not create"):
        tg.jit(stepping, tier="executor")(np.ones(2))
    assert w.detach().tolist() == [1.0, 2.0] and not opt.state.get(w)

    def local(x):
        buf = tg.zeros(2, dtype=tg.float64)
        buf.add_(x)
        buf[0] = 5.0
        return buf * 2
    np.testing.assert_array_equal(tg.jit(local, tier="executor")(np.full(2, 3.0)), [10.0, 6.0])


def test_to_keeps_the_parameter_objects_an_optimizer_holds():
    net = nn.Linear(2, 1)
    opt = tg.optim.SGD(net.parameters(), lr=0.5)
    weight = net.weight
    net.double()
    assert net.weight is weight and weight.dtype == tg.float64
    net(tg.ones(3, 2, dtype=tg.float64)).sum().backward()
    before = weight.detach().numpy().copy()
    opt.step()
    np.testing.assert_allclose(weight.detach().numpy(), before - 0.5 * 3.0)


def test_functional_call_replaces_for_one_call_and_follows_tied_weights():
    net = _Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    zeros = {"fc.weight": tg.zeros(4, 3), "fc.bias": tg.ones(4)}
    out = tg.func.functional_call(net, zeros, (tg.ones(2, 3),))
    inner = tg.tanh(tg.ones(2, 4)) @ net.blocks[1].weight.t()
    np.testing.assert_allclose(out.detach().numpy(), inner.detach().numpy(), rtol=1e-6)
    assert all(np.array_equal(v.numpy(), before[k].numpy()) for k, v in net.state_dict().items())
    with pytest.raises(RuntimeError, match="Unexpected key\\(s\\): 'nope'"):
        tg.func.functional_call(net, {"nope": tg.ones(1)}, (tg.ones(2, 3),), strict=True)


def test_compiled_training_on_a_parameter_dict_matches_eager_training():
    """Ten SGD steps of an MLP: eager (backward, optimizer step) against tracegrad.func.grad of the loss as a
    function of the parameter dict, compiled, with the same update written out."""
    tg.manual_seed(7)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    rng = np.random.default_rng(1)
    x, y = tg.tensor(rng.normal(size=(8, 3))), tg.tensor(rng.integers(0, 2, 8))
    loss_fn = nn.CrossEntropyLoss()
    opt = tg.optim.SGD(net.parameters(), lr=0.3)
    for _ in range(10):
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

    def loss(params):
        return loss_fn(tg.func.functional_call(net, params, (x,)), y)
    step = tg.func.grad(loss)
    params = dict(start)
    for _ in range(10):
        g = step(params)
        params = {k: (v - 0.3 * g[k]).detach() for k, v in params.items()}
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(params[k].numpy(), v.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_the_training_page_runs():
    """docs/training.md's code, as written: the eager loop and the compiled step."""
    import re
    from pathlib import Path
    page = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    namespace: dict = {}
    exec(compile("\n".join(re.findall(r"```python\n(.*?)```", page, re.S)), "training.md", "exec"), namespace)
    names = {name for name, _ in namespace["model"].named_parameters()}
    assert namespace["loss"].item() < 0.5 and set(namespace["params"]) == names


def _direct_conv2d(x, w, stride, padding, dilation):
    """The definition, as loops over the output: sum over c, i, j of x[n, c, s*y + d*i, s*x + d*j] w[o, c, i, j]."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, width = x.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - dilation * (kh - 1) - 1) // stride + 1, (width - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for yy in range(ho):
        for xx in range(wo):
            window = x[:, :, yy * stride:yy * stride + dilation * (kh - 1) + 1:dilation,
                       xx * stride:xx * stride + dilation * (kw - 1) + 1:dilation]
            out[:, :, yy, xx] = np.einsum("ncij,ocij->no", window, w)
    return out


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv2d_against_its_definition_finite_differences_and_the_executor(stride, padding, dilation):
    from numeric import numeric_grad
    rng = np.random.default_rng(stride + 3 * padding)
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    out = nn.functional.conv2d(tg.tensor(x), tg.tensor(w), stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(out.numpy(), _direct_conv2d(x, w, stride, padding, dilation), rtol=1e-12, atol=1e-12)

    def loss(x, w):
        y = nn.functional.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
        return (y * y).sum() + nn.functional.max_pool2d(y, 2).sum() + nn.functional.avg_pool2d(x, 2).sum()
    xt, wt = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
    loss(xt, wt).backward()
    for k, grad in enumerate((xt.grad.numpy(), wt.grad.numpy())):
        fd = numeric_grad(lambda args: loss(tg.tensor(args[0]), tg.tensor(args[1])).item(), [x, w], k)
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    gx, gw = tg.grad(loss, argnums=(0, 1), tier="executor")(x, w)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10)


def test_a_small_cnn_trains():
    tg.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 2))
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 1, 4, 4)).astype(np.float32)
    labels = (images[:, 0, :2].sum((1, 2)) > images[:, 0, 2:].sum((1, 2))).astype(np.int64)
    x, y = tg.tensor(images), tg.tensor(labels)
    opt = tg.optim.Adam(net.parameters(), lr=0.05)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first
