import torch

x = torch.tensor([[1.0, -2.0, 3.0, 0.5], [4.0, 5.0, -6.0, 2.0], [0.1, 0.2, 0.3, 0.4]], requires_grad=True)
idx = torch.tensor([[3, 0], [1, 1], [2, 3]])
g = torch.gather(x, 1, idx)
print(g)
(g * torch.tensor([1.0, 10.0])).sum().backward()
print(x.grad)
x.grad = None
rows = torch.tensor([[2, 0, 1, 2], [0, 0, 2, 1]])
print(x.gather(0, rows), x.gather(-1, torch.tensor([[1], [0], [3]])))
scores = torch.tensor([[0.2, 0.9, 0.1], [0.7, 0.3, 0.5]])
best = scores.argmax(1, keepdim=True)
print(best, torch.take_along_dim(scores, best, dim=1), torch.take_along_dim(scores, torch.tensor([5, 0])))
src = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
base = torch.zeros(2, 4, requires_grad=True)
s = torch.scatter_add(base, 1, torch.tensor([[3, 0, 3], [1, 1, 2]]), src)
print(s)
(s * torch.arange(8.0).reshape(2, 4)).sum().backward()
print(base.grad, src.grad)
print(torch.zeros(3, 2).scatter_add(0, torch.tensor([[2, 0], [2, 2]]), torch.ones(2, 2)))
for bad in (lambda: x.gather(1, torch.tensor([0, 1])), lambda: x.gather(1, torch.tensor([[0.0]])),
            lambda: torch.zeros(2).scatter_add(0, torch.tensor([0]), torch.ones(1, dtype=torch.float64))):
    try:
        bad()
    except RuntimeError as e:
        print("RuntimeError:", e)
