"""Shared test support: real event fixtures, a Lambda invoker, seeds and local engines."""
