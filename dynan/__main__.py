import sys

from dynan.cli import main

sys.exit(main())
