"""docbot: vectorstore."""
