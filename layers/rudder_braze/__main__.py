import sys

from rudder_braze.cli import main

sys.exit(main())
