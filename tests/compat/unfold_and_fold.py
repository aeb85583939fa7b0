"""F.unfold and F.fold (im2col and col2im), functional and as modules: values, gradients, node names,
unbatched input, padding, strides, dilation, and errors."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_printoptions(precision=5)
x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float64).reshape(2, 3, 5, 6).sin().requires_grad_()
for kw in (dict(kernel_size=2), dict(kernel_size=(2, 3), padding=1, stride=(2, 1)),
           dict(kernel_size=3, dilation=(1, 2), padding=(1, 0), stride=2)):
    cols = F.unfold(x, **kw)
    print(cols.shape, cols.grad_fn.name(), cols[1, :4, :3])
    back = F.fold(cols, (5, 6), **kw)
    print(back.shape, back.grad_fn.name(), back[0, 2, :2])
    (back * torch.arange(back.numel(), dtype=torch.float64).reshape(back.shape).cos()).sum().backward()
    print(x.grad[1, 0, :2])
    x.grad = None
print(F.unfold(x[0], 2).shape, F.fold(F.unfold(x[0], 2), (5, 6), 2)[0, :2])
unfold, fold = nn.Unfold(2, padding=1), nn.Fold((5, 6), 2, padding=1)
print(unfold, fold, (fold(unfold(x)) / fold(unfold(torch.ones_like(x))) - x).abs().max().item())
for bad in (lambda: F.unfold(torch.ones(3, 4), 2), lambda: F.fold(torch.ones(2, 7, 12), (4, 5), 2),
            lambda: F.fold(torch.ones(2, 12, 7), (4, 5), 2), lambda: F.unfold(x, 6)):
    try:
        bad()
    except (RuntimeError, IndexError) as error:
        print(type(error).__name__, error)
