"""The command line's commands, one module each (see :mod:`transencoder.cli`)."""
