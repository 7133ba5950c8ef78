"""python -m oracle: the command line, for when the `oracle` script is not on PATH."""

from .cli import main

if __name__ == "__main__":
    main()
