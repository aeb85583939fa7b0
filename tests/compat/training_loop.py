"""A small MLP trained 20 steps with SGD (momentum, nesterov, weight decay), Adam, AdamW (amsgrad): modules,
state dicts, parameter groups and the optimizers' update formulas."""
import torch
import torch.nn as nn

torch.set_printoptions(precision=6)
x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-1.0, 1.0, 0.0], [0.3, 0.7, -1.2]], dtype=torch.float64)
y = torch.tensor([1, 0, 2, 1])
start = {"0.weight": torch.tensor([[0.2, -0.3, 0.1], [0.4, 0.1, -0.2], [-0.1, 0.3, 0.25], [0.05, -0.15, 0.3]]),
         "0.bias": torch.tensor([0.01, -0.02, 0.03, 0.0]),
         "2.weight": torch.tensor([[0.3, -0.2, 0.1, 0.4], [-0.3, 0.2, 0.25, -0.1], [0.1, 0.1, -0.2, 0.2]]),
         "2.bias": torch.tensor([0.0, 0.1, -0.1])}


def model():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    print(net.load_state_dict({k: v.double() for k, v in start.items()}))
    return net


def train(name, make):
    net = model()
    opt = make(net)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        losses.append(round(loss.item(), 8))
    print(name, losses[0], losses[9], losses[19])
    for key, value in net.state_dict().items():
        print(key, value)
    return opt


train("sgd", lambda net: torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9, nesterov=True, weight_decay=1e-3))
train("sgd-damp", lambda net: torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.5, dampening=0.3, maximize=False))
opt = train("adam", lambda net: torch.optim.Adam(net.parameters(), lr=0.05, weight_decay=0.01))
saved = opt.state_dict()
print(sorted(saved["state"][0]), saved["state"][0]["step"], saved["param_groups"][0]["params"])
train("adamw", lambda net: torch.optim.AdamW(net.parameters(), lr=0.05, amsgrad=True))
train("groups", lambda net: torch.optim.SGD([{"params": net[0].parameters()},
                                             {"params": net[2].parameters(), "lr": 0.05}], lr=0.5))
net = model()
print(net, net[0].weight.grad, [n for n, _ in net.named_modules()])
net.zero_grad()
print(nn.MSELoss()(net(x), torch.zeros(4, 3, dtype=torch.float64)), nn.L1Loss(reduction="sum")(net(x)[:, 0], x[:, 0]))
for bad in (lambda: torch.optim.SGD(net.parameters(), lr=-1), lambda: torch.optim.Adam([x * 2]),
            lambda: torch.optim.SGD([], lr=1), lambda: torch.optim.Adam(net.parameters(), betas=(1.0, 0.5)),
            lambda: torch.optim.SGD(net.parameters(), lr=0.1, nesterov=True)):
    try:
        bad()
    except ValueError as e:
        print("ValueError:", e)
train("rmsprop", lambda net: torch.optim.RMSprop(net.parameters(), lr=0.01, momentum=0.5, centered=True,
                                                 weight_decay=0.01))
train("adagrad", lambda net: torch.optim.Adagrad(net.parameters(), lr=0.1, lr_decay=0.01,
                                                 initial_accumulator_value=0.1))
net = model()
opt = torch.optim.SGD(net.parameters(), lr=0.5)
schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)]
rates = []
for _ in range(8):
    opt.zero_grad()
    nn.CrossEntropyLoss()(net(x), y).backward()
    total = nn.utils.clip_grad_norm_(net.parameters(), max_norm=0.1)
    opt.step()
    schedulers[0].step()
    rates.append(schedulers[0].get_last_lr()[0])
print(rates, total)
for make in (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
             lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.01),
             lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e))):
    o = torch.optim.SGD(net.parameters(), lr=0.3)
    s = make(o)
    lrs = []
    for _ in range(10):
        o.step()
        s.step()
        lrs.append(round(s.get_last_lr()[0], 10))
    print(type(s).__name__, lrs)
net[0].weight.grad = torch.full((4, 3), 2.0, dtype=torch.float64)
nn.utils.clip_grad_value_(net[0].weight, 0.5)
print(net[0].weight.grad[0], nn.utils.clip_grad_norm_(net[0].weight, 1.0, norm_type="inf"))
data = torch.utils.data.TensorDataset(x, y)
loader = torch.utils.data.DataLoader(data, batch_size=3)
print(len(data), len(loader), len(torch.utils.data.DataLoader(data, batch_size=3, drop_last=True)))
for xb, yb in loader:
    print(xb.shape, yb)
