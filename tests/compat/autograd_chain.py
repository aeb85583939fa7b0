import torch

x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
y = torch.exp(x) * torch.sin(x) + x ** 2
z = y.sum()
print(y)
print(z)
z.backward()
print(x.grad)
print(x.grad_fn, y.grad_fn, z.grad_fn)
w = torch.tensor([[0.1, 0.2], [-0.3, 0.4]], requires_grad=True)
v = (w @ w).tanh().mean()
g, = torch.autograd.grad(v, w, create_graph=True)
print(v)
print(g)
g.sum().backward()
print(w.grad)
