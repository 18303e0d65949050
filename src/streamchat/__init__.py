"""streamchat: a streaming chat gateway for OpenAI-compatible LLM APIs."""

__version__ = "0.1.0"
