"""`python -m indexer`."""

from indexer.cli import main

if __name__ == "__main__":
    main()
