import warnings

import torch

with warnings.catch_warnings():
    warnings.simplefilter("error")  # PyTorch warns about none of these
    print(torch.tensor([]).mean(), torch.zeros(0, 3).mean(0), torch.zeros(2, 0).mean(1))
    print(torch.tensor([]).sum(), torch.zeros(0, 3).sum(0), torch.zeros(2, 0).sum(1))
    print(torch.zeros(2, 0).mean(0), torch.zeros(0).norm())
