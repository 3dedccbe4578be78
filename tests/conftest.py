"""Test-session settings that must hold before anything imports Ray."""
import os

# Ray reads this once at import: local clusters and Train's torch.distributed stay on 127.0.0.1 (docs/DESIGN.md).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

# Needs the checkpoints `make demo` trains; the demo runs it with PAINT_DEMO_CHECKPOINTS set (test_design_demo.py).
collect_ignore = [] if os.environ.get("PAINT_DEMO_CHECKPOINTS") else ["test_design_demo.py"]


import pytest  # noqa: E402  (after the environment settings above)


@pytest.fixture(scope="session")
def design_runs(tmp_path_factory):
    """Tiny trained lgn/ tsn/ afn/ runs shared by the design tool's and the studio's tests (tests/design_runs.py)."""
    from tests.design_runs import train_design_runs

    return train_design_runs(tmp_path_factory.mktemp("design"))


@pytest.fixture(scope="session")
def studio(design_runs, tmp_path_factory):
    """A running paint-studio (real Ray Serve) on the tiny checkpoints: (base URL, its output folder)."""
    from tests.studio_server import running_studio

    root = tmp_path_factory.mktemp("studio")
    with running_studio(design_runs, root / "out", root / "studio.log") as url:
        yield url, root / "out"
