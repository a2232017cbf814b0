"""The local web control panel (FastAPI) and its static page."""
