"""Inference: devices, the model registry, the model wrapper, batching, the output cache and the
engine.

Below `service.tasks`; the only layer that touches torch and transformers. Imports nothing of
Flask or of the HTTP layer.
"""
