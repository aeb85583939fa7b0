"""Recurrent layers as PyTorch has them: ``RNN``, ``GRU``, ``LSTM`` (layers, directions, ``batch_first``,
dropout between layers, LSTM projections) and their cells, with PyTorch's parameter names, shapes, gate
order and initialisation.

Each step is written with the table's ops (one product of the whole input sequence with the input
weights, then per time step a product with the hidden weights and the gates), so a recurrent model
traces and compiles like any other function: the time loop is unrolled into the trace.

>>> import tracegrad as tg
>>> lstm = tg.nn.LSTM(3, 4, batch_first=True)
>>> output, (h, c) = lstm(tg.zeros(2, 5, 3))
>>> output.shape, h.shape
(torch.Size([2, 5, 4]), torch.Size([1, 2, 4]))
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from tracegrad._creation import empty, zeros
from tracegrad._functions import cat, stack
from tracegrad._tensor import Tensor
from tracegrad.nn import functional as F
from tracegrad.nn import init
from tracegrad.nn.modules import Module
from tracegrad.nn.parameter import Parameter

__all__ = ["RNNBase", "RNN", "GRU", "LSTM", "RNNCellBase", "RNNCell", "GRUCell", "LSTMCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}


def _uniform_within_hidden(module: Module) -> None:
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    for weight in module.parameters():
        init.uniform_(weight, -bound, bound)


def _rnn_step(h: Tensor, input_part: Tensor, w_hh: Tensor, b_hh: Tensor | None, relu: bool) -> Tensor:
    gates = input_part + F.linear(h, w_hh, b_hh)
    return gates.relu() if relu else gates.tanh()


def _gru_step(h: Tensor, input_part: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    hidden_part = F.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = input_part.chunk(3, -1)
    h_r, h_z, h_n = hidden_part.chunk(3, -1)
    reset = (i_r + h_r).sigmoid()
    update = (i_z + h_z).sigmoid()
    new = (i_n + reset * h_n).tanh()
    return (h - new) * update + new  # PyTorch's order of operations: (1 - z) n + z h, rounded alike


def _lstm_step(h: Tensor, c: Tensor, input_part: Tensor, w_hh: Tensor, b_hh: Tensor | None,
               w_hr: Tensor | None) -> tuple[Tensor, Tensor]:
    gates = input_part + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return (h if w_hr is None else F.linear(h, w_hr)), c


class RNNBase(Module):
    """What RNN, GRU and LSTM share: the stacked, optionally bidirectional layers and their parameters
    (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}`` with
    projections; ``_reverse`` for the backward direction), initialised uniformly within 1/sqrt(hidden_size)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          UserWarning, stacklevel=3)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                layer_input = input_size if layer == 0 else real_hidden * directions
                self.register_parameter("weight_ih" + suffix, Parameter(empty(gate_size, layer_input, dtype=dtype)))
                self.register_parameter("weight_hh" + suffix, Parameter(empty(gate_size, real_hidden, dtype=dtype)))
                if bias:
                    self.register_parameter("bias_ih" + suffix, Parameter(empty(gate_size, dtype=dtype)))
                    self.register_parameter("bias_hh" + suffix, Parameter(empty(gate_size, dtype=dtype)))
                if proj_size:
                    self.register_parameter("weight_hr" + suffix,
                                            Parameter(empty(proj_size, hidden_size, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter again, uniformly within 1/sqrt(hidden_size) (PyTorch's default)."""
        _uniform_within_hidden(self)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    def _weights(self, layer: int, direction: int) -> tuple[Tensor | None, ...]:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(getattr(self, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                                       "weight_hr"))

    def _check_hidden(self, hx: Tensor, expected: tuple[int, ...], which: str = "") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"Expected hidden{which} size {expected}, got {list(hx.shape)}")

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``); `input` is (L, N, H_in), (N, L, H_in) with
        `batch_first`, or unbatched (L, H_in)."""
        name = type(self).__name__
        lstm = self.mode == "LSTM"
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        batched = input.dim() == 3
        states = list(hx) if lstm and hx is not None else ([hx] if hx is not None else [])
        rank = 3 if batched else 2
        if any(s.dim() != rank for s in states):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            got = ", ".join(f"{s.dim()}-D" for s in states)
            raise RuntimeError(f"For {kind} input, hx and cx should also be {rank}-D but got ({got}) tensors" if lstm
                               else f"For {kind} input, hx should also be {rank}-D but got {got} tensor")
        x = input if batched else input.unsqueeze(1)
        states = [s if batched else s.unsqueeze(1) for s in states]
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]}")
        directions = 2 if self.bidirectional else 1
        batch = x.shape[1]
        out_size = self.proj_size or self.hidden_size
        h_shape = (self.num_layers * directions, batch, out_size)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if states:
            self._check_hidden(states[0], h_shape, "[0]" if lstm else "")
            if lstm:
                self._check_hidden(states[1], c_shape, "[1]")
        else:
            states = [zeros(h_shape, dtype=x.dtype)] + ([zeros(c_shape, dtype=x.dtype)] if lstm else [])
        final_h: list[Tensor] = []
        final_c: list[Tensor] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                input_parts = F.linear(x, w_ih, b_ih)  # every time step's input product at once
                h = states[0][k]
                c = states[1][k] if lstm else None
                steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
                hs = []
                for t in steps:
                    if lstm:
                        h, c = _lstm_step(h, c, input_parts[t], w_hh, b_hh, w_hr)
                    elif self.mode == "GRU":
                        h = _gru_step(h, input_parts[t], w_hh, b_hh)
                    else:
                        h = _rnn_step(h, input_parts[t], w_hh, b_hh, self.mode == "RNN_RELU")
                    hs.append(h)
                if direction:
                    hs.reverse()
                outputs.append(stack(hs, 0))
                final_h.append(h)
                if lstm:
                    final_c.append(c)
            x = cat(outputs, 2) if directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        output = x
        h_n = stack(final_h, 0)
        c_n = stack(final_c, 0) if lstm else None
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, ((h_n, c_n) if lstm else h_n)


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU), as PyTorch's
    ``nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gates (reset r, update z, new n, in that order in the weights):
    ``h_t = (1 - z) n + z h_{t-1}`` with ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gates (input i, forget f, cell g, output o, in that order):
    ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)`` (times ``W_hr^T`` with `proj_size`)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class RNNCellBase(Module):
    """One step of a recurrent layer: parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(empty(gates * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(gates * hidden_size, hidden_size, dtype=dtype))
        self.register_parameter("bias_ih", Parameter(empty(gates * hidden_size, dtype=dtype)) if bias else None)
        self.register_parameter("bias_hh", Parameter(empty(gates * hidden_size, dtype=dtype)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter again, uniformly within 1/sqrt(hidden_size) (PyTorch's default)."""
        _uniform_within_hidden(self)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def _prepare(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}")
        if hx is None:
            hx = zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        elif not batched:
            hx = hx.unsqueeze(0)
        return x, hx, batched


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = self._prepare(input, hx)
        h = _rnn_step(h, F.linear(x, self.weight_ih, self.bias_ih), self.weight_hh, self.bias_hh,
                      self.nonlinearity == "relu")
        return h if batched else h.squeeze(0)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in :class:`GRU`)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = self._prepare(input, hx)
        h = _gru_step(h, F.linear(x, self.weight_ih, self.bias_ih), self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: ``(h', c')`` from ``(h, c)`` (gates i, f, g, o as in :class:`LSTM`)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and hx[0].dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected hx[0] to be 1D or 2D, got {hx[0].dim()}D instead")
        x, h, batched = self._prepare(input, None if hx is None else hx[0])
        c = zeros(h.shape, dtype=h.dtype) if hx is None else (hx[1] if batched else hx[1].unsqueeze(0))
        h, c = _lstm_step(h, c, F.linear(x, self.weight_ih, self.bias_ih), self.weight_hh, self.bias_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
