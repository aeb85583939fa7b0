import torch

x = torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], requires_grad=True)
print(x.sum(), x.sum(0), x.sum(dim=1, keepdim=True))
print(x.mean(), x.mean(1))
print(x.max(), x.min(dim=0))
print(x.amax(1), x.amin(0), x.argmax(), x.argmin(dim=1))
print(torch.logsumexp(x, dim=1))
print(x.norm(), x.norm(dim=1))
(x.max(dim=1).values.sum() + x.logsumexp(0).sum()).backward()
print(x.grad)
