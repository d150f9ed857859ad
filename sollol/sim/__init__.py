"""A fleet of simulated Ollama nodes: real HTTP servers speaking Ollama's API, for tests and benchmarks."""

from sollol.sim.profile import FleetProfile, ModelSpec, NodeSpec, ProfileError, load_profile, parse_profile

__all__ = ["FleetProfile", "ModelSpec", "NodeSpec", "ProfileError", "load_profile", "parse_profile"]
