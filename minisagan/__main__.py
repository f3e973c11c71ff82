import sys

from minisagan.infra.cli import main

sys.exit(main())
