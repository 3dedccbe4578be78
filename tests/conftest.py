"""Test-session settings that must hold before anything imports Ray."""
import os

# Ray reads this once at import: local clusters and Train's torch.distributed stay on 127.0.0.1 (docs/DESIGN.md).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

# Needs the checkpoints `make demo` trains; the demo runs it with PAINT_DEMO_CHECKPOINTS set (test_design_demo.py).
collect_ignore = [] if os.environ.get("PAINT_DEMO_CHECKPOINTS") else ["test_design_demo.py"]
