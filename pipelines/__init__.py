"""KFP pipelines: graph modules only wire components and set display names."""
