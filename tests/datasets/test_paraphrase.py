"""The paraphrase set: synthetic's conversation, questions in other words than their facts."""

from __future__ import annotations

import json

from convolab.datasets import load_locomo, synthetic, write_locomo_json
from convolab.datasets.paraphrase import PARAPHRASES, paraphrase, paraphrase_record
from convolab.datasets.synthetic_text import FACTS
from convolab.lexical import tokenize


def test_every_fact_kind_has_a_question_sharing_no_content_word_with_its_statements():
    assert set(PARAPHRASES) == {f.key for f in FACTS}
    for f in FACTS:
        asked = set(tokenize(PARAPHRASES[f.key].format(U="Maya")))
        said = set(tokenize(" ".join(t.format(v="X") for t in (f.state, f.update or ""))))
        assert asked & said <= {"maya"}, (f.key, asked & said)


def test_same_conversation_as_synthetic_other_questions_same_answers_and_evidence():
    p, s = paraphrase(200, seed=4), synthetic(200, seed=4)
    assert [(m.role, m.content) for m in p.conversation.messages] == [(m.role, m.content) for m in s.conversation.messages]
    assert p.sample_id == "paraphrase-200-seed4" and {q.category for q in p.qa} == {1, 2, 4}
    facts = {f.dia_ids[-1]: f.values[-1] for f in s.facts}
    single = [q for q in p.qa if q.category != 1]
    assert len(single) == len(s.facts)
    for q in single:
        assert q.answer == facts[q.evidence[0]] and q.question not in {x.question for x in s.qa}
    multi = [q for q in p.qa if q.category == 1]
    assert multi and all(len(q.evidence) == 2 and " and " in q.answer for q in multi)


def test_deterministic_and_round_trips_through_locomo_json(tmp_path):
    assert json.dumps(paraphrase_record(120, seed=2)) == json.dumps(paraphrase_record(120, seed=2))
    path = tmp_path / "paraphrase.json"
    write_locomo_json([paraphrase(120, seed=2)], path)
    back = load_locomo(path)[0]
    assert [(q.question, q.answer, q.category) for q in back.qa] == \
        [(q.question, q.answer, q.category) for q in paraphrase(120, seed=2).qa]
