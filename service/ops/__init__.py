"""Running the service: the command line, the production front, model fetching and the
random-weight demo models."""
