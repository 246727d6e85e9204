"""``python -m api``: serve the API with uvicorn on ``API_PORT`` (default 8000)."""

from api.app import main

main()
