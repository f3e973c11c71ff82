import sys

from minisagan.run.cli import main

sys.exit(main())
