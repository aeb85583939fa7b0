"""Tensor creation, dtypes, type promotion, properties and conversions, checked against PyTorch.

Every expected value, dtype and repr below was printed by PyTorch 2.13 for
the same program (``import tracegrad as torch`` must behave the same way).
torch itself is not imported here.
"""
import numpy as np
import pytest
from numeric import numeric_grad

import tracegrad as torch

TRACEGRAD = torch.__name__ == "tracegrad"


def arr(t):
    return np.asarray(t.detach().numpy())


# --------------------------------------------------------------------------
# torch.tensor and dtype inference
# --------------------------------------------------------------------------

@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], "float32"), ([1, 2], "int64"), ([True], "bool"), ([1, 2.5], "float32"),
    (3.5, "float32"), (7, "int64"), ([], "float32"), ([[1, 2], [3, 4]], "int64"),
    (np.array([1.0]), "float64"), (np.array([1], dtype=np.int32), "int32"),
    (np.float32(1.0), "float32"), (np.float64(1.0), "float64"),
])
def test_tensor_infers_dtype(data, dtype):
    assert torch.tensor(data).dtype == getattr(torch, dtype)


def test_tensor_dtype_python_types():
    t = torch.tensor([1, 2], dtype=float)
    assert t.dtype == torch.float64
    assert repr(t) == "tensor([1., 2.], dtype=torch.float64)"
    i = torch.tensor([1.7, 2.2], dtype=int)
    assert i.dtype == torch.int64
    assert i.tolist() == [1, 2]
    b = torch.tensor([0, 2], dtype=bool)
    assert repr(b) == "tensor([False,  True])"


def test_tensor_reprs():
    assert repr(torch.tensor(3.5)) == "tensor(3.5000)"
    assert repr(torch.tensor([])) == "tensor([])"
    assert repr(torch.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(torch.tensor([1.5], dtype=torch.float64)) == "tensor([1.5000], dtype=torch.float64)"
    assert repr(torch.tensor([True, False])) == "tensor([ True, False])"
    assert repr(torch.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(torch.zeros(())) == "tensor(0.)"
    assert str(torch.tensor(2.5)) == "tensor(2.5000)"


@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")
def test_tensor_copies_its_data():
    d = np.zeros(2)
    t = torch.tensor(d)
    d[0] = 1.0
    np.testing.assert_array_equal(arr(t), [0.0, 0.0])
    src = torch.tensor([1.0, 2.0])
    c = torch.tensor(src)
    c[0] = 5.0
    assert src.tolist() == [1.0, 2.0]


def test_tensor_from_tensors_and_size():
    assert repr(torch.tensor([torch.tensor(1.0), torch.tensor(2.0)])) == "tensor([1., 2.])"
    assert repr(torch.tensor(torch.Size([2, 3]))) == "tensor([2, 3])"


def test_tensor_requires_grad_flag():
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None


# --------------------------------------------------------------------------
# as_tensor / from_numpy / numpy interop
# --------------------------------------------------------------------------

def test_as_tensor_shares_memory_with_numpy():
    a = np.array([1.0, 2.0])
    t = torch.as_tensor(a)
    assert t.dtype == torch.float64
    a[0] = 9.0
    assert repr(t) == "tensor([9., 2.], dtype=torch.float64)"
    t[1] = 7.0
    np.testing.assert_array_equal(a, [9.0, 7.0])


def test_as_tensor_with_other_dtype_copies():
    a = np.array([9.0, 7.0])
    b = torch.as_tensor(a, dtype=torch.float32)
    assert b.dtype == torch.float32
    a[0] = 5.0
    assert repr(b) == "tensor([9., 7.])"


def test_as_tensor_of_tensor_and_lists():
    tt = torch.ones(2)
    assert torch.as_tensor(tt) is tt
    assert torch.as_tensor(tt, dtype=torch.float32) is tt
    assert torch.as_tensor([1, 2]).dtype == torch.int64
    assert torch.as_tensor([1.0, 2.0]).dtype == torch.float32
    assert repr(torch.as_tensor(3.0)) == "tensor(3.)"


def test_from_numpy_shares_memory_both_ways():
    c = np.arange(3, dtype=np.int32)
    fc = torch.from_numpy(c)
    assert fc.dtype == torch.int32
    c[0] = 5
    assert repr(fc) == "tensor([5, 1, 2], dtype=torch.int32)"
    fc[1] = 8
    np.testing.assert_array_equal(c, [5, 8, 2])


def test_numpy_and_asarray_share_memory():
    t = torch.ones(2)
    n = t.numpy()
    assert n.dtype == np.float32
    n[0] = 3.0
    assert repr(t) == "tensor([3., 1.])"
    t3 = torch.ones(2)
    n3 = np.asarray(t3)
    n3[0] = 4.0
    assert repr(t3) == "tensor([4., 1.])"
    assert np.asarray(torch.tensor([1, 2])).dtype == np.int64
    assert np.asarray(torch.ones(2), dtype=np.float64).dtype == np.float64


def test_detach_numpy_of_tensor_requiring_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(x.detach().numpy(), np.array([1.0, 2.0], dtype=np.float32))


# --------------------------------------------------------------------------
# Factories
# --------------------------------------------------------------------------

def test_ones_zeros_full_empty():
    assert repr(torch.ones(2, 3)) == "tensor([[1., 1., 1.],\n        [1., 1., 1.]])"
    assert torch.ones((2, 3)).shape == torch.Size([2, 3])
    assert torch.ones(torch.Size([2])).shape == (2,)
    assert repr(torch.zeros(2, dtype=torch.long)) == "tensor([0, 0])"
    assert torch.zeros(()).shape == torch.Size([])
    assert repr(torch.full((2, 2), 7)) == "tensor([[7, 7],\n        [7, 7]])"
    assert repr(torch.full((2,), 1.5)) == "tensor([1.5000, 1.5000])"
    assert repr(torch.full((2,), True)) == "tensor([True, True])"
    e = torch.empty(2, 3)
    assert e.shape == (2, 3) and e.dtype == torch.float32
    assert torch.ones(2, 0).numel() == 0 and torch.ones(2, 0).shape == (2, 0)


def test_factories_requires_grad():
    for t in (torch.ones(2, requires_grad=True), torch.zeros(2, requires_grad=True),
              torch.randn(2, requires_grad=True), torch.full((2,), 1.0, requires_grad=True)):
        assert t.requires_grad and t.is_leaf


def test_eye():
    assert repr(torch.eye(3)) == ("tensor([[1., 0., 0.],\n        [0., 1., 0.],\n        [0., 0., 1.]])")
    assert repr(torch.eye(2, 3)) == "tensor([[1., 0., 0.],\n        [0., 1., 0.]])"


def test_arange():
    assert repr(torch.arange(5)) == "tensor([0, 1, 2, 3, 4])"
    assert repr(torch.arange(0, 1, 0.25)) == "tensor([0.0000, 0.2500, 0.5000, 0.7500])"
    assert repr(torch.arange(1, 4)) == "tensor([1, 2, 3])"
    assert repr(torch.arange(5, 0, -2)) == "tensor([5, 3, 1])"
    assert repr(torch.arange(3.0)) == "tensor([0., 1., 2.])"
    assert repr(torch.arange(0, 1, 0.5, dtype=torch.float64)) == "tensor([0.0000, 0.5000], dtype=torch.float64)"
    assert torch.arange(5).dtype == torch.int64


def test_linspace():
    assert repr(torch.linspace(0, 1, 5)) == "tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])"
    assert torch.linspace(0, 1, 5).dtype == torch.float32
    assert repr(torch.linspace(-1, 1, 3)) == "tensor([-1.,  0.,  1.])"


def test_random_factories_shapes_dtypes_and_ranges():
    r = torch.rand(2, 3)
    assert r.shape == (2, 3) and r.dtype == torch.float32
    assert ((r >= 0) & (r < 1)).all().item()
    n = torch.randn(4)
    assert n.shape == (4,) and n.dtype == torch.float32
    i = torch.randint(0, 10, (3,))
    assert i.dtype == torch.int64 and i.shape == (3,)
    assert torch.randint(5, (2, 2)).shape == (2, 2)
    big = torch.randint(3, 5, (1000,))
    assert big.min().item() == 3 and big.max().item() == 4
    assert torch.rand(3, dtype=torch.float64).dtype == torch.float64


def test_randn_statistics():
    torch.manual_seed(1)
    n = arr(torch.randn(20000))
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    u = arr(torch.rand(20000))
    assert abs(u.mean() - 0.5) < 0.02


def test_like_factories():
    x = torch.ones(2, 3, dtype=torch.float64)
    assert repr(torch.zeros_like(x)) == ("tensor([[0., 0., 0.],\n        [0., 0., 0.]], dtype=torch.float64)")
    assert repr(torch.ones_like(torch.tensor([1, 2]))) == "tensor([1, 1])"
    assert repr(torch.full_like(x, 4)) == ("tensor([[4., 4., 4.],\n        [4., 4., 4.]], dtype=torch.float64)")
    assert repr(torch.full_like(torch.tensor([1, 2]), 2.7)) == "tensor([2, 2])"
    for f in (torch.empty_like, torch.rand_like, torch.randn_like):
        t = f(x)
        assert t.shape == (2, 3) and t.dtype == torch.float64
    assert repr(torch.zeros_like(x, dtype=torch.float32)) == "tensor([[0., 0., 0.],\n        [0., 0., 0.]])"
    assert torch.zeros_like(x, requires_grad=True).requires_grad


def test_manual_seed_reproducible():
    torch.manual_seed(0)
    a = (torch.rand(3).tolist(), torch.randn(3).tolist(), torch.randint(0, 10, (5,)).tolist())
    torch.manual_seed(0)
    b = (torch.rand(3).tolist(), torch.randn(3).tolist(), torch.randint(0, 10, (5,)).tolist())
    assert a == b
    torch.manual_seed(1)
    c = torch.rand(3).tolist()
    assert c != a[0]


@pytest.mark.skipif(not TRACEGRAD, reason="documents that tracegrad's stream is its own")
def test_manual_seed_stream_is_not_pytorchs():
    # PyTorch 2.13 after manual_seed(0): rand(3), then randn(3).  tracegrad does not replicate its generator.
    torch.manual_seed(0)
    assert torch.rand(3).tolist() != [0.49625658988952637, 0.7682217955589294, 0.08847743272781372]
    assert torch.randn(3).tolist() != [0.3643381893634796, 0.13439632952213287, 0.16421625018119812]


def test_legacy_constructors():
    t = torch.Tensor(3, 5)
    assert t.shape == (3, 5) and t.dtype == torch.float32 and not t.requires_grad
    assert repr(torch.Tensor([1, 2])) == "tensor([1., 2.])"
    assert repr(torch.Tensor()) == "tensor([])"
    assert repr(torch.FloatTensor([1, 2])) == "tensor([1., 2.])"
    f = torch.FloatTensor(2, 2)
    assert f.shape == (2, 2) and f.dtype == torch.float32
    assert repr(torch.DoubleTensor([1, 2])) == "tensor([1., 2.], dtype=torch.float64)"
    assert repr(torch.LongTensor([1, 2])) == "tensor([1, 2])"
    assert repr(torch.LongTensor([1.7, 2.2])) == "tensor([1, 2])"
    lt = torch.LongTensor(3)
    assert lt.shape == (3,) and lt.dtype == torch.int64
    assert isinstance(torch.ones(1), torch.Tensor)


# --------------------------------------------------------------------------
# dtypes and Size
# --------------------------------------------------------------------------

def test_dtype_aliases_and_reprs():
    assert torch.float is torch.float32
    assert torch.double is torch.float64
    assert torch.long is torch.int64
    assert torch.int is torch.int32
    assert torch.half is torch.float16
    assert torch.short is torch.int16
    reprs = [repr(d) for d in (torch.float, torch.float32, torch.double, torch.float64, torch.long, torch.int64,
                               torch.int, torch.int32, torch.bool, torch.half, torch.uint8, torch.int16, torch.int8)]
    assert reprs == ["torch.float32", "torch.float32", "torch.float64", "torch.float64", "torch.int64", "torch.int64",
                     "torch.int32", "torch.int32", "torch.bool", "torch.float16", "torch.uint8", "torch.int16",
                     "torch.int8"]
    assert str(torch.float32) == "torch.float32"
    assert torch.tensor([1.0]).dtype == torch.float
    assert torch.float32 != torch.float64
    assert torch.float32.is_floating_point and not torch.int64.is_floating_point
    assert (torch.float32.itemsize, torch.float64.itemsize) == (4, 8)
    assert torch.get_default_dtype() == torch.float32


def test_size():
    s = torch.Size([2, 3])
    assert repr(s) == "torch.Size([2, 3])" and str(s) == "torch.Size([2, 3])"
    assert repr(torch.Size([])) == "torch.Size([])"
    assert s == (2, 3) and isinstance(s, tuple)
    assert s.numel() == 6
    t = torch.ones(2, 3)
    assert t.size() == s and t.shape == s
    assert repr(t.shape) == "torch.Size([2, 3])"
    assert type(t.shape[0]) is int
    assert t.size(1) == 3 and t.size(-1) == 3 and t.size(dim=0) == 2


def test_type_strings_and_casts():
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert (t.type(), torch.tensor([1]).type(), torch.tensor([True]).type(),
            torch.tensor([1], dtype=torch.int32).type(), torch.ones(1, dtype=torch.float64).type()) == (
        "torch.FloatTensor", "torch.LongTensor", "torch.BoolTensor", "torch.IntTensor", "torch.DoubleTensor")
    assert repr(t.to(torch.int64)) == "tensor([[1, 2],\n        [3, 4]])"
    assert repr(torch.tensor([1.7, -1.7]).long()) == "tensor([ 1, -1])"
    assert torch.tensor([1.7]).int().dtype == torch.int32
    assert repr(torch.tensor([0.0, 2.0]).bool()) == "tensor([False,  True])"
    assert repr(torch.tensor([1, 2]).float()) == "tensor([1., 2.])"
    assert torch.tensor([1, 2]).double().dtype == torch.float64
    assert torch.tensor([1.0]).half().dtype == torch.float16
    assert (t.element_size(), torch.tensor([1]).element_size()) == (4, 8)


# --------------------------------------------------------------------------
# Type promotion
# --------------------------------------------------------------------------

F32 = lambda: torch.ones(2)  # noqa: E731
I64 = lambda: torch.tensor([1, 2])  # noqa: E731
I32 = lambda: torch.tensor([1, 2], dtype=torch.int32)  # noqa: E731
B = lambda: torch.tensor([True, False])  # noqa: E731

PROMOTION = [
    ("f32 * 2.5", lambda: F32() * 2.5, "float32"),
    ("i64 * 2.5", lambda: I64() * 2.5, "float32"),
    ("i64 / i64", lambda: I64() / torch.tensor([2, 4]), "float32"),
    ("i64 / 2", lambda: I64() / 2, "float32"),
    ("1 / i64", lambda: 1 / I64(), "float32"),
    ("i32 + 1", lambda: I32() + 1, "int32"),
    ("i32 * True", lambda: I32() * True, "int32"),
    ("i32 + 0-d i64", lambda: I32() + torch.tensor(5), "int32"),
    ("i32 + 1-d i64", lambda: I32() + torch.tensor([5, 6]), "int64"),
    ("0-d f64 * f32", lambda: torch.tensor(2.0, dtype=torch.float64) * F32(), "float32"),
    ("f64 * f32", lambda: torch.ones(2, dtype=torch.float64) * F32(), "float64"),
    ("i64 * 0-d f32", lambda: I64() * torch.tensor(2.0), "float32"),
    ("i64 + 0-d f64", lambda: I64() + torch.tensor(2.0, dtype=torch.float64), "float64"),
    ("i64 - f32", lambda: I64() - F32(), "float32"),
    ("u8 + i8", lambda: torch.tensor([1], dtype=torch.uint8) + torch.tensor([1], dtype=torch.int8), "int16"),
    ("f32 + np.float64", lambda: F32() + np.float64(1.0), "float32"),
    ("bool + bool", lambda: B() + B(), "bool"),
    ("bool * bool", lambda: B() * B(), "bool"),
    ("bool + 1", lambda: B() + 1, "int64"),
    ("bool + 1.5", lambda: B() + 1.5, "float32"),
    ("i64 ** 2", lambda: I64() ** 2, "int64"),
    ("i64 ** 0.5", lambda: I64() ** 0.5, "float32"),
    ("sum i64", lambda: I64().sum(), "int64"),
    ("sum i32", lambda: I32().sum(), "int64"),
    ("sum bool", lambda: B().sum(), "int64"),
    ("exp i64", lambda: torch.exp(I64()), "float32"),
    ("sqrt i64", lambda: torch.tensor([4]).sqrt(), "float32"),
    ("i64 > 1", lambda: I64() > 1, "bool"),
]


@pytest.mark.parametrize("case, make, dtype", PROMOTION, ids=[c for c, _, _ in PROMOTION])
def test_type_promotion(case, make, dtype):
    assert make().dtype == getattr(torch, dtype)


def test_promotion_values():
    assert repr(I64() * 2.5) == "tensor([2.5000, 5.0000])"
    assert repr(I64() / torch.tensor([2, 4])) == "tensor([0.5000, 0.5000])"
    assert repr(torch.tensor([-7]) / 2) == "tensor([-3.5000])"
    assert repr(B() + B()) == "tensor([ True, False])"
    assert repr(B() + 1) == "tensor([2, 1])"
    assert repr(B().sum()) == "tensor(1)"
    assert repr(I64().sum()) == "tensor(3)"
    assert repr(torch.exp(I64())) == "tensor([2.7183, 7.3891])"
    assert repr(torch.tensor([4]).sqrt()) == "tensor([2.])"
    assert repr(I64() ** 2) == "tensor([1, 4])"
    assert repr(-I64()) == "tensor([-1, -2])"
    assert repr(1 / I64()) == "tensor([1.0000, 0.5000])"


def test_floor_division_and_remainder():
    assert repr(torch.tensor([1, 2]) // 2) == "tensor([0, 1])"
    assert repr(torch.tensor([-7]) // 2) == "tensor([-4])"
    assert repr(torch.tensor([5.5]) % 2) == "tensor([1.5000])"
    assert repr(torch.tensor([-7]) % 3) == "tensor([2])"


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

def test_properties():
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert (t.dim(), t.ndim, t.numel(), t.nelement()) == (2, 2, 4, 4)
    assert t.dtype == torch.float32 and t.is_leaf and not t.requires_grad
    assert t.grad is None and t.grad_fn is None
    assert repr(t.T) == "tensor([[1., 3.],\n        [2., 4.]])"
    assert repr(t.data) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(t.device) == "device(type='cpu')" and str(t.device) == "cpu"
    assert not t.is_cuda and t.is_contiguous()
    assert (t.is_floating_point(), torch.tensor([1]).is_floating_point(), torch.is_floating_point(t)) == (
        True, False, True)
    assert torch.is_tensor(t) and not torch.is_tensor(1)
    s = torch.tensor(5)
    assert (s.shape, s.dim(), s.numel()) == (torch.Size([]), 0, 1)


def test_properties_of_graph_tensors():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    assert not x.data.requires_grad and x.data.is_leaf
    y = x * 2
    assert not y.is_leaf and y.requires_grad and type(y.grad_fn).__name__ == "MulBackward0"
    assert repr(y) == "tensor([2., 4.], grad_fn=<MulBackward0>)"


def test_data_shares_storage():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    x.data[0] = 5.0
    assert x.tolist() == [5.0, 2.0]
    x.data = torch.tensor([7.0, 8.0])
    assert x.tolist() == [7.0, 8.0] and x.requires_grad


def test_transposes():
    assert torch.ones(2, 3).T.shape == (3, 2)
    assert torch.ones(2, 3, 4).mT.shape == (2, 4, 3)
    assert torch.ones(2, 3, 4).permute(2, 0, 1).shape == (4, 2, 3)
    assert torch.ones(2, 3).t().shape == (3, 2)


def test_len_iter_and_negative_index():
    assert len(torch.ones(4, 2)) == 4
    assert [r.tolist() for r in torch.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert repr(torch.tensor([1, 2, 3])[-1]) == "tensor(3)"
    assert repr(torch.arange(10).reshape(2, 5)[:, 1:3]) == "tensor([[1, 2],\n        [6, 7]])"


def test_tensors_hash_by_identity():
    a, b = torch.ones(1), torch.ones(1)
    assert hash(a) != hash(b)
    assert len({a}) == 1 and len({a, b}) == 2


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------

def test_item():
    assert torch.tensor([2.5]).item() == 2.5
    assert torch.tensor(3).item() == 3 and type(torch.tensor(3).item()) is int
    assert type(torch.tensor(2.5).item()) is float
    assert type(torch.tensor([2], dtype=torch.int32).item()) is int
    assert torch.tensor(True).item() is True
    assert torch.tensor(0.1).item() == 0.10000000149011612
    assert torch.tensor([0.1, 0.2]).sum().item() == 0.30000001192092896


def test_tolist():
    assert torch.tensor([[1.0, 2.0], [3.0, 4.0]]).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert torch.tensor([1, 2]).tolist() == [1, 2]
    assert torch.tensor(1.5).tolist() == 1.5
    assert all(type(v) is int for v in torch.tensor([1, 2]).tolist())


def test_python_number_conversions():
    assert float(torch.tensor(0.1)) == 0.10000000149011612
    assert int(torch.tensor(2.7)) == 2 and int(torch.tensor(-2.7)) == -2
    assert bool(torch.tensor(0.0)) is False and bool(torch.tensor([3])) is True
    assert [10, 20, 30][torch.tensor(1)] == 20


def test_format_of_0d_tensor():
    assert f"{torch.tensor(2.5)}" == "2.5"
    assert f"{torch.tensor(3)}" == "3"
    assert f"{torch.tensor(2.5):.3f}" == "2.500"
    assert f"{torch.tensor(True)}" == "True"
    assert f"{torch.tensor(0.1)}" == "0.10000000149011612"
    assert f"{torch.tensor(1 / 3):.2f}" == "0.33"
    assert f"{torch.tensor(1e-8)}" == "9.99999993922529e-09"
    assert f"{torch.tensor(7)}" == "7"
    assert f"{torch.tensor(0.1, dtype=torch.float64)}" == "0.1"
    assert f"{torch.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    loss = (torch.tensor([1.0, 2.0], requires_grad=True) ** 2).mean()
    assert f"loss={loss:.4f}" == "loss=2.5000"


# --------------------------------------------------------------------------
# Comparisons, all/any, norm, clone, reductions
# --------------------------------------------------------------------------

def test_comparisons():
    assert repr(torch.tensor([1, 2]) > 1) == "tensor([False,  True])"
    assert repr(torch.tensor([1, 2]).eq(torch.tensor([1, 2])).all()) == "tensor(True)"
    assert repr(torch.eq(torch.tensor([1, 2]), torch.tensor([1, 3]))) == "tensor([ True, False])"
    assert repr(torch.tensor([1.0, 2.0]) == torch.tensor([1, 2])) == "tensor([True, True])"
    assert repr(torch.tensor([1.0, 2.0, 3.0]) <= 2) == "tensor([ True,  True, False])"
    assert repr(torch.tensor([1.0, 2.0, 3.0]).ge(2)) == "tensor([False,  True,  True])"
    assert repr(torch.tensor([1, 2]) != 1) == "tensor([False,  True])"
    nan = float("nan")
    assert repr(torch.tensor([1.0, nan]) == torch.tensor([1.0, nan])) == "tensor([ True, False])"
    assert torch.equal(torch.tensor([1, 2]), torch.tensor([1, 2]))
    assert not torch.equal(torch.tensor([1, 2]), torch.tensor([1, 3]))
    assert torch.allclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.000001]))


def test_all_any():
    assert repr(torch.tensor([True, False]).all()) == "tensor(False)"
    assert repr(torch.tensor([True, False]).any()) == "tensor(True)"
    assert repr(torch.tensor([1.0, 2.0]).all()) == "tensor(True)"
    assert repr(torch.tensor([[True, False], [False, False]]).any(1)) == "tensor([ True, False])"
    assert repr(torch.tensor([[True, False], [True, True]]).all(dim=0)) == "tensor([ True, False])"
    assert torch.tensor([True, True]).all().item() is True


def test_norm():
    assert repr(torch.tensor([3.0, 4.0]).norm()) == "tensor(5.)"
    assert repr(torch.tensor([3.0, -4.0]).norm(p=1)) == "tensor(7.)"
    assert repr(torch.tensor([[3.0, 4.0], [6.0, 8.0]]).norm(dim=1)) == "tensor([ 5., 10.])"


def test_clone_is_independent():
    c = torch.tensor([1.0, 2.0])
    d = c.clone()
    d[0] = 9.0
    assert repr(c) == "tensor([1., 2.])" and repr(d) == "tensor([9., 2.])"
    x = torch.tensor([1.0], requires_grad=True)
    y = x.clone()
    assert not y.is_leaf and type(y.grad_fn).__name__ == "CloneBackward0"


def test_reductions_and_arg_reductions():
    assert repr(torch.tensor([[1, 2], [3, 4]]).sum(0)) == "tensor([4, 6])"
    assert repr(torch.tensor([[1, 2], [3, 4]]).sum(dim=1, keepdim=True)) == "tensor([[3],\n        [7]])"
    assert repr(torch.tensor([1.0, 2.0, 4.0]).mean()) == "tensor(2.3333)"
    assert repr(torch.tensor([1.0, 5.0, 3.0]).argmax()) == "tensor(1)"
    assert repr(torch.tensor([[1.0, 2.0], [3.0, 0.0]]).argmin(1)) == "tensor([0, 1])"
    assert repr(torch.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax()) == "tensor(2)"
    assert repr(torch.tensor([1, 2]).max()) == "tensor(2)"
    assert repr(torch.tensor([1, 2]).mul(3)) == "tensor([3, 6])"
    assert repr(torch.tensor([1, 2]).pow(2)) == "tensor([1, 4])"


def _pieces_loss(x, index, mask):
    """Every slicing, tiling and matrix-structure function on one tensor, summed with distinct weights."""
    parts = [torch.narrow(x, 1, 1, 2).sum(), sum((k + 1) * t.sum() for k, t in enumerate(x.split(3, 1))),
             sum(t.pow(2).sum() for t in torch.split(x, [1, 2])), sum(t.mean() for t in x.chunk(2)),
             sum((k + 2) * t.sum() for k, t in enumerate(x.unbind(1))), (x.flip(0)[0] * 3).sum(),
             (x.roll((1, -1), (0, 1))[0] * 5).sum(), x.repeat(2, 1, 2).tanh().sum(), (x.tile((2,)) ** 2).sum(),
             (x.index_select(1, index) * 7).sum(), x.masked_fill(mask, 0.5).exp().sum(),
             (x.movedim(0, 1)[0] * 11).sum(), x.unflatten(1, (2, 2))[:, 1].sum(), torch.trace(x[:, :3]) * 13,
             (x.diagonal(1) * 17).sum(), (torch.tril(x) * torch.triu(x, 1).sum()).sum(),
             sum(t.sum() for t in torch.broadcast_tensors(x, x[0]))]
    return sum(parts)


# Tier 0 and the reference interpreter run the derived graphs here; the kernel of every op these
# functions are made of is compiled by the generic op tests (a kernel of all of them at once took
# half a minute to compile on a fresh machine).
COMPOSITION_TIERS = [{"tier": "executor"}, {"backend": "interpreter"}]


def _compiled_matches_eager(loss, x, others, how, grad_rtol=1e-10):
    """loss(x, *others) and its gradient in x, compiled (on the tier `how` picks) as eagerly, in float64.

    Returns the eager gradient, for checks against finite differences.
    """
    xt = torch.tensor(x, requires_grad=True)
    eager = loss(xt, *[torch.tensor(o) for o in others])
    eager.backward()
    value, grad = torch.value_and_grad(loss, **how)(x, *others)
    np.testing.assert_allclose(value, eager.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=grad_rtol, atol=1e-12)
    return xt.grad.numpy()


@pytest.mark.parametrize("how", COMPOSITION_TIERS, ids=["executor", "interpreter"])
def test_slicing_and_tiling_functions_compile_to_eager_values(how):
    """The same loss and gradient compiled as eagerly, in float64."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (3, 4))
    index, mask = np.array([3, 0, 0]), rng.uniform(size=(3, 4)) < 0.5
    _compiled_matches_eager(_pieces_loss, x, (index, mask), how, grad_rtol=1e-12)


def _activations_loss(x, t):
    import tracegrad.nn.functional as F
    parts = [F.silu(x), F.elu(x, 0.7), F.selu(x), F.leaky_relu(x, 0.2), F.hardtanh(x, -0.5, 0.8), F.relu6(x * 4),
             F.hardsigmoid(x * 4), F.softsign(x), F.gelu(x), F.gelu(x, approximate="tanh"), F.logsigmoid(x),
             F.mish(x), torch.erf(x), torch.erfc(x), F.normalize(x), F.linear(x, t)]
    losses = [F.l1_loss(x, t), F.smooth_l1_loss(x, t, beta=0.5), F.huber_loss(x, t, delta=0.3),
              F.kl_div(F.log_softmax(x, 1), F.softmax(t, 1), reduction="batchmean"),
              F.cosine_similarity(x, t).sum(), x.var(), x.std(1).sum(), torch.var_mean(x, 0)[0].sum()]
    return sum((k + 1) * p.sum() for k, p in enumerate(parts)) + sum(losses)


@pytest.mark.parametrize("how", COMPOSITION_TIERS, ids=["executor", "interpreter"])
def test_activations_and_losses_compile_to_eager_values(how):
    """nn.functional's activations and losses, var and std: compiled as eagerly, in float64."""
    rng = np.random.default_rng(6)
    x, t = rng.uniform(-2, 2, (3, 3)), rng.uniform(-2, 2, (3, 3))
    _compiled_matches_eager(_activations_loss, x, (t,), how)


def _products_loss(x, w, index):
    """einsum, tensordot, gather/scatter, addmm, diag, outer, repeat_interleave, bmm and div's rounding in one loss."""
    y = torch.einsum("ij,jk->ik", x, w) + torch.tensordot(x, w.t(), dims=([1], [1]))
    picked = torch.gather(y, 1, index)
    spread = torch.scatter_add(torch.zeros_like(x), 1, index, picked * 2.0)
    z = torch.addmm(spread, y, w.t(), beta=0.5, alpha=1.5) + torch.diag(torch.diag(x @ x.t())).sum()
    b = torch.bmm(torch.stack([x, x * 2]), torch.stack([w, w]))
    rounded = torch.div(z, 0.7, rounding_mode="trunc") + torch.div(z, 0.7, rounding_mode="floor")
    return ((z * z).sum() + torch.outer(x[0], w[:, 0]).sum() + x.repeat_interleave(2, dim=0).pow(2).sum()
            + torch.einsum("bij->", b ** 2) + torch.take_along_dim(y, index, dim=1).sum() + (rounded * z).sum())


@pytest.mark.parametrize("how", COMPOSITION_TIERS, ids=["executor", "interpreter"])
def test_products_and_index_functions_compile_to_eager_values(how):
    """The matrix-product and gather/scatter functions: compiled as eagerly, eager against finite differences."""
    rng = np.random.default_rng(7)
    x, w = rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 2))
    index = np.array([[1, 0], [1, 1], [0, 1]])
    eager_grad = _compiled_matches_eager(_products_loss, x, (w, index), how)
    fd = numeric_grad(lambda args: _products_loss(torch.tensor(args[0]), torch.tensor(w), torch.tensor(index)).item(),
                      [x], 0)
    np.testing.assert_allclose(eager_grad, fd, rtol=1e-5, atol=1e-6)


def _math_and_order_loss(x, t):
    """The inverse and hyperbolic functions, rounding, scans, products and sorting in one loss."""
    u = x * 0.4
    parts = [torch.asin(u), torch.acos(u), torch.atan(x), torch.sinh(x), torch.cosh(x), torch.asinh(x),
             torch.acosh(x.abs() + 1.5), torch.atanh(u), torch.log2(x.abs() + 0.5), torch.log10(x.abs() + 0.5),
             torch.exp2(x), torch.atan2(x, t), torch.hypot(x, t), torch.logaddexp(x, t), torch.fmod(x, 0.7),
             torch.xlogy(x, t.abs() + 0.1), torch.lerp(x, t, 0.3), torch.lerp(x, t, torch.sigmoid(t)),
             torch.addcmul(x, x, t, value=0.5), torch.addcdiv(x, x, t.abs() + 1.0, value=2.0), torch.frac(x * 3),
             torch.nan_to_num(torch.log(x)), x.cumsum(1), x.cumprod(0), x.sort(1).values, x.topk(2, dim=0).values,
             x.median(1).values, x.kthvalue(2, 1).values, torch.floor(x) * x, torch.round(x, decimals=1) * x]
    return sum((k + 1) * p.sum() for k, p in enumerate(parts)) + x.prod() + x.prod(1).sum() + x.median()


@pytest.mark.parametrize("how", COMPOSITION_TIERS, ids=["executor", "interpreter"])
def test_math_scans_and_sorting_compile_to_eager_values(how):
    """New elementwise functions, scans, products and sorting: compiled as eagerly, eager against differences."""
    rng = np.random.default_rng(8)
    x, t = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4))
    eager_grad = _compiled_matches_eager(_math_and_order_loss, x, (t,), how)
    fd = numeric_grad(lambda args: _math_and_order_loss(torch.tensor(args[0]), torch.tensor(t)).item(), [x], 0)
    np.testing.assert_allclose(eager_grad, fd, rtol=1e-5, atol=1e-5)


def _running_and_mode_loss(x, t):
    """cummax, cummin, aminmax, mode and the gamma family in one loss (ties broken as PyTorch does)."""
    lo, hi = x.aminmax(dim=0)
    parts = [x.cummax(1).values, x.cummin(0).values, (x * 2).round().mode(1).values * x[:, 0], lo * hi,
             torch.lgamma(x.abs() + 0.5), torch.digamma(x.abs() + 0.5), torch.polygamma(2, x.abs() + 0.5),
             torch.erfinv(x * 0.3), torch.mvlgamma(x.abs() + 2.0, p=3)]
    weights = t.sum(0)
    return sum((k + 1) * (p * weights[: p.shape[-1]]).sum() for k, p in enumerate(parts))


@pytest.mark.parametrize("how", COMPOSITION_TIERS, ids=["executor", "interpreter"])
def test_running_extremes_modes_and_gamma_functions_compile_to_eager_values(how):
    """The index-valued scans and the counting mode trace into int ops: compiled as eagerly, eager against
    finite differences (ties in the mode's input are exact: its values are rounded)."""
    rng = np.random.default_rng(9)
    x, t = rng.uniform(-2, 2, (3, 5)), rng.uniform(-1, 1, (3, 5))
    eager_grad = _compiled_matches_eager(_running_and_mode_loss, x, (t,), how)
    fd = numeric_grad(lambda args: _running_and_mode_loss(torch.tensor(args[0]), torch.tensor(t)).item(), [x], 0)
    np.testing.assert_allclose(eager_grad, fd, rtol=1e-5, atol=1e-5)
