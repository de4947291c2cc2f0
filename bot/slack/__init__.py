"""docbot's Slack front end: Socket Mode app, listeners, rendering and the runner."""
