"""cnn_course.pt.augment: the torch batch twins agree with cnn_course.ref.augment on the same decisions."""

import numpy as np
import pytest
import torch

from cnn_course import ref
from cnn_course.pt import augment as pa


@pytest.fixture
def batch(rng):
    return torch.tensor(rng.random((5, 3, 8, 6)), dtype=torch.float32)


def _hwc(t):
    """One image (C, H, W) tensor -> (H, W, C) array, the reference's layout."""
    return t.permute(1, 2, 0).numpy()


def test_mirror_matches_reference(batch):
    flip = torch.tensor([True, False, True, True, False])
    out = pa.mirror(batch, flip=flip)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    for n in range(len(batch)):
        expected = ref.hflip(_hwc(batch[n])) if flip[n] else _hwc(batch[n])
        np.testing.assert_array_equal(_hwc(out[n]), expected)
    np.testing.assert_array_equal(pa.mirror(pa.mirror(batch, flip=flip), flip=flip), batch)


def test_random_crop_matches_reference(batch):
    offsets = torch.tensor([[0, 0], [4, 4], [2, 1], [3, 0], [0, 3]])
    out = pa.random_crop(batch, (8, 6), pad=2, offsets=offsets)
    assert out.shape == (5, 3, 8, 6)
    for n in range(len(batch)):
        top, left = offsets[n].tolist()
        np.testing.assert_array_equal(_hwc(out[n]), ref.crop(_hwc(batch[n]), top, left, (8, 6), pad=2))
    small = pa.random_crop(batch, 4, offsets=torch.tensor([[1, 2]] * 5))
    np.testing.assert_array_equal(small, batch[:, :, 1:5, 2:6])


def test_color_shift_matches_reference(batch):
    shifts = torch.linspace(-0.3, 0.3, 15, dtype=torch.float64).view(5, 3)
    out = pa.color_shift(batch, 0.3, shifts=shifts)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    for n in range(len(batch)):
        np.testing.assert_allclose(_hwc(out[n]), ref.shift_color(_hwc(batch[n]), shifts[n].numpy()), atol=1e-6)


def test_drawn_decisions_are_seeded_and_per_image(batch):
    for fn, kwargs in [(pa.mirror, {}), (pa.random_crop, {"size": 6, "pad": 2}), (pa.color_shift, {"max_shift": 0.2})]:
        a = fn(batch, generator=torch.Generator().manual_seed(3), **kwargs)
        b = fn(batch, generator=torch.Generator().manual_seed(3), **kwargs)
        assert torch.equal(a, b), f"{fn.__name__}: same seed, different batches"
        c = fn(batch, generator=torch.Generator().manual_seed(4), **kwargs)
        assert not torch.equal(a, c), f"{fn.__name__}: ignores its generator"
    g = torch.Generator().manual_seed(0)
    big = torch.rand(400, 1, 3, 3, generator=g)
    flipped = (pa.mirror(big, generator=g) != big).flatten(1).any(1)
    assert 150 < int(flipped.sum()) < 250, "each image flips on its own with p = 0.5"
    # the documented draws
    flip = torch.rand(5, generator=torch.Generator().manual_seed(1)) < 0.5
    assert torch.equal(pa.mirror(batch, generator=torch.Generator().manual_seed(1)), pa.mirror(batch, flip=flip))
    g = torch.Generator().manual_seed(2)
    top, left = torch.randint(0, 5, (5,), generator=g), torch.randint(0, 5, (5,), generator=g)  # 12 - 8 + 1, 10 - 6 + 1
    assert torch.equal(pa.random_crop(batch, (8, 6), 2, generator=torch.Generator().manual_seed(2)),
                       pa.random_crop(batch, (8, 6), 2, offsets=torch.stack([top, left], 1)))


def test_ranges_and_inputs_untouched(batch):
    before = batch.clone()
    out = pa.color_shift(batch, 0.9, generator=torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    pa.mirror(batch, p=1.0)
    pa.random_crop(batch, 4, 1)
    assert torch.equal(batch, before)


def test_bad_inputs(batch):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 8, 6\)"):
        pa.mirror(batch[0])
    with pytest.raises(ValueError, match="torch tensor"):
        pa.mirror(batch.numpy())
    with pytest.raises(ValueError, match=r"flip must have shape \(N,\) = \(5,\)"):
        pa.mirror(batch, flip=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="probability"):
        pa.mirror(batch, p=2)
    with pytest.raises(ValueError, match=r"offsets\[1\].*outside.*top must be in \[0, 4\]"):
        pa.random_crop(batch, (8, 6), 2, offsets=torch.tensor([[0, 0], [5, 0], [0, 0], [0, 0], [0, 0]]))
    with pytest.raises(ValueError, match=r"size \(9, 9\).*8x6"):
        pa.random_crop(batch, 9)
    with pytest.raises(ValueError, match=r"shifts must have shape \(N, C\) = \(5, 3\)"):
        pa.color_shift(batch, 0.1, shifts=torch.zeros(5, 1))
    with pytest.raises(ValueError, match="max_shift"):
        pa.color_shift(batch, -0.1)
    with pytest.raises(ValueError, match="torch.Generator"):
        pa.mirror(batch, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="floating"):
        pa.mirror(batch.to(torch.uint8))
