"""How events get in: the webhook gateway (and its HTTP server) and the pollers."""
