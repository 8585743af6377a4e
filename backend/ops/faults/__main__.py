import sys

from backend.ops.faults.drill import main

sys.exit(main())
