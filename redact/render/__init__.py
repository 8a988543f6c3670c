"""Stage 3, render: decided tracks to per-frame regions, painted out, encoded with the audited soundtrack."""

from redact.render.regions import RegionPlanner
from redact.render.styles import Painter, Style, make_style
from redact.render.video import render

__all__ = ["Painter", "RegionPlanner", "Style", "make_style", "render"]
