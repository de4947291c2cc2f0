"""docbot: models."""
