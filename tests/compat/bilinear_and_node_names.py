"""F.bilinear, and the node names PyTorch gives a gradient kept with create_graph, weighted BCE with logits and
views written in place."""
import warnings

import torch
import torch.nn.functional as F

warnings.simplefilter("ignore")
x1 = torch.tensor([[1.0, 2.0], [0.5, -1.0]], requires_grad=True)
x2 = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 0.0]], requires_grad=True)
w = torch.arange(12.0).reshape(2, 2, 3).requires_grad_()
b = torch.tensor([0.1, -0.2], requires_grad=True)
y = F.bilinear(x1, x2, w, b)
print(y, y.grad_fn.name())
(y * torch.tensor([1.0, -2.0])).sum().backward()
print(x1.grad, x2.grad, w.grad, b.grad)
print(F.bilinear(x1, x2, w).grad_fn.name(), F.bilinear(x1[0], x2[0], w, b))
for args in ((x1, x2[:, :2], w), (x1, x2, w, torch.ones(3)), (x1, torch.ones(3, 3), w)):
    try:
        F.bilinear(*args)
    except RuntimeError as e:
        print("RuntimeError:", e)
x = torch.tensor([1.0, 2.0], requires_grad=True)
(x ** 3).sum().backward(create_graph=True)
print(x.grad, x.grad.grad_fn.name())
x.grad.sum().backward()
print(x.grad)
t = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
target = torch.tensor([1.0, 0.0, 1.0])
for kw in ({"pos_weight": torch.tensor([2.0, 1.0, 0.5]), "reduction": "sum"}, {"weight": torch.tensor([2.0, 1.0, 0.5])},
           {"pos_weight": torch.tensor([3.0]), "reduction": "none"}):
    loss = F.binary_cross_entropy_with_logits(t, target, **kw)
    print(loss, loss.grad_fn.name())
a = torch.ones(2, 3, requires_grad=True)
for make in (lambda e: e.t(), lambda e: e.view(6), lambda e: e[0], lambda e: e[:, 1:]):
    e = a * 1
    v = make(e)
    v.mul_(2)
    print(v.grad_fn.name(), e.grad_fn.name())
e.sum().backward()
print(a.grad)
