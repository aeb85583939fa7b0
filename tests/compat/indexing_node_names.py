"""The grad_fn of basic indexing: PyTorch applies the items one at a time (select, slice, unsqueeze) and
skips slices of a whole dimension, so the node is the last step's."""
import torch

t = torch.randn(4, 5, 6, requires_grad=True)
for index in ("[1, 2, :2]", "[:2, 1]", "[1, :]", "[None, 1]", "[1, None]", "[:]", "[0:4]", "[..., 1]", "[1, ...]",
              "[:, :3, None]", "[None]", "[1:3, None, :]", "[:, 1, ::2]", "[..., 2:, 1]", "[0:4, 0:5, 1]", "[1, 0:5]",
              "[...]", "[-4:]", "[0:-1]", "[[0, 2], 1]"):
    print(index, eval("t" + index).grad_fn.name())
