"""RNN, GRU and LSTM (layers, directions, batch_first, projections) and their cells: parameter names and
shapes, reprs, outputs, final states, node names, gradients and errors, with weights set the same way."""
import torch
import torch.nn as nn

torch.set_printoptions(precision=5)


def fill(module):
    """Weights that both libraries set alike (their random initialisations differ)."""
    with torch.no_grad():
        for k, p in enumerate(module.parameters()):
            p.copy_(torch.sin(torch.arange(p.numel(), dtype=p.dtype) * 0.7 + k).reshape(p.shape) * 0.5)
    return module


x = torch.cos(torch.arange(30, dtype=torch.float64) * 0.3).reshape(5, 2, 3)
for make in (lambda: nn.RNN(3, 4), lambda: nn.RNN(3, 4, nonlinearity="relu", bias=False),
             lambda: nn.GRU(3, 4, num_layers=2), lambda: nn.GRU(3, 4, bidirectional=True, batch_first=True),
             lambda: nn.LSTM(3, 4), lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True),
             lambda: nn.LSTM(3, 4, proj_size=2, batch_first=True)):
    m = fill(make().double())
    print(m, [(name, tuple(p.shape)) for name, p in m.named_parameters()])
    inp = x.clone().requires_grad_()
    out, state = m(inp)
    h = state[0] if isinstance(state, tuple) else state
    print(out.shape, h.shape, out[-1], h[-1], h.grad_fn.name())
    if isinstance(state, tuple):
        print(state[1][-1])
    (out.sum() + h.pow(2).sum()).backward()
    print(inp.grad[0], m.weight_hh_l0.grad[0])
    single = x[0] if m.batch_first else x[:, 0]
    out2, _ = m(single, None)
    print(out2.shape, out2.grad_fn.name(), (out2 - (out[0] if m.batch_first else out[:, 0])).abs().max() < 1e-12)

gru = fill(nn.GRU(3, 4).double())
h0 = torch.full((1, 2, 4), 0.25, dtype=torch.float64)
print(gru(x, h0)[1])
lstm = fill(nn.LSTM(3, 4).double())
print(lstm(x, (h0, -h0))[1][1])
for cell in (nn.RNNCell(3, 4), nn.RNNCell(3, 4, bias=False, nonlinearity="relu"), nn.GRUCell(3, 4), nn.LSTMCell(3, 4)):
    cell = fill(cell.double())
    print(cell, [name for name, _ in cell.named_parameters()])
    result = cell(x[0])
    h = result[0] if isinstance(result, tuple) else result
    print(h, h.grad_fn.name())
    if isinstance(result, tuple):
        print(result[1], result[1].grad_fn.name(), cell(x[0, 0], (h[0], result[1][0]))[1])
    else:
        print(cell(x[0, 0], h[0]))
for bad in (lambda: gru(torch.ones(1, 2, 3, 4)), lambda: gru(torch.ones(5, 2, 7, dtype=torch.float64)),
            lambda: gru(x, torch.zeros(2, 2, 4, dtype=torch.float64)),
            lambda: gru(x, torch.zeros(2, 4, dtype=torch.float64)),
            lambda: lstm(x, (torch.zeros(1, 2, 4, dtype=torch.float64), torch.zeros(1, 3, 4, dtype=torch.float64))),
            lambda: nn.GRUCell(3, 4)(torch.ones(1, 2, 3)), lambda: nn.RNN(3, 4, nonlinearity="sigmoid"),
            lambda: nn.LSTM(3, 4, proj_size=4), lambda: nn.GRU(3, 0), lambda: nn.GRU(3, 4, dropout=1.5)):
    try:
        bad()
    except (RuntimeError, ValueError) as error:
        print(type(error).__name__, error)
