"""`infra/dev bench`: the performance benchmark. Every figure is printed next to a baseline measured in the same run."""
