import sys

from rudder_braze.app.cli import main

sys.exit(main())
