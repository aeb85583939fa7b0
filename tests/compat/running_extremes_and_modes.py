"""cummax, cummin, aminmax, mode and mvlgamma: ties, NaN, integer input, 0-d input and gradients."""
import torch

x = torch.tensor([[1.0, 3.0, 2.0, 3.0], [4.0, 1.0, 1.0, 0.0]], requires_grad=True)
r = torch.cummax(x, 1)
print(r, type(r).__name__)
r.values.sum().backward()
print(x.grad)
print(torch.cummin(x, dim=0), x.cummax(0), x.cummin(-1).indices)
print(torch.cummax(torch.tensor([1.0, float("nan"), 2.0, float("nan"), 0.0]), 0))
print(torch.cummin(torch.tensor([3, 1, 4, 1, 0]), 0), torch.cummax(torch.tensor(2.0), 0))
print(torch.aminmax(x), torch.aminmax(x, dim=1, keepdim=True), torch.aminmax(x, keepdim=True))
x.grad = None
m = torch.aminmax(x)
(m.min + 2 * m.max).backward()
print(x.grad, m.max.grad_fn.name())
try:
    torch.aminmax(torch.ones(0))
except RuntimeError as e:
    print("RuntimeError:", e)
y = torch.tensor([[1.0, 2, 2, 3, 3], [5, 4, 4, 5, 1]], requires_grad=True)
print(torch.mode(y), y.mode(0), torch.mode(y, 1, keepdim=True).indices)
y.mode().values.sum().backward()
print(y.grad)
print(torch.mode(torch.tensor([1.0, float("nan"), float("nan"), 2.0])))
print(torch.mode(torch.tensor([[1, 1, 2], [3, 3, 3]])))
z = torch.tensor([2.5, 3.0, 4.25], dtype=torch.float64, requires_grad=True)
g = torch.mvlgamma(z, p=3)
g.sum().backward()
print(g, z.grad, torch.special.multigammaln(z, 1))
print(torch.mvlgamma(torch.tensor([2, 3]), p=2))
try:
    torch.mvlgamma(torch.tensor([3.0]), p=0)
except RuntimeError as e:
    print("RuntimeError:", e)
