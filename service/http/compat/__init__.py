"""Compatibility surfaces: other services' wire APIs (one module each) over the operations."""
