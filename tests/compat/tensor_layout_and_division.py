import warnings

import torch
import torch.nn.functional as F

x = torch.arange(12.0).reshape(3, 4)
print(x.stride(), x.t().stride(), x.stride(0), x.stride(-1), torch.tensor(2.0).stride())
print(x.is_contiguous(), x.t().is_contiguous(), x[:, ::2].stride())
print(x.shape[1:], x.shape[:-1] + (5,), (7,) + x.shape, x.shape[0], x.size()[::-1])
print(x.t().reshape(12).view(4, 3))
try:
    x.t().view(12)
except RuntimeError as e:
    print("RuntimeError:", e)
print(x[:, :2].view(3, 2), x.unsqueeze(1)[:, :, 1:].view(3, 3))
m = x.max(1)
print(type(m).__name__, type(x.min(0)).__name__, m.values, m.indices)
a = torch.tensor([-7.5, -2.5, 3.25, 9.0], requires_grad=True)  # (no exact zero remainder: see docs/compat.md)
b = torch.tensor([2.0, -3.0, 1.5, -4.0], requires_grad=True)
for mode in ("trunc", "floor"):
    q = torch.div(a, b, rounding_mode=mode)
    print(mode, q, q.grad_fn.name(), a.div(2, rounding_mode=mode))
    q.sum().backward()
    print(a.grad, b.grad)
    a.grad = b.grad = None
print(torch.div(a, b), torch.divide(a, 4))
n = torch.tensor([-7, 7, -8, 9])
print(torch.div(n, 2, rounding_mode="trunc"), torch.div(n, -2, rounding_mode="floor"), n.div(4, rounding_mode="trunc"))
print(torch.div(torch.tensor([5.0, -5.0, 0.0]), 0.0, rounding_mode="trunc"))
try:
    torch.div(a, b, rounding_mode="round")
except RuntimeError as e:
    print("RuntimeError:", e)
print(torch.add(a, b, alpha=2), torch.add(a, 1.5), torch.sub(a, b, alpha=0.5), a.add(b, alpha=-1))
print(torch.remainder(a, 2), a.remainder(b), torch.count_nonzero(torch.tensor([[0, 1, 2], [3, 0, 0]])))
print(torch.count_nonzero(torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]]), dim=1))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(F.softmax(x, dim=1)[0], F.softmax(x)[0], F.log_softmax(x[0]))
    print([str(w.message) for w in caught])
