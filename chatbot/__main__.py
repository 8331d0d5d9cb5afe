"""``python -m chatbot`` is the same as the ``chatbot`` command."""

from chatbot.cli import main

main()
