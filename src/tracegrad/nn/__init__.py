"""Neural networks: ``Module`` and its layers, activations, losses and containers, ``Parameter``,
``init``, ``utils`` (gradient clipping) and the functional API (``tracegrad.nn.functional``)."""

from tracegrad.nn import functional, init, utils
from tracegrad.nn.modules import (
                                  ELU,
                                  GELU,
                                  BatchNorm1d,
                                  BatchNorm2d,
                                  BCELoss,
                                  BCEWithLogitsLoss,
                                  CrossEntropyLoss,
                                  Dropout,
                                  Embedding,
                                  Flatten,
                                  HuberLoss,
                                  Identity,
                                  L1Loss,
                                  LayerNorm,
                                  LeakyReLU,
                                  Linear,
                                  LogSoftmax,
                                  Module,
                                  ModuleDict,
                                  ModuleList,
                                  MSELoss,
                                  NLLLoss,
                                  ReLU,
                                  Sequential,
                                  Sigmoid,
                                  SiLU,
                                  SmoothL1Loss,
                                  Softmax,
                                  Tanh,
)
from tracegrad.nn.parameter import Parameter

__all__ = ["functional", "init", "utils", "Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "Linear",
           "LayerNorm", "Embedding", "BatchNorm1d", "BatchNorm2d", "Identity", "Flatten", "Dropout", "ReLU", "Tanh",
           "Sigmoid", "GELU", "SiLU", "ELU", "LeakyReLU", "Softmax", "LogSoftmax", "MSELoss", "L1Loss",
           "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "HuberLoss", "SmoothL1Loss"]
