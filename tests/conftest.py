import pytest
import torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device-aware test runs on CPU, and on CUDA when present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    return torch.device(request.param)


@pytest.fixture
def gen() -> torch.Generator:
    """A fresh seeded CPU generator per test, so no test depends on another's draws."""
    return torch.Generator().manual_seed(0)
