"""Briefcase's entry package: ``briefcase dev`` and installers run ``python -m dossier``."""
