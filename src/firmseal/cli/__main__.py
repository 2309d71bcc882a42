"""`python -m firmseal.cli` runs the command line, as the `firmseal` script does."""

from firmseal.cli.main import main

main()
