import sys

from dossier.entry import main

sys.exit(main())
