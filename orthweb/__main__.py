import sys

from orthweb.cli import main

sys.exit(main())
