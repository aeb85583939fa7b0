import torch
import torch.nn.functional as F

logits = torch.tensor([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], requires_grad=True)
target = torch.tensor([1, 2])
loss = F.cross_entropy(logits, target)
print(loss)
loss.backward()
print(logits.grad)
p = torch.tensor([0.2, 0.9], requires_grad=True)
print(F.binary_cross_entropy(p, torch.tensor([0.0, 1.0])))
print(F.softmax(logits, dim=1), F.log_softmax(logits, dim=0))
print(F.relu(torch.tensor([-1.0, 2.0])), F.softplus(torch.tensor([0.0, 30.0])))
print(F.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), reduction="sum"))
