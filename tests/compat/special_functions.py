"""lgamma, digamma, polygamma and erfinv: values at ordinary points, poles and edges, and two derivatives."""
import torch

torch.set_printoptions(precision=6)
x = torch.tensor([0.5, 1.5, 3.0, -0.5, -2.5], dtype=torch.float64, requires_grad=True)
for name in ("lgamma", "digamma"):
    y = getattr(torch, name)(x)
    print(name, y, y.grad_fn.name())
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    print(g.detach(), gg)
for n in (1, 2, 3):
    y = torch.polygamma(n, x)
    print("polygamma", n, y, y.grad_fn.name())
    (g,) = torch.autograd.grad(y.sum(), x)
    print(g)
u = torch.tensor([-0.9, -0.25, 0.0, 0.6, 0.999], dtype=torch.float64, requires_grad=True)
y = torch.erfinv(u)
print(y, y.grad_fn.name())
(g,) = torch.autograd.grad(y.sum(), u, create_graph=True)
print(g.detach(), torch.autograd.grad(g.sum(), u)[0])
edges = torch.tensor([0.0, -1.0, -0.5, float("inf"), float("-inf"), -0.0])
print(torch.lgamma(edges), torch.digamma(edges), torch.polygamma(1, edges[2:4]))
print(torch.erfinv(torch.tensor([1.0, -1.0, 1.5, -0.0])))
print(torch.lgamma(torch.tensor([1, 2, 5])), torch.digamma(torch.tensor([1, 2])))
# float32 is computed in float64 and rounded once (PyTorch computes in float32): four digits agree.
torch.set_printoptions(precision=4)
f32 = torch.tensor([0.25, 2.0, 7.5])
print(torch.special.gammaln(f32), torch.special.psi(f32), torch.special.polygamma(2, f32), f32.erfinv())
print(torch.special.erfinv(torch.tensor([0.5])), f32.lgamma(), f32.digamma(), f32.polygamma(1))
