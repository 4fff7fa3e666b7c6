"""Teacher annotation at scale: engines, self-consistency, shards and their merge."""
