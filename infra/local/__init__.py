"""Local engines: the embedded moto DynamoDB that `modelgate serve` uses, and AWS's DynamoDB Local."""
