import warnings

import torch

a = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
b = torch.tensor([0.5, 4.0], requires_grad=True)
M = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], requires_grad=True)
B = torch.arange(24.0).reshape(2, 3, 4).requires_grad_()
o = torch.outer(a, b)
print(o, torch.ger(b, a).shape)
v = torch.mv(M, a)
print(v)
(o.sum() + v.sum()).backward()
print(a.grad, b.grad, M.grad)
bb = torch.bmm(B, B.transpose(1, 2))
print(bb, B.bmm(torch.ones(2, 4, 1)).shape)
print(torch.addmm(torch.ones(2, 2), M, M.t(), beta=0.5, alpha=2), torch.addmm(torch.tensor([1.0, -1.0]), M, M.t()))
print(torch.baddbmm(torch.zeros(2, 3, 3), B, B.transpose(1, 2), alpha=0.5)[1])
print(torch.diag(a), torch.diag(a, 1), torch.diag(a, -1).shape, torch.diag(M), torch.diag(M, 1), M.diag(-1))
print(torch.diag_embed(M), torch.diag_embed(a, offset=1, dim1=0, dim2=1).shape)
print(torch.einsum("ij,j->i", M, a), torch.einsum("ij,kj->ik", M, M), torch.einsum("ii", torch.ones(3, 3) * 2))
print(torch.einsum("bij,bkj->bik", B, B)[0], torch.einsum("i,i", a, a), torch.einsum("ij->ji", M))
print(torch.einsum("...j,j->...", B, torch.ones(4)), torch.einsum("bij->j", B))
print(torch.einsum("i,j,k->ijk", a, b, a).shape)
print(torch.einsum("ij,jk,kl->il", M, M.t(), M), torch.einsum("ii->i", torch.arange(9.0).reshape(3, 3)))
e = torch.einsum("bij,ki->bkj", B, M)
e.sum().backward()
print(e.shape, M.grad)
print(torch.tensordot(M, M, dims=([1], [1])), torch.tensordot(B, torch.ones(3, 4), dims=2), torch.tensordot(a, b, 0))
x, y = torch.meshgrid(a, b, indexing="ij")
print(x, y)
print([g.shape for g in torch.meshgrid(a, b, indexing="xy")], torch.meshgrid([a, b, a], indexing="ij")[2].shape)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(torch.meshgrid(a, b)[0].shape, [str(w.message).split(" (Triggered")[0] for w in caught])
print(torch.repeat_interleave(torch.tensor([1, 2, 3]), 2), M.repeat_interleave(2, dim=0))
r = a.repeat_interleave(torch.tensor([1, 0, 2]))
print(r, M.repeat_interleave(torch.tensor([2, 1]), dim=0).shape, torch.tensor([[1, 2], [3, 4]]).repeat_interleave(3))
s = M.masked_select(M > 0.7)
print(s, a.masked_select(torch.tensor([True, False, True])), M.masked_select(torch.tensor([True, False, True])))
for bad in (lambda: torch.bmm(M, M), lambda: torch.mv(M, b), lambda: torch.einsum("ij,j->i", M),
            lambda: torch.einsum("ij->i", a)):
    try:
        bad()
    except RuntimeError as err:
        print("RuntimeError:", err)
