"""Paths, typed settings, the keyring, the log, and writing the user's files safely."""
