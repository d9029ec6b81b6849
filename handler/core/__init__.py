"""The pure core: who is calling, which models they see, and what bytes go back. No AWS in here."""
