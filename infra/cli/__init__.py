"""The `modelgate` command."""
