import torch
from torch.autograd.functional import hessian, hvp, jacobian, jvp, vhp, vjp


def f(x):
    return x ** 2 * x.sin()


def scalar(x, y):
    return (x * y.exp()).sum() + (x ** 3).sum()


x = torch.tensor([1.0, 2.0, -0.5])
y = torch.tensor([0.5, -1.0, 2.0])
print(jacobian(f, x))
print(jacobian(lambda a, b: (a * b, a + b.sum()), (x, y)))
print(hessian(scalar, (x, y)))
print(vjp(f, x, torch.ones(3)))
print(jvp(f, x, torch.tensor([1.0, 0.0, 2.0])))
print(hvp(lambda a: scalar(a, y), x, torch.ones(3)))
print(vhp(lambda a: scalar(a, y), x, torch.ones(3)))
print(jacobian(f, x, create_graph=True).requires_grad)
xd = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
print(torch.autograd.gradcheck(lambda t: (t.tanh() * t).sum(), (xd,)))
print(torch.autograd.gradgradcheck(lambda t: t.tanh() * t, (xd,)))


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return t ** 3

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        return g * 2 * t ** 2  # wrong on purpose: 3 t^2


print(torch.autograd.gradcheck(Cube.apply, (xd,), raise_exception=False))
try:
    torch.autograd.gradcheck(Cube.apply, (xd,))
except RuntimeError as e:
    print(e)
