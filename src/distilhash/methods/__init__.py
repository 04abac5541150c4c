"""Retrieval methods (baselines, DCMQ, LCDH, SODA), created by name from a registry."""
