import sys

from orthweb.commands.cli import main

sys.exit(main())
