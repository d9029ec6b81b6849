"""Provisioning and operating modelgate: the CLI, the local stack, seed data and the build."""
