from __future__ import annotations

import sys
from pathlib import Path

# Spawned ranks import the worker functions from these test modules and the harness.
sys.path.insert(0, str(Path(__file__).parent))
