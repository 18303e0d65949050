"""`python -m streamchat` is the `streamchat` command."""

from streamchat.cli import main

main()
