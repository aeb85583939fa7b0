import torch

x = torch.arange(6.).reshape(2, 3).requires_grad_()
print(x.t(), x.T.shape, x.reshape(3, 2), x.view(-1))
print(x.unsqueeze(0).shape, x.unsqueeze(-1).squeeze(-1).shape, x.flatten())
print(x.permute(1, 0), x.transpose(0, 1).shape)
print(torch.cat([x, x], 0).shape, torch.stack([x, x], 2).shape)
print(x[1], x[:, 1:], x[..., None].shape, x[[0, 1], [2, 0]])
y = x.expand(4, 2, 3)
print(y.shape, y.sum())
(x[:, :2] * 3).sum().backward()
print(x.grad)
