import torch

x = torch.arange(12.).reshape(3, 4).requires_grad_()
print(x.narrow(1, 1, 2), torch.narrow(x, 0, -2, 2))
print(x.split(3, 1))
print(torch.split(x, [1, 2]))
print(x.chunk(2), torch.chunk(x, 3, 1))
print(x.unbind(1))
print(x.flip(0), torch.flip(x, (0, 1)))
print(torch.roll(x, 1), x.roll((1, -1), (0, 1)), x.roll(5, 1))
print(x.repeat(2, 1), x.repeat(1, 2, 1).shape, x.tile((2,)), torch.tile(x, (2, 1, 1)).shape)
print(x.index_select(1, torch.tensor([3, 0, 0])), torch.index_select(x, 0, torch.tensor([2])))
print(x.masked_fill(x > 6, -1.0), x.masked_fill(torch.tensor([True, False, False, True]), 0.5))
print(x.movedim(0, 1).shape, torch.moveaxis(torch.zeros(2, 3, 4), (0, 1), (2, 0)).shape)
print(x.unflatten(1, (2, 2)).shape, torch.unflatten(x, 1, (-1, 2)).shape)
print(torch.broadcast_shapes((3, 1), (4,), (1, 1)))
a, b = torch.broadcast_tensors(x, torch.tensor([1.0, 2.0, 3.0, 4.0]))
print(a.shape, b)
loss = (x.split(3, 1)[0] * 2).sum() + x.roll(1, 0)[0].sum() + x.repeat(2, 1).pow(2).sum() \
    + x.index_select(1, torch.tensor([3, 3])).sum() + x.masked_fill(x < 4, 0.0).sum() + x.flip(1)[0, 0] \
    + sum(t.sum() for t in x.unbind(0)) + x.narrow(1, 2, 2).sum()
loss.backward()
print(loss)
print(x.grad)
y = torch.arange(6).reshape(2, 3)
print(y.roll(1), y.repeat(1, 2), y.index_select(0, torch.tensor([1, 0])), y.masked_fill(y > 2, 7))
for bad in (lambda: x.split(0), lambda: x.narrow(1, 3, 2), lambda: x.index_select(0, torch.tensor([[1]])),
            lambda: torch.broadcast_shapes((2,), (3,))):
    try:
        bad()
    except (RuntimeError, IndexError) as e:
        print("IndexError:" if isinstance(e, IndexError) else "RuntimeError:", str(e).splitlines()[0])
