"""The ``distilhash`` command line: one Typer app, one module per stage."""
