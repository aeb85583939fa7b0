"""DataLoader with a batch_sampler, a sampler, no batching, and the checks of its settings."""
import torch
from torch.utils.data import DataLoader, TensorDataset

ds = TensorDataset(torch.arange(10.0), torch.arange(10))
by_lists = DataLoader(ds, batch_sampler=[[0, 1, 2], [5, 9]])
print([b[1].tolist() for b in by_lists], len(by_lists))
print([b[1].tolist() for b in DataLoader(ds, batch_size=4, sampler=[9, 8, 7, 1, 2], num_workers=0)])
print([b[1].tolist() for b in DataLoader(ds, batch_size=None, sampler=[3, 1])])
for bad in (lambda: DataLoader(ds, num_workers=-1), lambda: DataLoader(ds, sampler=[1], shuffle=True),
            lambda: DataLoader(ds, batch_sampler=[[1]], batch_size=2), lambda: DataLoader(ds, batch_size=0),
            lambda: DataLoader(ds, batch_size=None, drop_last=True), lambda: DataLoader(ds, prefetch_factor=2),
            lambda: DataLoader(ds, persistent_workers=True)):
    try:
        bad()
    except ValueError as error:
        print(type(error).__name__, error)
