"""The LLM extractor against the fake server with real providers' limits: wide templates in groups,
schema refusals, lenient replies, context-limited servers, honest usage, prompt caching."""
from __future__ import annotations

import pytest

from policy_reader.errors import LlmError
from policy_reader.extraction.answers import extract_document
from policy_reader.extraction.extractor import make_extractor
from policy_reader.llm.llm_extractor import LlmExtractor, load_json, price
from policy_reader.models import AnswerStatus, DocumentText, PageText, Variable, VariableType
from policy_reader.extraction.pipeline import DocumentTask, process_document
from policy_reader.llm.prompts import build_messages, build_schema
from policy_reader.llm.schema_groups import SchemaLimits, answer_tokens, measure, plan_groups
from tests.fake_openai import Quota, SchemaLimits as ServerLimits, _schema_problem

_TYPES = [VariableType.TEXT, VariableType.NUMBER, VariableType.YEAR, VariableType.BOOLEAN,
          VariableType.CATEGORY, VariableType.LIST, VariableType.DATE]


# Each question is about what its fact's sentence says, as real questions are: an answer is only
# accepted when its quote is about the question (grounding.py), not merely somewhere in the document.
_QUESTIONS = {
    VariableType.TEXT: "Which agency implements clause {i}?",
    VariableType.NUMBER: "What reduction (%) does clause {i} set?",
    VariableType.YEAR: "In which year was clause {i} adopted?",
    VariableType.BOOLEAN: "Does clause {i} apply to all regions?",
    VariableType.CATEGORY: "Which ministry leads clause {i}?",
    VariableType.LIST: "Which sectors does clause {i} cover?",
    VariableType.DATE: "When did clause {i} enter into force?",
}


def wide_template(count: int) -> tuple[list[Variable], dict[str, tuple[object, str]], DocumentText]:
    """`count` variables of every type, a fact planted for each on one of five pages."""
    variables, facts, pages = [], {}, {n: [] for n in range(1, 6)}
    for i in range(count):
        vtype = _TYPES[i % len(_TYPES)]
        name = f"item_{i:02d}_{vtype.value}"
        options: tuple[str, ...] = ()
        value: object
        if vtype is VariableType.TEXT:
            value, quote = f"Agency {i}", f"implemented by Agency {i} under clause {i}"
        elif vtype is VariableType.NUMBER:
            value, quote = str(10 + i), f"a reduction of {10 + i}% under clause {i}"
        elif vtype is VariableType.YEAR:
            value, quote = str(2000 + i), f"adopted in {2000 + i} under clause {i}"
        elif vtype is VariableType.BOOLEAN:
            value, quote = True, f"clause {i} applies to all regions"
        elif vtype is VariableType.CATEGORY:
            options = ("energy", "transport", "water")
            value, quote = options[i % 3], f"clause {i} is led by the {options[i % 3]} ministry"
        elif vtype is VariableType.LIST:
            options = ("energy", "transport", "water")
            value, quote = ["energy", "water"], f"clause {i} covers energy and water"
        else:
            value, quote = f"2019-03-{1 + i % 28:02d}", f"entered into force on 2019-03-{1 + i % 28:02d} (clause {i})"
        variables.append(Variable(name=name, question=_QUESTIONS[vtype].format(i=i), type=vtype, options=options))
        facts[name] = (value, quote)
        pages[1 + i % 5].append(quote + ".")
    doc_pages = [PageText(number=n, text=f"Section {n}. " + " ".join(lines)) for n, lines in pages.items()]
    return variables, facts, DocumentText(pages=doc_pages, page_count=5, sha256="1" * 64)


def _extractor(fake_openai, **overrides) -> LlmExtractor:
    extractor = make_extractor(fake_openai.settings(**overrides))
    assert isinstance(extractor, LlmExtractor)
    return extractor


def _expected(var: Variable, value: object) -> object:
    if var.type is VariableType.NUMBER:
        return float(value)
    if var.type is VariableType.YEAR:
        return int(value)
    return value


# --------------------------------------------------------------------------- templates of any width


def test_sixty_variable_template_against_azure_schema_limits(fake_openai):
    """Done when: a 60-variable template completes against a server that refuses schemas over 100
    properties, with the planted answers right."""
    variables, facts, doc = wide_template(60)
    fake_openai.facts = facts
    fake_openai.schema_limits = ServerLimits.azure()
    fake_openai.latency = 0.2
    out = extract_document(doc, variables, _extractor(fake_openai), threshold=0.8)

    assert [r.status for r in fake_openai.requests] == [200] * len(fake_openai.requests)
    assert len(fake_openai.requests) == 4  # 60 variables x 5 properties: four groups of 15
    assert sorted(len(r.variable_names) for r in fake_openai.requests) == [15, 15, 15, 15]
    assert fake_openai.max_in_flight >= 2  # the groups of one chunk are asked in parallel
    got = {a.name: a for a in out.answers}
    assert [a.name for a in out.answers] == [v.name for v in variables]
    for var in variables:
        answer = got[var.name]
        assert answer.status is AnswerStatus.ACCEPTED, (var.name, answer.note)
        assert answer.value == _expected(var, facts[var.name][0]), var.name
    assert out.complete and out.usage.calls == 4


def test_groups_fit_the_limits_and_stay_balanced():
    variables, _, _ = wide_template(60)
    groups = plan_groups(variables, SchemaLimits())
    assert [v for g in groups for v in g] == variables  # template order kept
    assert [len(g) for g in groups] == [15, 15, 15, 15]
    for group in groups:
        assert _schema_problem(build_schema(group), ServerLimits.azure()) == ""
        assert measure(build_schema(group)).properties <= 100
    # the reply's length caps a group too
    narrow = plan_groups(variables, SchemaLimits(max_properties=1000, max_output_tokens=1000))
    assert all(answer_tokens(g) <= 1000 for g in narrow) and len(narrow) >= 12


def test_provider_stricter_than_the_settings_is_asked_in_smaller_groups(fake_openai):
    """LLM_SCHEMA_MAX_PROPERTIES set for a laxer provider: the 400 "invalid schema" splits the group
    further, and later documents start from the size that worked."""
    variables, facts, doc = wide_template(30)
    fake_openai.facts = facts
    fake_openai.schema_limits = ServerLimits.azure()
    extractor = _extractor(fake_openai, LLM_SCHEMA_MAX_PROPERTIES=5000, LLM_MAX_OUTPUT_TOKENS=32000)
    out = extract_document(doc, variables, extractor, threshold=0.8)
    statuses = fake_openai.statuses()
    assert statuses[0] == 400 and statuses.count(200) >= 2
    assert "Invalid schema for response_format" in fake_openai.requests[0].error
    assert all(a.status is AnswerStatus.ACCEPTED for a in out.answers)
    assert out.usage.calls == statuses.count(200)

    fake_openai.reset()
    extract_document(doc, variables, extractor, threshold=0.8)  # the next document of the job
    assert fake_openai.statuses() == [200] * len(fake_openai.requests)


def test_a_variable_that_cannot_be_asked_is_reported_not_dropped(fake_openai):
    variables, facts, doc = wide_template(4)
    fake_openai.facts = facts
    bad = variables[1].name

    def refuse_one(req):
        if bad in req.variable_names:
            return {"status": 400, "body": {"error": {
                "message": f"Invalid schema for response_format 'policy_answers': property name '{bad}' is reserved.",
                "type": "invalid_request_error", "param": "response_format", "code": None}}}
        return fake_openai.careful_answer(req)

    fake_openai.responder = refuse_one
    out = extract_document(doc, variables, _extractor(fake_openai), threshold=0.8)
    got = {a.name: a for a in out.answers}
    assert got[bad].status is AnswerStatus.ERROR
    assert "could not be asked" in got[bad].note and "is reserved" in got[bad].note
    others = [got[v.name] for v in variables if v.name != bad]
    assert all(a.status is AnswerStatus.ACCEPTED for a in others)
    assert out.complete is False  # never cached as if complete


def test_options_over_the_enum_cap_are_asked_as_an_open_value(fake_openai):
    options = tuple(f"programme {i}" for i in range(600))
    var = Variable(name="programme", question="Which programme?", type=VariableType.CATEGORY, options=options)
    fake_openai.facts = {"programme": ("programme 417", "funded under programme 417")}
    fake_openai.schema_limits = ServerLimits.azure()
    doc = DocumentText(pages=[PageText(number=1, text="It is funded under programme 417.")], page_count=1,
                       sha256="2" * 64)
    out = extract_document(doc, [var], _extractor(fake_openai), threshold=0.8)
    assert fake_openai.statuses() == [200]
    assert out.answers[0].value == "programme 417" and out.answers[0].status is AnswerStatus.ACCEPTED


# --------------------------------------------------------------------------- what compatible servers send


def test_lenient_json_raw_newline_fences_and_prose():
    assert load_json('{"a": "line one\nline two"}') == {"a": "line one\nline two"}
    assert load_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert load_json('Here you are: {"a": {"b": 2}} Hope it helps.') == {"a": {"b": 2}}
    with pytest.raises(ValueError):
        load_json("no json here")


def test_a_raw_newline_inside_a_quote_does_not_fail_the_document(fake_openai):
    year = Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)
    page_text = "This policy was adopted\nby Cabinet in 2019."
    reply = ('{"answers": {"year_adopted": {"value": 2019, "evidence": "adopted\nby Cabinet in 2019", '
             '"page": 1, "confidence": 0.9}}}')
    fake_openai.responder = lambda req: {"content": reply}
    doc = DocumentText(pages=[PageText(number=1, text=page_text)], page_count=1, sha256="3" * 64)
    out = extract_document(doc, [year], _extractor(fake_openai), threshold=0.8)
    assert out.answers[0].value == 2019 and out.answers[0].status is AnswerStatus.ACCEPTED
    assert len(fake_openai.requests) == 1  # parsed the first time, not asked again


def test_context_limited_reply_says_what_can_help(fake_openai):
    """A local server whose context is the limit cuts the reply short: more output tokens cannot help."""
    variables, facts, doc = wide_template(1)
    fake_openai.facts = facts
    system, user = build_messages(variables, doc.pages)
    fake_openai.context_window = len(system["content"] + "\n" + user["content"]) // 4 + 20  # room for 20 tokens
    with pytest.raises(LlmError) as info:
        _extractor(fake_openai).answer(doc.pages, variables)
    message = str(info.value)
    assert info.value.code == "context" and "CHUNK_TOKENS" in message and "context" in message
    assert "cannot help" in message
    assert info.value.spent.calls == 1 and len(fake_openai.requests) == 1  # not asked again with more tokens


def test_tokens_of_failed_chunks_are_counted(fake_openai, tmp_path, make_pdf):
    filler = "Context paragraph about the policy. " * 100
    doc = DocumentText(pages=[PageText(number=n, text=filler) for n in (1, 2, 3)], page_count=3, sha256="4" * 64)
    year = Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)
    fake_openai.add_fault("invalid_json")
    fake_openai.add_fault("bad_shape")  # the first chunk fails twice; the two others answer
    out = extract_document(doc, [year], _extractor(fake_openai, CHUNK_TOKENS=1000), threshold=0.8,
                           parallel_chunks=1)
    assert out.complete is False
    assert out.usage.calls == 4 == len(fake_openai.requests)  # the two failed calls are billed too
    assert out.usage.prompt_tokens == sum(len(r.prompt_text) // 4 for r in fake_openai.requests)

    # a one-chunk document that fails still reports its tokens
    fake_openai.reset()
    fake_openai.add_fault("invalid_json")
    fake_openai.add_fault("invalid_json")
    pdf = make_pdf("one.pdf", ["Adopted by Cabinet in 2019."])
    settings = fake_openai.settings()
    result = process_document(DocumentTask(pdf, doc_id="d1", display_name="one.pdf", variables=[year],
                                           extractor=make_extractor(settings), settings=settings))
    assert result.status == "failed" and result.usage.calls == 2 and result.usage.prompt_tokens > 0


# --------------------------------------------------------------------------- prompt caching


def test_fixed_prefix_is_identical_across_documents_and_cached(fake_openai):
    """Providers cache identical prefixes of at least 1,024 tokens: the instructions and variables
    come first, identical for every document of a job, and are long enough to be cached."""
    variables, facts, doc_a = wide_template(6)
    doc_b = DocumentText(pages=[PageText(number=1, text="A different policy entirely.")], page_count=1,
                         sha256="5" * 64)
    fake_openai.facts = facts
    extractor = _extractor(fake_openai, PRICE_INPUT_PER_1M=1.0, PRICE_CACHED_INPUT_PER_1M=0.1)
    _, usage_a = extractor.answer(doc_a.pages, variables)
    _, usage_b = extractor.answer(doc_b.pages, variables)
    req_a, req_b = fake_openai.requests
    shared = 0
    for x, y in zip(req_a.prompt_text, req_b.prompt_text):
        if x != y:
            break
        shared += 1
    assert shared // 4 >= 1024  # the fixed part alone is past the providers' caching threshold
    assert usage_a.cached_prompt_tokens == 0
    assert usage_b.cached_prompt_tokens >= 1024 and usage_b.cached_prompt_tokens <= shared // 4
    uncached_cost = price(usage_b.model_copy(update={"cached_prompt_tokens": 0}), extractor.settings).cost_usd
    assert usage_b.cost_usd < uncached_cost  # cached tokens are priced lower
    assert price(usage_b, extractor.settings, batch=True).cost_usd == pytest.approx(usage_b.cost_usd * 0.5, abs=2e-6)


# --------------------------------------------------------------------------- quota


def test_waiting_for_quota_shows_in_the_progress(fake_openai):
    variables, facts, small = wide_template(3)
    filler = " Context paragraph about the policy." * 40
    doc = DocumentText(pages=[PageText(number=p.number, text=p.text + filler) for p in small.pages[:4]],
                       page_count=4, sha256="6" * 64)
    fake_openai.facts = facts
    fake_openai.quota = Quota(tokens_per_minute=150_000, window_s=1.0)  # 2,500 tokens a second: a call each
    stages: list[str] = []
    extractor = _extractor(fake_openai, CHUNK_TOKENS=500)
    out = extract_document(doc, variables, extractor, threshold=0.8, parallel_chunks=4,
                           progress=lambda stage, done, total: stages.append(stage))
    assert "waiting for quota" in stages and stages[-1] == "merging"
    assert all(a.status is AnswerStatus.ACCEPTED for a in out.answers)
    assert fake_openai.statuses().count(429) <= 2


def test_llama_cpp_context_refusal_shrinks_the_answer_limit_to_fit(fake_openai):
    """llama-cpp-python refuses prompt + max_tokens over its context (400): the answer limit is fitted
    to the room its error reports, and later calls are sized to fit from the start."""
    variables, facts, doc = wide_template(3)
    fake_openai.facts = facts
    fake_openai.dialect = "llama-cpp-python"
    system, user = build_messages(variables, doc.pages)
    fake_openai.context_window = len(system["content"] + "\n" + user["content"]) // 4 + 500  # < 650 asked
    extractor = _extractor(fake_openai, LLM_MAX_OUTPUT_TOKENS=4000)
    answers, _ = extractor.answer(doc.pages, variables)
    assert [a.value for a in answers] == [_expected(v, facts[v.name][0]) for v in variables]
    assert fake_openai.statuses() == [500, 400, 200]  # json_schema refused, then the context, then answered
    assert "maximum context length" in fake_openai.requests[1].error
    assert fake_openai.requests[2].max_tokens < fake_openai.requests[1].max_tokens
    fake_openai.reset()
    extractor.answer(doc.pages, variables)
    assert fake_openai.statuses() == [200]
