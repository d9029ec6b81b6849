"""Adapters behind the core's Directory port: DynamoDB, and a TTL cache in front of it."""
