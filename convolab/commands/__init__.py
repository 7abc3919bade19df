"""Command groups of the ``convolab`` command line, one module each."""
