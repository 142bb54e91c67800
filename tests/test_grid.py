import torch
from jobs import seeded_run

from divlib.train.grid import run_grid, visible_devices

JOBS = [("ddt", 0.3, 1), ("ddt", 0.7, 2), ("mdr", 0.5, 3), ("ddt-adaptive", 0.5, 4)]


def test_grid_over_two_cpu_workers_equals_the_serial_grid():
    serial = run_grid(seeded_run, JOBS, [torch.device("cpu")])
    parallel = run_grid(seeded_run, JOBS, [torch.device("cpu")] * 2)
    assert len(parallel) == len(JOBS)
    for one, other in zip(serial, parallel, strict=True):
        assert one["epochs"] == other["epochs"]
        for name, value in one["state"].items():
            assert torch.equal(value, other["state"][name])
    assert serial[0]["epochs"] != serial[1]["epochs"]  # the jobs really differ


def test_visible_devices_falls_back_to_cpu_slots():
    devices = visible_devices(cpu_workers=3)
    if not torch.cuda.is_available():
        assert devices == [torch.device("cpu")] * 3
    else:
        assert [d.index for d in devices] == list(range(torch.cuda.device_count()))
