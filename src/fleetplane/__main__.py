"""``python -m fleetplane target|seed ...``."""

from fleetplane.cli import main

if __name__ == "__main__":
    main()
