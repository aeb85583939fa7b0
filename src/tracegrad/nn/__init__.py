"""Neural networks: ``Module`` and its layers, activations, losses and containers, ``Parameter``,
``init``, ``utils`` (gradient clipping) and the functional API (``tracegrad.nn.functional``)."""

from tracegrad.nn import functional, init, utils
from tracegrad.nn.modules import (
           ELU,
           GELU,
           AvgPool2d,
           BatchNorm1d,
           BatchNorm2d,
           BCELoss,
           BCEWithLogitsLoss,
           Conv1d,
           Conv2d,
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
           MaxPool2d,
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
from tracegrad.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

__all__ = ["functional", "init", "utils", "Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "Linear",
           "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d",
           "LayerNorm", "Embedding", "BatchNorm1d", "BatchNorm2d", "Identity", "Flatten", "Dropout", "ReLU", "Tanh",
           "Sigmoid", "GELU", "SiLU", "ELU", "LeakyReLU", "Softmax", "LogSoftmax", "MSELoss", "L1Loss",
           "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "HuberLoss", "SmoothL1Loss", "RNNBase", "RNN",
           "GRU", "LSTM", "RNNCellBase", "RNNCell", "GRUCell", "LSTMCell"]
