"""Convolution layers with reflect, replicate and circular padding (and 'same'): values, gradients, reprs,
and the error for an unknown mode."""
import torch
import torch.nn as nn

torch.set_printoptions(precision=5)
x = torch.arange(2 * 2 * 5 * 6, dtype=torch.float64).reshape(2, 2, 5, 6).cos().requires_grad_()
for mode in ("reflect", "replicate", "circular"):
    for padding in (1, (2, 1), "same"):
        conv = nn.Conv2d(2, 3, (3, 2), padding=padding, padding_mode=mode, dilation=(1, 2) if padding == "same" else 1)
        conv = conv.double()
        with torch.no_grad():
            conv.weight.copy_(torch.arange(conv.weight.numel(), dtype=torch.float64).reshape(conv.weight.shape).sin())
            conv.bias.fill_(0.25)
        out = conv(x)
        out.pow(2).sum().backward()
        print(conv, out.shape, out[1, 2, :2].detach(), x.grad[0, 1, :2])
        x.grad = None
line = nn.Conv1d(2, 2, 3, padding=2, padding_mode="circular").double()
with torch.no_grad():
    line.weight.fill_(0.5)
    line.bias.zero_()
print(line, line(x[:, :, 0]))
try:
    nn.Conv2d(2, 2, 3, padding_mode="mirror")
except ValueError as error:
    print(type(error).__name__, str(error).split("}")[1])  # (the set of modes prints in hash order)
