"""`python -m fmnist.lesson [DIR]`: the tutorial's two models trained on the prepared data
(DIR, data/prepared by default), one line per epoch (fmnist.lesson.tutorial)."""

import sys

from .tutorial import main

sys.exit(main(sys.argv[1:]))
