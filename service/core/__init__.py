"""What every layer shares: settings, domain errors, metrics, logging."""
