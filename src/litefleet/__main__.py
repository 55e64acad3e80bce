"""`python -m litefleet` = the `litefleet` command."""

from litefleet.cli import main

main()
