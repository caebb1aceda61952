"""The demo repository server (`scripts/demo_server.py`), loaded from its file: it is not part of the installed package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "demo_server.py"
_spec = importlib.util.spec_from_file_location("chartkeeper_demo_server", _PATH)
assert _spec and _spec.loader
_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _module
_spec.loader.exec_module(_module)

build_repository = _module.build_repository
serve = _module.serve
