# cumsum, cumprod and prod: values, node names, gradients (with zeros), integer promotion, empty and 0-d inputs.
import torch

x = torch.tensor([[1.0, -2.0, 3.0, 0.5], [0.0, 2.0, -1.0, 4.0]], dtype=torch.float64, requires_grad=True)
for f in [lambda t: t.cumsum(1), lambda t: t.cumprod(1), lambda t: torch.cumsum(t, dim=0), lambda t: t.prod(),
          lambda t: t.prod(1), lambda t: t.prod(0, keepdim=True), lambda t: torch.prod(t, 1)]:
    y = f(x)
    g, = torch.autograd.grad((y * torch.arange(y.numel(), dtype=torch.float64).reshape(y.shape)).sum(), x)
    print(y, y.grad_fn.name(), g + 0.0)  # PyTorch and tracegrad may differ in the sign of zero
print(torch.tensor([1, 2, 3], dtype=torch.int32).cumsum(0), torch.tensor([True, True]).cumsum(0))
print(torch.tensor([2, 3]).prod(), torch.tensor([1.5]).cumsum(0, dtype=torch.float64))
print(torch.tensor(3.0).cumsum(0), torch.tensor(2.0).prod(), torch.ones(0).prod(), torch.ones(2, 0).prod(1))
print(torch.arange(1., 11.).cumprod(0), torch.arange(20.).cumsum(-1))
