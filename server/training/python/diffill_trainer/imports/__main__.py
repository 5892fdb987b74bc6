"""`python -m diffill_trainer.imports ...`: see convert.py."""
import sys

from .convert import main

sys.exit(main())
