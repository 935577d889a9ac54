"""LLM inference: generation costs, request traces and the continuous-batching serving simulator."""
