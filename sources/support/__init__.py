"""Helpers the source connectors share: webhook signatures, fetching, CloudEvents, remote keys, safe XML, country names."""
