"""The service's own JSON API, `/v1`: request and response models and the routes."""
