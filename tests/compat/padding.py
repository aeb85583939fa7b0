# F.pad: constant (with cropping), reflect, replicate and circular; values, gradients, node names, errors.
import torch
import torch.nn.functional as F

x = torch.arange(1.0, 7.0).reshape(1, 2, 3).requires_grad_()
for mode in ("constant", "reflect", "replicate", "circular"):
    y = F.pad(x, (2, 1), mode=mode)
    print(mode, y, y.grad_fn.name())
    (y * torch.arange(float(y.numel())).reshape(y.shape)).sum().backward()
    print(x.grad)
    x.grad = None
x4 = torch.arange(1.0, 13.0).reshape(1, 1, 3, 4).requires_grad_()
for mode in ("constant", "reflect", "replicate", "circular"):
    y = F.pad(x4, (1, 2, 2, 1), mode=mode)
    print(mode, y, y.grad_fn.name())
    y.pow(2).sum().backward()
    print(x4.grad)
    x4.grad = None
print(F.pad(x4, (-1, 1, 0, -2), value=7.5))
print(F.pad(torch.ones(2, 3), (1, 1, 1, 1)).shape)
print(F.pad(torch.ones(2), (1, 2), value=-1.0))
print(F.pad(torch.tensor([[1, 2], [3, 4]]), (1, 0), value=9))
print(F.pad(x4.reshape(1, 3, 4), (1, 1), mode="reflect").grad_fn.name(),
      F.pad(x4.reshape(1, 1, 1, 3, 4), (1, 1, 1, 1, 0, 0), mode="replicate").grad_fn.name())
for fn in (lambda: F.pad(x, (3, 3), mode="reflect"),
           lambda: F.pad(x, (1,)),
           lambda: F.pad(torch.ones(3), (1, 1), mode="reflect"),
           lambda: F.pad(x, (1, 1, 1, 1, 1, 1, 1, 1)),
           lambda: F.pad(x, (4, 4), mode="circular"),
           lambda: F.pad(x, (1, 1), mode="wrap"),
           lambda: F.pad(x, (-4, 0))):
    try:
        print(fn().shape)
    except Exception as e:
        print(type(e).__name__, e)
