"""Small model-agnostic helpers shared by tools and tests."""
from .model_info import count_parameters, format_param_table, model_param_info

__all__ = ["count_parameters", "format_param_table", "model_param_info"]
