"""`python -m moto_ext -H HOST -p PORT`: moto_server with the patches (scripts/moto-server)."""

from moto_ext import main

main()
