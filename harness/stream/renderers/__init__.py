"""Renderers: normalized events to a wire format."""
