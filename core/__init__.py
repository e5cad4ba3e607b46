"""What the API and the workers share, torch-free: settings, job contracts and kinds, the job store, artifact
stores, the Redis launcher and the send-only queue client."""
