"""One router per topic; ``v1`` gathers the management routers behind the bearer token."""
