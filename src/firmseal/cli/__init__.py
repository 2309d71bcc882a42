"""The `firmseal` command line."""
