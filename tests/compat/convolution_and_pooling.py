"""conv1d/conv2d (strides, padding modes, dilation, groups), max_pool2d and avg_pool2d: values, gradients,
node names and errors, and the modules' reprs."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_printoptions(precision=6)
x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float64).reshape(2, 3, 5, 6).sin().requires_grad_()
w = torch.arange(4 * 3 * 3 * 2, dtype=torch.float64).reshape(4, 3, 3, 2).cos().requires_grad_()
b = torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64, requires_grad=True)
for kw in ({}, {"stride": 2}, {"padding": 1}, {"padding": (1, 2), "dilation": (2, 1)}, {"padding": "same"},
           {"stride": (2, 1), "padding": "valid"}):
    y = F.conv2d(x, w, b, **kw)
    (g,) = torch.autograd.grad((y * y).sum(), x)
    print(kw, y.shape, y.grad_fn.name(), y[1, 2, 0], g[0, 1, 2])
wg = torch.arange(4 * 1 * 2 * 2, dtype=torch.float64).reshape(4, 1, 2, 2).requires_grad_()
x4 = x[:, :2]
y = F.conv2d(torch.cat([x4, x4], 1), wg, groups=4)
print(y.shape, y[0, 3, 1])
y = F.conv1d(x[:, :, 0], w[:, :, 0], b, stride=2, padding=1)
print(y.shape, y.grad_fn.name(), y[1])
y.sum().backward()
print(w.grad[:, :, 0, 1])
for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
           {"kernel_size": (2, 3), "stride": (1, 2)}):
    m = F.max_pool2d(x, **kw)
    a = F.avg_pool2d(x, **kw)
    (gm,) = torch.autograd.grad((m * m).sum(), x)
    (ga,) = torch.autograd.grad((a * a).sum(), x)
    print(kw, m.shape, m.grad_fn.name(), a.grad_fn.name(), m[1, 0, 0], a[0, 2, 1], gm[0, 0, 1], ga[1, 1, 2])
print(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)[0, 0, 0], F.avg_pool2d(x, 2, divisor_override=3)[0, 0, 0])
print(F.max_pool2d(torch.tensor([[[1.0, 1.0], [1.0, 0.0]]], requires_grad=True), 2))
t = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]], requires_grad=True)
F.max_pool2d(t, 2).sum().backward()
print(t.grad)
for bad in (lambda: F.conv2d(x, w[:, :2]), lambda: F.conv2d(x[:, :, :1, :1], w), lambda: F.max_pool2d(x, 2, padding=2)):
    try:
        bad()
    except RuntimeError as e:
        print("RuntimeError:", e)
print(nn.Conv2d(3, 8, 3), nn.Conv2d(3, 8, (3, 2), stride=2, padding=1, bias=False))
print(nn.Conv1d(2, 4, 5, dilation=2, groups=2), nn.MaxPool2d(2), nn.AvgPool2d(3, stride=1, padding=1))
print(nn.Conv2d(3, 8, 3).weight.shape, nn.Conv1d(2, 4, 5, groups=2).weight.shape)
