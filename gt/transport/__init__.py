"""Messages between the client and a worker."""
