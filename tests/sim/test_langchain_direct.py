"""LangChain's Ollama and OpenAI integrations pointed straight at a simulated node: what they
send is what the simulator must accept, and what Ollama 0.32 answers is what they get."""

from __future__ import annotations

from collections.abc import Iterator

import pydantic
import pytest
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM
from langchain_openai import ChatOpenAI

from sollol.sim import SimFleet
from tests.sim.feature_fleet import feature_fleet

pytestmark = [
    # LangChain's models keep an httpx client each and never close it; the garbage collector
    # finds the open socket during some later test
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


class City(pydantic.BaseModel):
    name: str
    population: int = pydantic.Field(ge=0)


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "sunny"


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    yield from feature_fleet()


def test_chat_ollama_counts_tokens_and_calls_tools(url: str):
    llm = ChatOllama(model="llama3.2", base_url=url, num_predict=7)
    reply = llm.invoke("Hello")
    assert reply.content and reply.usage_metadata["output_tokens"] == 7
    call = (
        ChatOllama(model="llama3.2", base_url=url)
        .bind_tools([get_weather])
        .invoke("What is the weather in Paris?")
    )
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [("get_weather", {"city": "Paris"})]


# (not "json_mode": under format "json" with no schema the simulator answers some object, since
# it cannot read the instructions in the prompt)
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_chat_ollama_structured_output(url: str, method: str):
    llm = ChatOllama(model="llama3.2", base_url=url)
    city = llm.with_structured_output(City, method=method).invoke("A city, as JSON")
    assert isinstance(city, City) and city.population >= 0


def test_chat_ollama_reasoning_on_a_thinking_model(url: str):
    reply = ChatOllama(model="qwen3", base_url=url, reasoning=True, num_predict=10).invoke("Why?")
    assert reply.additional_kwargs["reasoning_content"] and reply.content


def test_ollama_embeddings_and_llm(url: str):
    # OllamaEmbeddings sends options whose unset values are null; Ollama skips them.
    vectors = OllamaEmbeddings(model="nomic-embed-text", base_url=url).embed_documents(["a", "b"])
    assert len(vectors) == 2 and len(vectors[0]) == 64
    assert OllamaLLM(model="llama3.2", base_url=url, num_predict=3).invoke("Once")


def test_chat_openai_max_tokens_is_not_obeyed_by_ollama_itself(url: str):
    # ChatOpenAI sends max_tokens as max_completion_tokens, which Ollama 0.32 does not read: a
    # node answers at full length (through SOLLOL the gateway translates it).
    llm = ChatOpenAI(model="llama3.2", base_url=url + "/v1", api_key="ollama", max_tokens=3, seed=5)
    assert llm.invoke("Tell me").usage_metadata["output_tokens"] != 3
    call = llm.bind_tools([get_weather]).invoke("Weather in Oslo?")
    assert call.tool_calls[0]["args"] == {"city": "Oslo"}
