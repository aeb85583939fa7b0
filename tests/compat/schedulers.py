"""The learning-rate schedulers: the rates (every bit: repr of the floats) over a run, the momentum or
beta1 that OneCycleLR cycles, ReduceLROnPlateau on a made-up metric, and the constructors' errors."""
import torch
import torch.nn as nn
from torch.optim import lr_scheduler as S


def run(make_opt, make_sched, steps=12, metric=None):
    w = nn.Parameter(torch.ones(2))
    opt = make_opt([w])
    sched = make_sched(opt)
    rates = []
    for k in range(steps):
        opt.step()
        if metric is None:
            sched.step()
        else:
            sched.step(metric(k))
        group = opt.param_groups[0]
        rates.append((group["lr"], group.get("momentum"), group.get("betas")))
    print(type(sched).__name__, rates, sched.get_last_lr())


sgd = lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)  # noqa: E731
adam = lambda p: torch.optim.Adam(p, lr=0.01)  # noqa: E731
run(sgd, lambda o: S.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.5))
run(sgd, lambda o: S.MultiplicativeLR(o, lambda epoch: 0.9 if epoch % 2 else 0.99))
run(sgd, lambda o: S.ConstantLR(o, factor=0.25, total_iters=4))
run(sgd, lambda o: S.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=7))
run(sgd, lambda o: S.PolynomialLR(o, total_iters=8, power=2.0))
run(sgd, lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), steps=16)
run(sgd, lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12))
run(adam, lambda o: S.OneCycleLR(o, max_lr=[0.5], epochs=3, steps_per_epoch=4, anneal_strategy="linear",
                                 three_phase=True))
run(sgd, lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1), steps=14,
    metric=lambda k: 1.0 if k < 3 else 1.0 + 0.001 * k)
run(adam, lambda o: S.ReduceLROnPlateau(o, mode="max", threshold=0.1, threshold_mode="abs", patience=0,
                                        min_lr=0.004), steps=6, metric=lambda k: torch.tensor(float(k % 2)))
warm = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)
restarts = S.CosineAnnealingWarmRestarts(warm, T_0=4, T_mult=2)
for epoch in (0.5, 3.25, 5.0, 13.0):
    restarts.step(epoch)
    print(epoch, restarts.T_cur, restarts.T_i, warm.param_groups[0]["lr"])
for bad in (lambda: S.ConstantLR(sgd([nn.Parameter(torch.ones(1))]), factor=2.0),
            lambda: S.LinearLR(sgd([nn.Parameter(torch.ones(1))]), start_factor=0.0),
            lambda: S.CosineAnnealingWarmRestarts(sgd([nn.Parameter(torch.ones(1))]), T_0=0),
            lambda: S.OneCycleLR(sgd([nn.Parameter(torch.ones(1))]), max_lr=1.0),
            lambda: S.ReduceLROnPlateau(sgd([nn.Parameter(torch.ones(1))]), factor=1.0),
            lambda: S.ReduceLROnPlateau(sgd([nn.Parameter(torch.ones(1))]), mode="up")):
    try:
        bad()
    except ValueError as error:
        print(type(error).__name__, error)
