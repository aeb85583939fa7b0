"""Neural networks: ``Module`` and its layers, activations, losses and containers, ``Parameter``,
``init`` and the functional API (``tracegrad.nn.functional``)."""

from tracegrad.nn import functional, init, utils
from tracegrad.nn.modules import (
                                  ELU,
                                  GELU,
                                  BCELoss,
                                  BCEWithLogitsLoss,
                                  CrossEntropyLoss,
                                  Dropout,
                                  Flatten,
                                  HuberLoss,
                                  Identity,
                                  L1Loss,
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
           "Identity", "Flatten", "Dropout", "ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "LeakyReLU", "Softmax",
           "LogSoftmax", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
           "HuberLoss", "SmoothL1Loss"]
