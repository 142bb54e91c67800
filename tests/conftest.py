import pytest
import torch

# the devices that exist here, as torchsort's tests list them: CUDA only where it is present
DEVICES = ["cpu"] + (
    [pytest.param("cuda", marks=pytest.mark.gpu)] if torch.cuda.is_available() else []
)


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device-aware test runs on CPU, and on CUDA when present."""
    return torch.device(request.param)


@pytest.fixture
def gen() -> torch.Generator:
    """A fresh seeded CPU generator per test, so no test depends on another's draws."""
    return torch.Generator().manual_seed(0)
