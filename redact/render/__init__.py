"""Pass 2: turn decided tracks into per-frame regions and paint them out."""

from redact.render.regions import RegionPlanner
from redact.render.styles import Painter, Style, make_style

__all__ = ["Painter", "RegionPlanner", "Style", "make_style"]
