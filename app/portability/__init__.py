"""What leaves or comes back into the data folder: briefs, backups, and recovery of a damaged database."""
