"""What every command gets: the settings, where output goes."""

from __future__ import annotations

from dataclasses import dataclass

from chartkeeper.output import Output
from chartkeeper.settings import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    out: Output
