"""Celery workers and the torch-free job contracts, job store and artifact store shared with the API."""
