# cross_entropy and nll_loss: class weights, ignore_index, label smoothing, N-d input, probability
# targets; values, gradients, grad_fn names and errors.
import torch
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0], [0.3, -0.2, 0.9], [1.5, 1.5, -0.5]], requires_grad=True)
t = torch.tensor([0, 1, -100, 2])
w = torch.tensor([1.0, 2.0, 0.5])
for red in ("mean", "sum", "none"):
    loss = F.cross_entropy(x, t, weight=w, reduction=red)
    print(red, loss, loss.grad_fn.name())
    loss.sum().backward()
    print(x.grad)
    x.grad = None
    loss = F.cross_entropy(x, torch.tensor([0, 2, 1, 2]), ignore_index=2, reduction=red, label_smoothing=0.2)
    print(red, loss, loss.grad_fn.name())
    loss.sum().backward()
    print(x.grad)
    x.grad = None
    loss = F.cross_entropy(x, t, weight=w, reduction=red, label_smoothing=0.1)
    print(red, loss)
    loss.sum().backward()
    print(x.grad)
    x.grad = None
    loss = F.nll_loss(F.log_softmax(x, 1), t, weight=w, reduction=red)
    print(red, loss, loss.grad_fn.name())
# N-d inputs
x4 = torch.linspace(-2, 2, 2 * 3 * 2 * 2).reshape(2, 3, 2, 2).requires_grad_()
t4 = torch.tensor([[[0, 2], [1, 1]], [[2, 0], [0, 2]]])
for red in ("mean", "sum", "none"):
    loss = F.cross_entropy(x4, t4, reduction=red)
    print("4d", red, loss, loss.grad_fn.name())
    loss.sum().backward()
    print(x4.grad)
    x4.grad = None
    loss = F.nll_loss(F.log_softmax(x4, 1), t4, weight=w, reduction=red, ignore_index=1)
    print("4d nll", red, loss, loss.grad_fn.name())
x3 = torch.linspace(-1, 2, 2 * 3 * 4).reshape(2, 3, 4).requires_grad_()
t3 = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])
for red in ("mean", "none"):
    loss = F.cross_entropy(x3, t3, weight=w, reduction=red, label_smoothing=0.05)
    print("3d", red, loss, loss.grad_fn.name())
    loss.sum().backward()
    print(x3.grad)
    x3.grad = None
    loss = F.nll_loss(x3, t3, reduction=red)
    print("3d nll", red, loss, loss.grad_fn.name())
x5 = torch.linspace(-1, 1, 2 * 3 * 2 * 1 * 2).reshape(2, 3, 2, 1, 2)
t5 = torch.tensor([[[[0, 1]], [[2, 2]]], [[[1, 0]], [[0, 0]]]])
print("5d", F.cross_entropy(x5, t5), F.cross_entropy(x5, t5, reduction="none").shape)
# probability targets
p = torch.softmax(torch.tensor([[0.1, 0.2, 0.7], [1.0, -1.0, 0.0]]), 1)
for red in ("mean", "sum", "none"):
    # (the mean's node: PyTorch divides by a Python number, DivBackward1; tracegrad prints DivBackward0)
    loss = F.cross_entropy(x[:2], p, reduction=red, label_smoothing=0.1, weight=w)
    print("prob", red, loss.detach(), red == "mean" or loss.grad_fn.name())
    l2 = F.cross_entropy(x[:2], p, reduction=red)
    print("prob", red, l2.detach(), red == "mean" or l2.grad_fn.name())
# single sample
print(F.cross_entropy(torch.tensor([0.5, 1.5, -0.5]), torch.tensor(1)))
print(F.cross_entropy(torch.tensor([0.5, 1.5, -0.5]), torch.tensor(1), label_smoothing=0.3))
# all ignored
print(F.cross_entropy(x, torch.tensor([-100, -100, -100, -100])))
# errors
for fn in (lambda: F.nll_loss(x, torch.tensor([0, 1])),
           lambda: F.nll_loss(x, t, weight=torch.tensor([1.0, 2.0])),
           lambda: F.nll_loss(x4, torch.tensor([[0, 1], [1, 0]])),
           lambda: F.nll_loss(x, torch.tensor([0, 1, 5, 2])),
           lambda: F.cross_entropy(x, t, label_smoothing=1.5)):
    try:
        fn()
    except Exception as e:
        print(type(e).__name__, e)
