"""One module per page; each has ``routes()``."""
