"""The FastAPI server starts: boot, health, OpenAPI routes, clean shutdown.
Runs uvicorn through runtime.app_server.
"""
