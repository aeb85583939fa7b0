import torch

a = torch.tensor([1.0, 2.0], requires_grad=True)
with torch.no_grad():
    b = a * 2
print(b, b.requires_grad)
c = a.detach()
print(c.requires_grad, c.is_leaf, a.is_leaf, (a * 2).is_leaf)
d = a * 3
d.retain_grad()
d.sum().backward()
print(d.grad, a.grad)
print(torch.is_grad_enabled())
with torch.set_grad_enabled(False):
    print((a + 1).requires_grad)
