"""modelgate: the Lambda function that answers GET /v1/models for an OpenAI-compatible gateway."""
