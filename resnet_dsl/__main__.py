"""`python -m resnet_dsl`, the same as the `resnet-dsl` command."""

import sys

from resnet_dsl.cli import main

sys.exit(main())
