"""Use cases: keys, certificates, profiles and signing jobs. Raises firmseal.errors only."""
