"""Document formats: find the text of a file and write its translation back, formatting kept
(see `formats.py` for the contract). Pure: no models, no requests; `service.tasks` runs them."""
