"""eigh, svd, qr and the spectral norms: values, named tuples and gradients of sign-invariant losses."""
import torch

A = torch.tensor([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]], dtype=torch.float64, requires_grad=True)
L, V = torch.linalg.eigh(A)
print(L, V.abs(), type(torch.linalg.eigh(A)).__name__)
((V[:, 0] ** 2 * torch.arange(3.0)).sum() + (L ** 2).sum()).backward()
print(A.grad)
print(torch.linalg.eigvalsh(A), torch.linalg.eigh(A, UPLO="U").eigenvalues)
M = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.5]], dtype=torch.float64, requires_grad=True)
U, S, Vh = torch.linalg.svd(M, full_matrices=False)
print(U.abs(), S, Vh.abs(), U.grad_fn.name(), S.grad_fn.name())
((U[:, 0] * torch.tensor([1.0, 2, 3])).sum() ** 2 + S.sum() + (Vh[0] ** 4).sum()).backward()
print(M.grad)
full = torch.linalg.svd(M)
print([tuple(t.shape) for t in full], torch.linalg.svdvals(M))
r = torch.svd(M)
print(type(r).__name__, r.S, (r.U @ torch.diag(r.S) @ r.V.mT - M).abs().max() < 1e-12)
M.grad = None
Q, R = torch.linalg.qr(M)
print(Q.abs(), R.abs(), Q.grad_fn.name())
((Q * torch.arange(6.0).reshape(3, 2)).sum() * R[0, 0] + (R ** 2).sum()).backward()
print(M.grad)
W = torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 0.5]], dtype=torch.float64, requires_grad=True)
Q, R = torch.linalg.qr(W)
((Q * Q.sum(0)).sum() + (R ** 2).sum()).backward()
print(W.grad)
print([tuple(t.shape) for t in torch.linalg.qr(M, mode="complete")], torch.linalg.qr(M, mode="r").Q.shape)
print([tuple(t.shape) for t in torch.qr(M, some=False)], type(torch.qr(M)).__name__)
for ord in (2, -2, "nuc"):
    M.grad = None
    n = torch.linalg.matrix_norm(M, ord)
    n.backward()
    print(ord, n, M.grad)
print(torch.linalg.norm(M, 2), torch.linalg.matrix_norm(torch.ones(2, 3, 4), "nuc", dim=(0, 2), keepdim=True))
for bad in (lambda: torch.linalg.eigh(torch.ones(2, 3)), lambda: torch.linalg.svd(torch.ones(3)),
            lambda: torch.linalg.qr(M, mode="x"), lambda: torch.linalg.qr(M, mode="r").R.sum().backward(),
            lambda: torch.linalg.qr(M, mode="complete").Q.sum().backward()):
    try:
        bad()
    except RuntimeError as e:
        print("RuntimeError:", e)
