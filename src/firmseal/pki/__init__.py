"""X.509 for code signing: a private CA, code-signing certificates, chains."""
