"""``python -m devstack``: run the whole local stack until Ctrl-C."""

from devstack.supervisor import main

main()
