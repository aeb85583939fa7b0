import torch
import torch.nn.functional as F

x = torch.tensor([[-1.5, 0.2, 3.0, 0.0], [0.5, -0.1, 1.0, -4.0]], requires_grad=True)
t = torch.tensor([[0.0, 1.0, 2.0, 0.5], [1.0, 0.0, -1.0, -3.0]])
outs = [F.silu(x), F.elu(x), F.elu(x, 0.5), F.selu(x), F.leaky_relu(x, 0.1), F.hardtanh(x), F.relu6(x * 3),
        F.hardsigmoid(x), F.softsign(x), F.gelu(x), F.gelu(x, approximate="tanh"), F.logsigmoid(x), F.mish(x),
        torch.erf(x), torch.erfc(x), x.erf()]
for y in outs:
    print(y)
losses = [F.l1_loss(x, t), F.l1_loss(x, t, reduction="sum"), F.smooth_l1_loss(x, t), F.smooth_l1_loss(x, t, beta=0.5),
          F.huber_loss(x, t, delta=0.5), F.huber_loss(x, t, reduction="none"),
          F.kl_div(F.log_softmax(x, 1), F.softmax(t, 1), reduction="batchmean"),
          # float64: in float32 this sum is 0.77534980 in PyTorch and 0.77535003 here, the two sides of 0.77535
          F.kl_div(F.log_softmax(x.double(), 1), F.log_softmax(t.double(), 1), reduction="sum", log_target=True)]
for loss in losses:
    print(loss)
print(F.normalize(x), F.normalize(x, p=1, dim=0))
print(F.cosine_similarity(x, t), F.cosine_similarity(x, t, dim=0))
w, b = torch.ones(3, 4) * 0.5, torch.tensor([0.1, 0.2, 0.3])
print(F.linear(x, w, b), F.linear(x, w))
print(F.one_hot(torch.tensor([0, 2, 1])), F.one_hot(torch.tensor([1, 0]), 4))
print(F.dropout(x, 0.5, training=False), F.dropout(x, 0.0))
print(x.var(), x.var(1), x.var(0, unbiased=False), x.std(), x.std(1, keepdim=True), x.var(1, correction=0))
print(torch.var_mean(x, 1), torch.std_mean(x))
total = sum(y.sum() for y in outs) + sum(loss.sum() for loss in losses) + x.var() + x.std(1).sum() \
    + F.normalize(x).sum() + F.cosine_similarity(x, t).sum() + F.linear(x, w, b).sum() + sum(torch.var_mean(x, 0)).sum()
total.backward()
print(total)
print(x.grad)
