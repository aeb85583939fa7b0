"""Recurrent layers: gradients against finite differences, compiled against eager, the time loop inside a
compiled training step.  tests/compat/recurrent.py checks values, names and errors against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn
from tracegrad.func import functional_call, grad


def _layers():
    return {"rnn-relu": nn.RNN(3, 4, nonlinearity="relu"), "gru-bidirectional": nn.GRU(3, 4, bidirectional=True),
            "lstm-two-layers-projected": nn.LSTM(3, 4, num_layers=2, proj_size=2, batch_first=True)}


@pytest.mark.parametrize("name", list(_layers()))
def test_recurrent_gradients_match_finite_differences(name):
    tg.manual_seed(0)
    layer = _layers()[name].double()
    x = tg.randn(4, 2, 3, dtype=tg.float64, requires_grad=True)

    def loss(inp, *weights):
        out, state = functional_call(layer, dict(zip([n for n, _ in layer.named_parameters()], weights)), (inp,))
        h = state[0] if isinstance(state, tuple) else state
        return (out * out).sum() + h.sum()
    weights = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    assert tg.autograd.gradcheck(loss, (x, *weights), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(_layers()))
def test_compiled_recurrent_gradients_equal_eager(name):
    tg.manual_seed(1)
    layer = _layers()[name].double()
    x = tg.randn(5, 2, 3, dtype=tg.float64)
    params = {n: p.detach() for n, p in layer.named_parameters()}

    def loss(params, inp):
        out, _ = functional_call(layer, params, (inp,))
        return out.tanh().sum()
    compiled = grad(loss)
    eager_loss = loss({n: p for n, p in layer.named_parameters()}, x)
    eager_loss.backward()
    got = compiled(params, x)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(got[n].numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)


def test_a_gru_classifier_trains_with_a_compiled_step():
    """A GRU reading sequences whose label is the sign of their sum: the compiled step learns it."""
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    gru, head = nn.GRU(1, 8, batch_first=True), nn.Linear(8, 2)
    opt = tg.optim.Adam(list(gru.parameters()) + list(head.parameters()), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()

    @tg.train_step(opt, tier="executor")
    def step(xb, yb):
        _, h = gru(xb)
        return loss_fn(head(h[-1]), yb)
    losses = [step(tg.tensor(x), tg.tensor(y)).item() for _ in range(60)]
    assert losses[-1] < 0.25 * losses[0]
