"""The HTTP face: FastAPI routes, OpenAI-shaped errors, caching headers and CORS."""
