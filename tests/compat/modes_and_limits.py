# Inference tensors, version counters, anomaly flags, dtype limits, legacy types and Function styles.
import warnings

import torch

x = torch.ones(2)
print(x._version, type(x._version).__name__)
x.add_(1)
print(x._version, x[0]._version)
with torch.inference_mode():
    t = torch.ones(2)
    u = x * 2
    v = x[0:1]
print(t.is_inference(), u.is_inference(), v.is_inference(), x.is_inference())
w = torch.ones(2, requires_grad=True)
for attempt in [lambda: t._version, lambda: t.add_(1), lambda: w * t, lambda: t.requires_grad_()]:
    try:
        print(attempt())
    except RuntimeError as e:
        print("RuntimeError:", e)
print((w + t).grad_fn.name())
print(torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled())
with torch.autograd.detect_anomaly():
    print(torch.is_anomaly_enabled())

print(torch.finfo(torch.float32))
print(torch.finfo(torch.float64))
print(torch.finfo(torch.float16))
print(torch.finfo())
print(torch.iinfo(torch.int32), torch.iinfo(torch.uint8))
print(torch.iinfo(torch.int64).bits, torch.finfo(torch.float32).dtype)
print(torch.finfo(torch.float32).eps, torch.iinfo(torch.int16).max, torch.finfo(torch.float64).tiny)
print(torch.promote_types(torch.int32, torch.float32), torch.promote_types(torch.uint8, torch.int8),
      torch.promote_types(torch.bool, torch.int16), torch.promote_types(torch.float16, torch.float64))
print(torch.logspace(0, 2, 3), torch.logspace(0, 3, 4, base=2), torch.logspace(0, 2, 3, dtype=torch.float64))
print(torch.zeros(size=(2,)), torch.ones(size=[1, 2]), torch.rand(size=(2, 3)).shape, torch.empty(size=(0,)))
print(isinstance(torch.ones(2), torch.FloatTensor), isinstance(torch.ones(2, dtype=torch.float64), torch.FloatTensor),
      isinstance(torch.ones(2).long(), torch.LongTensor), isinstance(torch.ones(2).double(), torch.DoubleTensor))
print(torch.FloatTensor(2, 3).shape, torch.FloatTensor([1.5]), torch.LongTensor([1, 2]))

lo, hi = torch.zeros(3, requires_grad=True), torch.ones(3, requires_grad=True)
z = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
y = torch.clamp(z, lo, hi)
print(y, torch.clamp(z, min=lo).grad_fn.name(), torch.clamp(z, max=hi).grad_fn.name())
print(torch.clamp(z, 0, 1).grad_fn.name())
y.sum().backward()
print(z.grad, lo.grad, hi.grad)
print(torch.clamp(torch.tensor([1, 5, 9]), torch.tensor(3)))
print(torch.clamp(torch.tensor([1, 5, 9]), max=torch.tensor([2, 2, 2])))
print(torch.clamp(torch.tensor([0.5, 1.5]), torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])))


class Legacy(torch.autograd.Function):
    def forward(self, x):
        return x * 2

    def backward(self, g):
        return g * 2


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        Legacy()(w)
    except RuntimeError as e:
        print("RuntimeError:", e)
print([str(c.category.__name__) for c in caught])
print(Legacy.apply(w))


class Mul(torch.autograd.Function):
    @staticmethod
    def forward(x, k):
        return x * k

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, k = inputs
        ctx.k = k
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.k, None


y = Mul.apply(w, 3.0)
print(y)
y.sum().backward()
print(w.grad)


class Once(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 2

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


s = torch.tensor([3.0], requires_grad=True)
(g,) = torch.autograd.grad(Once.apply(s), s, create_graph=True)
print(g, g.requires_grad)
(g,) = torch.autograd.grad(Once.apply(s), s, grad_outputs=torch.ones(1, requires_grad=True), create_graph=True)
print(g.requires_grad)
try:
    g.backward()
except RuntimeError as e:
    print("RuntimeError:", e)
