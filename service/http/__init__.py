"""The HTTP layer: the Flask app factory, the `/v1` API, schemas, OpenAPI and error mapping.

Above `service.tasks`; the only layer that imports Flask.
"""
