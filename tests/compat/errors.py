# tracegrad adds a line naming the op, the shapes and the caller's line: the first line is PyTorch's.
import torch

x = torch.ones(3, requires_grad=True)
y = x * 2
try:
    y.backward()
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
z = (x * x).sum()
z.backward()
try:
    z.backward()
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
try:
    x.add_(1)
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
try:
    torch.trace(torch.ones(2, 2, 2))
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
try:
    torch.ones(2, 3) @ torch.ones(2, 3)
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
