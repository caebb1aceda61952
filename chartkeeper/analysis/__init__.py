"""Upgrade analysis: what an upgrade from OLD to NEW breaks, changes silently, or needs by hand."""
