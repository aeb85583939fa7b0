import torch

print(torch.tensor([1, 2, 3]), torch.tensor([1.5, 2.0]), torch.tensor([True, False]))
print(torch.tensor([1, 2]) + 0.5, torch.tensor([1, 2], dtype=torch.int32) * 2)
print(torch.tensor([1.0], dtype=torch.float64), torch.zeros(2, 3, dtype=torch.int64))
print(torch.tensor(3.25), torch.tensor([1e-8, 1.0]), torch.tensor([1e10, 1.0]))
print(torch.arange(5), torch.linspace(0, 1, 5), torch.eye(2))
print(torch.ones(2, 2).dtype, (torch.ones(2) / 2).dtype, torch.tensor([1, 2]).float().dtype)
print(torch.Size([2, 3]), torch.ones(2, 3).size(), torch.ones(2, 3).shape[1])
