"""Backward passes inside compiled functions, and ``tracegrad.train_step`` (loss, gradients and the
optimizer's update in one compiled program) against the same steps taken eagerly."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn

SETTINGS = {
    "sgd": (tg.optim.SGD, dict(lr=0.1)),
    "sgd-nesterov-decay-maximize": (tg.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01,
                                                       maximize=True)),
    "sgd-dampening": (tg.optim.SGD, dict(lr=0.05, momentum=0.5, dampening=0.3)),
    "adam": (tg.optim.Adam, dict(lr=0.01)),
    "adam-amsgrad-decay": (tg.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1,
                                               amsgrad=True)),
    "adamw": (tg.optim.AdamW, dict(lr=0.01)),
    "rmsprop": (tg.optim.RMSprop, dict(lr=0.01)),
    "rmsprop-centered-momentum": (tg.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=0.01, momentum=0.5,
                                                         centered=True)),
    "adagrad": (tg.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
}


def _model(seed: int = 0):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def _batch(seed: int = 1):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.normal(size=(10, 4))), tg.tensor(rng.integers(0, 3, 10))


def _assert_same(model_a, model_b, opt_a, opt_b, tol=1e-12):
    for (name, a), b in zip(model_a.named_parameters(), model_b.parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        state_a, state_b = opt_a.state[a], opt_b.state[b]
        assert list(state_a) == list(state_b)
        for key in state_a:
            np.testing.assert_allclose(state_b[key].numpy(), state_a[key].numpy(), rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_train_step_takes_the_eager_steps(name):
    """Ten compiled steps equal ten eager ``zero_grad; backward; step`` rounds: parameters, gradients,
    optimizer state and the returned loss; halving the learning rate midway re-traces nothing."""
    cls, kwargs = SETTINGS[name]
    loss_fn = nn.CrossEntropyLoss()
    eager_model, compiled_model = _model(), _model()
    eager_opt, compiled_opt = cls(eager_model.parameters(), **kwargs), cls(compiled_model.parameters(), **kwargs)

    @tg.train_step(compiled_opt, tier="executor")
    def step(xb, yb):
        return loss_fn(compiled_model(xb), yb)
    for i in range(10):
        x, y = _batch(i)
        eager_opt.zero_grad()
        loss = loss_fn(eager_model(x), y)
        loss.backward()
        eager_opt.step()
        compiled_loss = step(x, y)
        assert not compiled_loss.requires_grad
        np.testing.assert_allclose(compiled_loss.item(), loss.item(), rtol=1e-13)
        if i == 4:
            for opt in (eager_opt, compiled_opt):
                opt.param_groups[0]["lr"] /= 2
    _assert_same(eager_model, compiled_model, eager_opt, compiled_opt)
    programs = list(step._programs.values())
    # SGD's momentum buffer appears after the first step: one more layout; nothing else traces again
    assert len(programs) == (2 if cls is tg.optim.SGD and kwargs.get("momentum") else 1)
    assert all(p.cache_info().traces == 1 for p, *_ in programs)


def test_train_step_float32_matches_eager_and_follows_a_scheduler():
    tg.manual_seed(0)
    eager_model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    tg.manual_seed(0)
    compiled_model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    eager_opt = tg.optim.Adam(eager_model.parameters(), lr=0.05)
    compiled_opt = tg.optim.Adam(compiled_model.parameters(), lr=0.05)
    schedulers = [tg.optim.lr_scheduler.ExponentialLR(o, gamma=0.7) for o in (eager_opt, compiled_opt)]
    loss_fn = nn.CrossEntropyLoss()

    @tg.train_step(compiled_opt, tier="executor")
    def step(xb, yb):
        return loss_fn(compiled_model(xb), yb)
    for i in range(8):
        x, y = _batch(i)
        x = x.float()
        eager_opt.zero_grad()
        loss_fn(eager_model(x), y).backward()
        eager_opt.step()
        step(x, y)
        for s in schedulers:
            s.step()
    assert compiled_model[0].weight.dtype == tg.float32
    _assert_same(eager_model, compiled_model, eager_opt, compiled_opt, tol=1e-5)
    (program, *_), = step._programs.values()
    assert program.cache_info().traces == 1  # the learning rate is an input of the program


def test_train_step_leaves_unused_parameters_alone_and_rejects_misuse():
    used, unused = nn.Parameter(tg.tensor([1.0, 2.0])), nn.Parameter(tg.tensor([3.0]))
    opt = tg.optim.SGD([used, unused], lr=0.5)

    @tg.train_step(opt, tier="executor")
    def step(target):
        return ((used - target) ** 2).sum()
    assert step(tg.tensor([0.0, 0.0])).item() == 5.0
    assert used.tolist() == [0.0, 0.0] and used.grad.tolist() == [2.0, 4.0]
    assert unused.tolist() == [3.0] and unused.grad is None

    with pytest.raises(TypeError, match="expects an optimizer"):
        tg.train_step([used])
    vector = tg.train_step(opt, tier="executor")(lambda t: used * t)
    with pytest.raises(TypeError, match="must return the loss"):
        vector(tg.tensor([1.0, 1.0]))
    assert used.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="cannot run inside a compiled function"):
        tg.jit(lambda t: step(t), tier="executor")(np.zeros(2, np.float32))
    counter = tg.zeros(1)

    @tg.train_step(opt, tier="executor")
    def counting(target):  # a closed-over tensor that is not module state: its write would happen once
        counter.add_(1.0)
        return ((used - target) ** 2).sum()
    with pytest.raises(RuntimeError, match="in-place write to a tensor the compiled function did not create"):
        counting(tg.tensor([0.0, 0.0]))
    assert counter.item() == 0.0 and used.tolist() == [0.0, 0.0]


def test_a_backward_inside_a_compiled_function_is_computed_on_every_call():
    """The gradient inside a trace is traced too: after the parameters change, the compiled function
    returns the new gradient (it used to return the first call's numbers)."""
    model = _model()
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())

    def gradients(xb, yb):
        return tg.autograd.grad(loss_fn(model(xb), yb), params)
    compiled = tg.jit(gradients, tier="executor")
    x, y = _batch()
    for _ in range(3):
        for got, want in zip(compiled(x, y), gradients(x, y)):
            np.testing.assert_allclose(got.detach().numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
        with tg.no_grad():
            for p in params:
                p.mul_(0.5)

    def inside(xb):  # a leaf the function makes may receive .grad
        w = tg.ones(4, dtype=tg.float64, requires_grad=True)
        (tg.tanh(xb * w)).sum().backward()
        return w.grad
    for k in range(2):
        xk = x * (k + 1)
        want = (1 - tg.tanh(xk) ** 2).mul(xk).sum(0)
        np.testing.assert_allclose(tg.jit(inside, tier="executor")(xk).numpy(), want.numpy(), rtol=1e-12)


def test_a_backward_into_a_parameter_inside_a_compiled_function_raises_at_the_users_line():
    model = _model()
    x, y = _batch()

    def step(xb, yb):
        nn.functional.cross_entropy(model(xb), yb).backward()
        return xb
    with pytest.raises(RuntimeError, match=r"test_train_step.py:\d+: backward\(\) inside a compiled function would "
                                           r"change the .grad of a tensor the function did not create"):
        tg.jit(step, tier="executor")(x, y)
    assert all(p.grad is None for p in model.parameters())  # refused before any .grad changed


def _digits():
    datasets = pytest.importorskip("sklearn.datasets")  # in the test extra; importorskip says so if it is missing
    data = datasets.load_digits()
    images = (data.images / 16.0).astype(np.float32)
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.8 * len(labels))
    return images[order[:cut]], labels[order[:cut]], images[order[cut:]], labels[order[cut:]]


def _digits_mlp():
    tg.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def test_the_digits_mlp_trains_compiled_to_95_percent_and_matches_eager():
    """scikit-learn's handwritten digits: the compiled MLP reaches 95 % test accuracy in a few epochs, and
    ten compiled steps from the same seed leave the parameters eager training leaves."""
    x_train, y_train, x_test, y_test = _digits()
    loss_fn = nn.CrossEntropyLoss()
    model, eager_model = _digits_mlp(), _digits_mlp()
    opt, eager_opt = tg.optim.Adam(model.parameters(), lr=3e-3), tg.optim.Adam(eager_model.parameters(), lr=3e-3)

    @tg.train_step(opt, tier="executor")
    def step(xb, yb):
        return loss_fn(model(xb), yb)
    rng = np.random.default_rng(1)
    for epoch in range(8):
        order = rng.permutation(len(y_train))
        for k, start in enumerate(range(0, len(order), 64)):
            idx = order[start:start + 64]
            xb, yb = tg.tensor(x_train[idx]), tg.tensor(y_train[idx])
            step(xb, yb)
            if epoch == 0 and k < 10:
                eager_opt.zero_grad()
                loss_fn(eager_model(xb), yb).backward()
                eager_opt.step()
            if epoch == 0 and k == 9:
                for a, b in zip(eager_model.parameters(), model.parameters()):
                    np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-4, atol=1e-6)
    with tg.no_grad():
        accuracy = (model(tg.tensor(x_test)).argmax(1).numpy() == y_test).mean()
    assert accuracy >= 0.95


def _bn_model():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3), nn.BatchNorm1d(3)).double()
    return model, tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_train_step_writes_batchnorm_running_statistics_as_eager_training_does():
    """Module state written in place during the step (running mean and variance, the batch counter) is an
    output of the compiled program, written back after each call: equal to eager training, 6 steps."""
    loss_fn = nn.CrossEntropyLoss()
    eager_model, eager_opt = _bn_model()
    model, opt = _bn_model()

    @tg.train_step(opt, tier="executor")
    def step(xb, yb):
        return loss_fn(model(xb), yb)
    rng = np.random.default_rng(0)
    for _ in range(6):
        x, y = tg.tensor(rng.normal(size=(8, 1, 6, 6))), tg.tensor(rng.integers(0, 3, 8))
        eager_opt.zero_grad()
        loss = loss_fn(eager_model(x), y)
        loss.backward()
        eager_opt.step()
        np.testing.assert_allclose(step(x, y).item(), loss.item(), rtol=1e-12)
    for (name, a), b in zip(eager_model.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
    assert model[1].num_batches_tracked.item() == 6


def test_module_buffers_are_read_as_inputs_by_compiled_functions():
    """A buffer changes between calls (running statistics): compiled functions read its current values
    without tracing again (it used to be a constant, re-traced whenever it changed)."""
    bn = nn.BatchNorm1d(3).double().eval()
    compiled = tg.jit(lambda x: bn(x), tier="executor")
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    traced = None
    for shift in (0.0, 1.5, -2.0):
        with tg.no_grad():
            bn.running_mean.fill_(shift)
        np.testing.assert_allclose(compiled(x).detach().numpy(), bn(x).detach().numpy(), rtol=1e-12)
        traced = traced or compiled.cache_info().traces
    assert compiled.cache_info().traces == traced  # nothing traced again after the first call
