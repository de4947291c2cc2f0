"""docbot: bot."""
