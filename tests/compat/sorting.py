# sort, argsort, topk, kthvalue, median (NaN rows, ties), msort, isnan/isinf/isfinite.
import torch

x = torch.tensor([[3.0, 1.0, 2.0, 5.0], [0.5, 4.0, -1.0, 2.5]], requires_grad=True)
s = x.sort()
print(s)
print(type(s).__name__, s.values.grad_fn.name(), x.sort(dim=0, descending=True))
(s.values * torch.arange(4.0)).sum().backward()
print(x.grad)
x.grad = None
t = torch.topk(x, 2)
print(t, t.values.grad_fn.name())
t.values.sum().backward()
print(x.grad)
print(x.topk(1, dim=0, largest=False), x.argsort(dim=1, descending=True), torch.argsort(x, 0))
m = x.median()
print(m, m.grad_fn.name(), x.median(dim=1), x.median(0, keepdim=True).values.grad_fn.name())
print(torch.kthvalue(x, 2, dim=1), x.msort())
n = torch.tensor([1.0, float("nan"), 3.0, 2.0])
print(n.sort(), n.sort(descending=True), n.median(), n.argsort(), n.topk(2))
print(torch.tensor([2, 1, 2, 0]).sort(), torch.tensor([1.0, 2.0, 1.0, 2.0]).argsort(stable=True))
print(torch.tensor(3.0).sort())
print(torch.isnan(n), n.isinf(), torch.isfinite(torch.tensor([1.0, float("inf"), float("nan")])))
print(torch.tensor([4.0, 1.0, 3.0, 2.0]).median(), torch.tensor([[1, 5, 3]]).median(1))
for attempt in [lambda: torch.ones(0).median(), lambda: torch.ones(3).topk(4), lambda: torch.ones(3).kthvalue(4),
                lambda: torch.ones(2, 0).median(1)]:
    try:
        print(attempt())
    except (RuntimeError, IndexError) as e:
        print(type(e).__name__, e)
