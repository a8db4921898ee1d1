"""The command line: ``dossier COMMAND …``, a front end beside the window (:mod:`ui`)."""
