"""layer_norm, embedding and batch_norm, functional and as modules: values, node names, running statistics,
gradients and errors."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_printoptions(precision=6)
x = torch.tensor([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]], dtype=torch.float64, requires_grad=True)
w = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
b = torch.tensor([0.1, 0.0, -0.1], dtype=torch.float64, requires_grad=True)
y = F.layer_norm(x, (3,), w, b)
print(y, y.grad_fn.name())
(y * torch.arange(6.0).reshape(2, 3)).sum().backward()
print(x.grad, w.grad, b.grad)
print(F.layer_norm(x, (2, 3)).grad_fn.name())
ln = nn.LayerNorm(3)
print(ln, ln.weight, ln.bias, list(ln.state_dict()))
emb = nn.Embedding(4, 2)
with torch.no_grad():
    emb.weight.copy_(torch.arange(8.0).reshape(4, 2))
out = emb(torch.tensor([[0, 3], [3, 1]]))
print(emb, out, out.grad_fn.name())
out.sum().backward()
print(emb.weight.grad)
print(nn.Embedding(5, 2, padding_idx=0), nn.Embedding(5, 2, padding_idx=-1).padding_idx)
bn = nn.BatchNorm1d(3).double()
print(bn, list(bn.state_dict()), bn.running_mean, bn.num_batches_tracked)
z = bn(x)
print(z, z.grad_fn.name(), bn.running_mean, bn.running_var, bn.num_batches_tracked)
bn.eval()
print(bn(x))
bn2 = nn.BatchNorm2d(2).double()
print(bn2, bn2(torch.arange(16.0, dtype=torch.float64).reshape(2, 2, 2, 2))[0, 0], bn2.running_var)
for bad in (lambda: bn(torch.ones(2, 4, dtype=torch.float64)), lambda: nn.BatchNorm1d(3)(torch.ones(1, 3)),
            lambda: emb(torch.tensor([4])), lambda: nn.BatchNorm2d(3)(torch.ones(2, 3))):
    try:
        bad()
    except (RuntimeError, ValueError, IndexError) as error:
        print(type(error).__name__, error)
