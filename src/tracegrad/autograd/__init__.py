"""Automatic differentiation: ``backward``, ``grad``, custom ``Function`` and grad-mode switches."""

from __future__ import annotations

from tracegrad._anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from tracegrad._engine import Node, backward, grad
from tracegrad._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from tracegrad.autograd import functional
from tracegrad.autograd._gradcheck import GradcheckError, gradcheck, gradgradcheck
from tracegrad.autograd.function import Function, FunctionCtx, once_differentiable

__all__ = ["backward", "grad", "Function", "FunctionCtx", "once_differentiable", "no_grad", "enable_grad",
           "set_grad_enabled", "inference_mode", "is_grad_enabled", "Node", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "functional", "gradcheck", "gradgradcheck",
           "GradcheckError"]
