# scatter (tensor and number sources) and index_add: values, node names, gradients.

import torch

x = torch.arange(8.0).reshape(2, 4).requires_grad_()
src = torch.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]], requires_grad=True)
idx = torch.tensor([[3, 0, 1], [1, 2, 0]])
y = x.scatter(1, idx, src)
print(y, y.grad_fn.name())
(y * torch.arange(8.0).reshape(2, 4)).sum().backward()
print(x.grad, src.grad)
print(torch.scatter(x, 0, torch.tensor([[1, 0, 1, 0]]), 9.0), torch.zeros(3).scatter(0, torch.tensor([2]), value=1.5))
print(torch.zeros(3).scatter(0, torch.tensor([2]), 1.5).grad_fn)
z = torch.zeros(3, 2, requires_grad=True)
s = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
w = z.index_add(0, torch.tensor([0, 2, 0]), s, alpha=2)
print(w, w.grad_fn.name())
(w * torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])).sum().backward()
print(z.grad, s.grad, torch.index_add(torch.ones(2, 3), 1, torch.tensor([2]), torch.ones(2, 1)))
