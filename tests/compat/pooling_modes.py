"""Pooling with ceil_mode, return_indices, dilation and the avg_pool divisors: values, indices, gradients,
reprs and errors."""
import torch
import torch.nn.functional as F

torch.set_printoptions(precision=5)
x = torch.arange(1 * 2 * 5 * 7, dtype=torch.float64).reshape(1, 2, 5, 7).sin().requires_grad_()
for kw in [dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
           dict(kernel_size=(2, 3), stride=(2, 2), padding=(1, 0), dilation=(1, 2)),
           dict(kernel_size=3, stride=3, ceil_mode=True)]:
    out, idx = F.max_pool2d(x, return_indices=True, **kw)
    print(out.shape, out[0, 0], idx[0, 1], out.grad_fn.name(), idx.dtype)
    out.sum().backward()
    print(x.grad[0, 0])
    x.grad = None
for kw in [dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
           dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
           dict(kernel_size=3, stride=3, ceil_mode=True, divisor_override=2)]:
    out = F.avg_pool2d(x, **kw)
    print(out.shape, out[0, 1])
    out.sum().backward()
    print(x.grad[0, 1])
    x.grad = None
m = torch.nn.MaxPool2d(2, return_indices=True, ceil_mode=True)
print(m, torch.nn.AvgPool2d(3, ceil_mode=True, count_include_pad=False))
print(m(x[0])[1])
print(F.avg_pool2d(x, 6, ceil_mode=True).shape)
for bad in (lambda: F.max_pool2d(x, 3, padding=2), lambda: F.max_pool2d(torch.ones(1, 1, 2, 2), 3)):
    try:
        bad()
    except RuntimeError as error:
        print(type(error).__name__, error)
