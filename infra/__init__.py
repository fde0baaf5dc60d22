"""Kafka and process plumbing under the connectors: broker, readers, reference store, schema registry, health server, OAuth tokens. Imports `domain` only."""
