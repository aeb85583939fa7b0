# torch.linalg: inv, det, slogdet, solve, cholesky, vector/matrix norms; torch.kron, logdet; node names, errors.
import torch

A = torch.tensor([[2.0, 0.5, -0.3], [0.1, 1.5, 0.2], [-0.4, 0.3, 2.5]], requires_grad=True)
B = torch.tensor([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]])
v = torch.tensor([3.0, -4.0, 0.0, 1.0], requires_grad=True)
S = A @ A.T + torch.eye(3)
la = torch.linalg
CASES = [
    ("inv", lambda: la.inv(A)), ("inverse", lambda: torch.inverse(A)), ("det", lambda: la.det(A)),
    ("tdet", lambda: torch.det(A)), ("logdet", lambda: torch.logdet(A)), ("solve", lambda: la.solve(A, B)),
    ("solve_vec", lambda: la.solve(A, B[:, 0])),
    ("cholesky", lambda: la.cholesky(S)), ("tcholesky", lambda: torch.cholesky(S)),
    ("vnorm", lambda: la.vector_norm(v)), ("vnorm1", lambda: la.vector_norm(v, 1)),
    ("vnorminf", lambda: la.vector_norm(v, float("inf"))), ("vnorm0", lambda: la.vector_norm(v, 0)),
    ("vnorm3", lambda: la.vector_norm(v, 3)), ("fro", lambda: la.matrix_norm(A)),
    ("m1", lambda: la.matrix_norm(A, 1)), ("minf", lambda: la.matrix_norm(A, float("inf"))),
    ("norm", lambda: la.norm(A)), ("norm_v", lambda: la.norm(v, 1)), ("tnorm", lambda: torch.norm(A)),
    ("tnormp", lambda: torch.norm(v, p=1)), ("tnormdim", lambda: v.norm(dim=0)),
    ("kron", lambda: torch.kron(A[:2, :2], B)),
]
for name, fn in CASES:
    r = fn()
    print(name, r, r.grad_fn.name() if r.grad_fn is not None else None)
s = torch.linalg.slogdet(A)
print(s, type(s).__name__, s.logabsdet.grad_fn.name())
s = torch.slogdet(A)
print(s, type(s).__name__)
print(A.det(), A.inverse().grad_fn.name(), A.slogdet())
(torch.linalg.inv(A).sum() + torch.linalg.det(A) + torch.linalg.solve(A, B).pow(2).sum()).backward()
print(A.grad)
A.grad = None
torch.linalg.vector_norm(torch.zeros(3, requires_grad=True)).backward()
z = torch.zeros(3, requires_grad=True)
torch.linalg.vector_norm(z).backward()
print(z.grad)
for fn in (lambda: torch.linalg.inv(torch.ones(2, 3)), lambda: torch.linalg.inv(torch.ones(3, 3)),
           lambda: torch.linalg.inv(torch.tensor([[1, 2], [3, 4]])), lambda: torch.linalg.cholesky(-torch.eye(2)),
           lambda: torch.linalg.solve(A, torch.ones(2, 2)), lambda: torch.linalg.matrix_norm(v),
           lambda: torch.linalg.inv(torch.stack([torch.eye(2), torch.zeros(2, 2)]))):
    try:
        fn()
    except Exception as e:
        print(type(e).__name__, e)
