"""The optimizers: PyTorch's update formulas (SGD, Adam, AdamW, RMSprop, Adagrad) on their ``Optimizer`` base.

Each updates its parameters in place, outside autograd, from their ``.grad`` (see ``tracegrad.optim``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from tracegrad._dispatch import refuse_outside_write, wrap, write_in_place
from tracegrad._tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "store_state"]

#: Settings PyTorch's optimizers carry for its other implementations; kept so that groups print alike.
_IMPLEMENTATION_FLAGS = {"foreach": None, "differentiable": False, "fused": None}


class Optimizer:
    """Base class: parameter groups (dicts of settings with a ``"params"`` list), per-parameter state,
    ``zero_grad`` and ``step``."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own settings (the defaults fill in the rest)."""
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default), or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:  # in place, as PyTorch does (a gradient with a graph is cut from it first)
                        if p.grad.grad_fn is not None:
                            p.grad = p.grad.detach()
                        write_in_place(p.grad, 0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; `closure` (re-evaluating the loss) is
        called first if given, and its value returned."""
        loss = closure() if closure is not None else None
        updated = [(p, group) for group in self.param_groups for p in group["params"] if p.grad is not None]
        for p, _ in updated:  # inside a compiled function: refused before any state moves
            refuse_outside_write(p)
        for p, group in updated:
            state = self.state_of(p, group)
            new_p, new_state = self._formula(ARRAY_MATH, p._data, p.grad._data, group, group,
                                             {k: v._data for k, v in state.items()})
            store_state(state, new_state)
            write_in_place(p, new_p)
        return loss

    def state_of(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """Parameter `p`'s state (its initial state before the first update)."""
        state = self.state.setdefault(p, {})
        if not state:
            state.update({k: wrap(v) for k, v in self._initial_state(p._data, group).items()})
        return state

    def _initial_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, np.ndarray]:
        """The state of a parameter before its first update (arrays by name, PyTorch's names)."""
        return {}

    def _formula(self, ops: Any, p: Any, g: Any, group: dict[str, Any], h: dict[str, Any],
                 state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """``(new parameter, new state)``: the update, written once for numpy arrays (eager ``step``)
        and for traced Tensors (:func:`tracegrad.train_step`).  `group` decides branches; `h` holds
        the numbers to compute with (the group itself, or the settings as traced scalars); `ops`
        is :data:`ARRAY_MATH` or the Tensor counterpart."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: state}, "param_groups": [settings with "params" as indices]}``, PyTorch's form."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": [index[id(p)] for p in group["params"]]})
        state = {index[id(p)]: {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings and state saved by :meth:`state_dict` into the same parameter layout."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        params = {i: p for g, own in zip(groups, self.param_groups) for i, p in zip(g["params"], own["params"])}
        for g, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in g.items() if k != "params"})
        self.state = {params[i]: {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in s.items()}
                      for i, s in state_dict["state"].items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            if k:
                lines.append("")
            lines.append(f"Parameter Group {k}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"


class _ArrayMath:
    """What an update formula calls besides arithmetic, for numpy arrays (eager ``step``)."""

    sqrt = staticmethod(np.sqrt)
    maximum = staticmethod(np.maximum)
    copy = staticmethod(np.array)
    scalar_sqrt = staticmethod(math.sqrt)

    @staticmethod
    def scalar(step: np.ndarray) -> float:
        """A step count as the Python float the bias corrections use."""
        return float(step)


ARRAY_MATH = _ArrayMath()


def store_state(state: dict[str, Tensor], new: dict[str, Any]) -> None:
    """Make an update's new state values a parameter's state.  They are new arrays (the formulas compute
    out of place; a compiled step returns fresh ones), so each becomes its tensor's data without a copy;
    its tensor stays the same object, its version counter moves as for an in-place write."""
    for key, value in new.items():
        held = state.get(key)
        if held is None:
            state[key] = wrap(np.array(value))
            continue
        refuse_outside_write(held)
        held._data = np.asarray(value, dtype=held._data.dtype)  # (a 0-d result may be a numpy scalar)
        held._version_box[0] += 1


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formula: g = grad + weight_decay p; with momentum
    b = momentum b + (1 - dampening) g (b = g at the first step), g = g + momentum b (nesterov) or b;
    p -= lr g (+= when `maximize`)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                                  **_IMPLEMENTATION_FLAGS})

    def _formula(self, ops, p, g, group, h, state):
        if group["maximize"]:
            g = -g
        if group["weight_decay"]:
            g = g + h["weight_decay"] * p
        new_state = {}
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            buf = ops.copy(g) if buf is None else buf * h["momentum"] + (1 - h["dampening"]) * g
            new_state["momentum_buffer"] = buf
            g = g + h["momentum"] * buf if group["nesterov"] else buf
        return p - h["lr"] * g, new_state


class Adam(Optimizer):
    """Adam (Kingma and Ba), PyTorch's formula: m and v the running means of g and g^2 (betas), p -=
    lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps); `weight_decay` adds to g (Adam) or
    shrinks p first (AdamW); `amsgrad` uses the largest v so far."""

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize, "capturable": False,
                                  "decoupled_weight_decay": self._decoupled, **_IMPLEMENTATION_FLAGS})

    def _initial_state(self, p, group):
        state = {"step": np.array(0.0, np.float32), "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        return state

    def _formula(self, ops, p, g, group, h, state):
        beta1, beta2 = h["betas"]
        if group["maximize"]:
            g = -g
        if group["weight_decay"]:
            if group["decoupled_weight_decay"]:
                p = p * (1 - h["lr"] * h["weight_decay"])
            else:
                g = g + h["weight_decay"] * p
        step = state["step"] + 1
        t = ops.scalar(step)
        m = state["exp_avg"] + (g - state["exp_avg"]) * (1 - beta1)  # PyTorch's lerp toward g
        v = state["exp_avg_sq"] * beta2 + (1 - beta2) * g * g
        new_state = {"step": step, "exp_avg": m, "exp_avg_sq": v}
        if group["amsgrad"]:
            v = new_state["max_exp_avg_sq"] = ops.maximum(state["max_exp_avg_sq"], v)
        step_size = h["lr"] / (1 - beta1 ** t)
        denominator = ops.sqrt(v) / ops.scalar_sqrt(1 - beta2 ** t) + h["eps"]
        return p - step_size * (m / denominator), new_state


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr weight_decay before the
    Adam step, default weight_decay 0.01."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop, PyTorch's formula: v = alpha v + (1 - alpha) g^2; a = sqrt(v) + eps (with `centered`,
    sqrt(v - mean(g)^2) + eps); with momentum b = momentum b + g / a and p -= lr b, else p -= lr g / a."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(alpha >= 0.0, f"Invalid alpha value: {alpha}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered, "capturable": False,
                                  "maximize": maximize, **_IMPLEMENTATION_FLAGS})

    def _initial_state(self, p, group):
        state = {"step": np.array(0.0, np.float32), "square_avg": np.zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p)
        return state

    def _formula(self, ops, p, g, group, h, state):
        if group["maximize"]:
            g = -g
        if group["weight_decay"]:
            g = g + h["weight_decay"] * p
        v = state["square_avg"] * h["alpha"] + (1 - h["alpha"]) * g * g
        new_state = {"step": state["step"] + 1, "square_avg": v}
        if group["centered"]:
            mean = new_state["grad_avg"] = state["grad_avg"] + (g - state["grad_avg"]) * (1 - h["alpha"])
            avg = ops.sqrt(v - mean * mean) + h["eps"]
        else:
            avg = ops.sqrt(v) + h["eps"]
        if group["momentum"] > 0:
            buf = new_state["momentum_buffer"] = state["momentum_buffer"] * h["momentum"] + g / avg
            return p - h["lr"] * buf, new_state
        return p - h["lr"] * (g / avg), new_state


class Adagrad(Optimizer):
    """Adagrad, PyTorch's formula: s += g^2; p -= lr / (1 + (t - 1) lr_decay) g / (sqrt(s) + eps)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(initial_accumulator_value >= 0.0, f"Invalid initial_accumulator_value value: "
                                                 f"{initial_accumulator_value}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "maximize": maximize,
                                  **_IMPLEMENTATION_FLAGS})

    def _initial_state(self, p, group):
        return {"step": np.array(0.0, np.float32), "sum": np.full_like(p, group["initial_accumulator_value"])}

    def _formula(self, ops, p, g, group, h, state):
        if group["maximize"]:
            g = -g
        step = state["step"] + 1
        if group["weight_decay"]:
            g = g + h["weight_decay"] * p
        rate = h["lr"] / (1 + (ops.scalar(step) - 1) * h["lr_decay"])
        total = state["sum"] + g * g
        return p - rate * (g / (ops.sqrt(total) + h["eps"])), {"step": step, "sum": total}
