"""SOLLOL: one Ollama-compatible endpoint in front of a fleet of Ollama servers."""

from sollol.config import SOLLOLConfig, load_config
from sollol.embed import SOLLOL

__version__ = "0.1.0"

__all__ = ["SOLLOL", "SOLLOLConfig", "__version__", "load_config"]
