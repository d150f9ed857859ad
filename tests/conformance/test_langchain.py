"""LangChain's Ollama and OpenAI integrations through the gateway: ``ChatOllama`` (invoke, stream,
tool calling, structured output), ``OllamaEmbeddings`` (which sends null options), ``OllamaLLM``,
``ChatOpenAI(max_tokens=…)`` (which sends ``max_completion_tokens``) and ``OpenAIEmbeddings``."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

from tests.conformance.conftest import EMBED_DIM, WEATHER_QUESTION

pytestmark = [
    pytest.mark.integration,
    # LangChain's models keep an httpx client each and never close it: the socket is found by the
    # garbage collector later, in whichever test runs then. That leak is LangChain's, not the gateway's.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


class Person(BaseModel):
    name: str
    age: int


def test_chat_ollama_invoke_counts_tokens_exactly(gateway):
    llm = ChatOllama(model="llama3.2", base_url=gateway.url, num_predict=12)
    msg = llm.invoke("Tell me about the sea.")
    assert msg.content and msg.usage_metadata["output_tokens"] == 12
    assert msg.response_metadata["done_reason"] == "length"


def test_chat_ollama_stream(gateway):
    llm = ChatOllama(model="llama3.2", base_url=gateway.url, num_predict=6)
    chunks = list(llm.stream("Hi"))
    assert len(chunks) > 1 and "".join(str(c.content) for c in chunks)
    total = chunks[0]
    for c in chunks[1:]:
        total += c
    assert total.usage_metadata["output_tokens"] == 6


def test_chat_ollama_tool_calling(gateway):
    llm = ChatOllama(model="llama3.2", base_url=gateway.url).bind_tools([get_weather])
    msg = llm.invoke(WEATHER_QUESTION)
    (call,) = msg.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}


def test_chat_ollama_structured_output(gateway):
    llm = ChatOllama(model="llama3.2", base_url=gateway.url).with_structured_output(Person)
    person = llm.invoke("Make up a person.")
    assert isinstance(person, Person) and isinstance(person.age, int)


def test_ollama_embeddings_with_its_null_options(gateway):
    emb = OllamaEmbeddings(model="nomic-embed-text", base_url=gateway.url)
    docs = emb.embed_documents(["one", "two", "three"])
    assert [len(v) for v in docs] == [EMBED_DIM] * 3
    assert emb.embed_query("one") == docs[0]


def test_ollama_llm_invoke(gateway):
    llm = OllamaLLM(model="llama3.2", base_url=gateway.url, num_predict=5)
    assert llm.invoke("Once upon a time").strip()


def test_chat_openai_max_tokens_is_obeyed(gateway):
    llm = ChatOpenAI(
        model="llama3.2", base_url=f"{gateway.url}/v1", api_key="ollama", max_tokens=20
    )
    msg = llm.invoke("Tell me about the sea.")
    assert msg.usage_metadata["output_tokens"] == 20
    assert msg.response_metadata["finish_reason"] == "length"


def test_chat_openai_tool_calling(gateway):
    llm = ChatOpenAI(model="llama3.2", base_url=f"{gateway.url}/v1", api_key="ollama")
    msg = llm.bind_tools([get_weather]).invoke(WEATHER_QUESTION)
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [("get_weather", {"city": "Paris"})]


def test_openai_embeddings(gateway):
    emb = OpenAIEmbeddings(
        model="nomic-embed-text",
        base_url=f"{gateway.url}/v1",
        api_key="ollama",
        check_embedding_ctx_length=False,
    )
    docs = emb.embed_documents(["one", "two"])
    assert [len(v) for v in docs] == [EMBED_DIM, EMBED_DIM]
    assert emb.embed_query("one") == pytest.approx(docs[0], abs=1e-6)
