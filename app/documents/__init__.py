"""Project documents: a client's files read into structured text and cut into chunks that know their page."""
