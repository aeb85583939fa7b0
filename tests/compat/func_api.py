"""torch.func on a module: functional_call, grad, grad_and_value (a few steps of training on a parameter
dict), jacrev, hessian, vjp, and the strict check."""
import torch
import torch.nn as nn
from torch.func import functional_call, grad, grad_and_value, hessian, jacrev, vjp

torch.set_printoptions(precision=6)
net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
params = {"0.weight": torch.tensor([[0.2, -0.3], [0.4, 0.1], [-0.1, 0.3]]), "0.bias": torch.tensor([0.01, -0.02, 0.03]),
          "2.weight": torch.tensor([[0.3, -0.2, 0.1]]), "2.bias": torch.tensor([0.1])}
x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [-1.0, 0.25]])
y = torch.tensor([[0.5], [-0.5], [1.0]])


def loss(p, x, y):
    return ((functional_call(net, p, (x,)) - y) ** 2).mean()


print(functional_call(net, params, (x,)))
g = grad(loss)(params, x, y)
print(list(g), g["0.weight"], g["2.bias"])
g2, value = grad_and_value(loss)(params, x, y)
print(value, torch.allclose(g2["2.weight"], g["2.weight"]))
for _ in range(5):
    g = grad(loss)(params, x, y)
    params = {k: v - 0.5 * g[k] for k, v in params.items()}
print(loss(params, x, y))
print(jacrev(lambda w: torch.tanh(w * 2.0))(torch.tensor([0.1, -0.2], dtype=torch.float64)))
print(hessian(lambda w: (w ** 3).sum())(torch.tensor([1.0, 2.0])))
out, fn = vjp(lambda w: w * w, torch.tensor([3.0, 4.0]))
print(out, fn(torch.tensor([1.0, 0.5])))
try:
    functional_call(net, {"foo": torch.ones(1)}, (x,), strict=True)
except RuntimeError as e:
    print(e)
print(net[0].weight.shape, type(net[0].weight).__name__)
