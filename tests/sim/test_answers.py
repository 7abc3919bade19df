"""The reader's answers: the type asked for, as a sentence, from the user's own words; dates
resolved against the day they were said; lists and multi-hop; "I don't know" rather than a guess;
never its own earlier replies quoted back."""

from __future__ import annotations

from typing import Any

import pytest

from convolab.sim.answers import DONT_KNOW
from convolab.sim.responder import respond


def reply_to(messages: list[dict[str, Any]], system: str | None = None) -> str:
    request: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 300, "messages": messages}
    if system:
        request["system"] = system
    return respond(request).blocks[0]["text"]


def talk(*texts: str) -> list[dict[str, Any]]:
    """Messages alternating user and assistant, from the user's first."""
    return [{"role": "user" if k % 2 == 0 else "assistant", "content": t} for k, t in enumerate(texts)]


def chat(*user_turns: str) -> list[str]:
    """The replies to ``user_turns``, each reply kept in the history, as in a live chat."""
    msgs: list[dict[str, Any]] = []
    replies = []
    for text in user_turns:
        msgs.append({"role": "user", "content": text})
        replies.append(reply_to(msgs))
        msgs.append({"role": "assistant", "content": replies[-1]})
    return replies


def test_the_issue_example_is_answered_with_the_span_not_an_echo():
    replies = chat("I'm Priya, the report must use metric units, our budget is 4,200 euros",
                   "What is our budget?", "What units must the report use?", "Who am I?")
    assert replies[1] == "Your budget is 4,200 euros."  # the group they speak for is theirs
    assert replies[2] == "The report must use metric units."
    assert replies[3] == "You're Priya."
    assert not any("Noted" in r for r in replies[1:])  # its own acknowledgement is never quoted back


def test_a_date_question_gets_a_statement_with_the_date():
    replies = chat("I'm Ada. I fly to Lisbon on 12 May and I'm vegetarian.", "When do I fly to Lisbon?",
                   "Am I vegetarian?")
    assert replies[1] == "You fly to Lisbon on 12 May."
    assert replies[2] == "Yes: you're vegetarian."


@pytest.mark.parametrize(("said", "question", "expected"), [
    ("I ran a charity race last Saturday.", "When did Caroline run a charity race?",
     "Caroline ran a charity race on 6 May 2023."),
    ("I went to a support group yesterday.", "When did Caroline go to a support group?",
     "Caroline went to a support group on 7 May 2023."),
    ("We're going camping next month.", "When is Caroline going camping?",
     "Caroline is going camping in June 2023."),
    ("I painted that lake sunrise last year.", "When did Caroline paint a sunrise?",
     "Caroline painted a sunrise in 2022."),
    ("I gave a talk at a school last week.", "When did Caroline give a talk at a school?",
     "Caroline gave a talk at a school the week before 8 May 2023."),
])
def test_relative_dates_are_resolved_against_the_day_of_their_message(said, question, expected):
    history = [{"role": "user", "content": f"[1:56 pm on 8 May, 2023]\nCaroline: {said}"},
               {"role": "assistant", "content": "Melanie: That sounds lovely."},
               {"role": "user", "content": question}]
    assert reply_to(history).startswith(expected)


def test_the_date_of_a_later_message_anchors_its_own_phrases():
    history = [{"role": "user", "content": "[1:56 pm on 8 May, 2023]\nCaroline: I started a pottery class."},
               {"role": "assistant", "content": "Melanie: Nice!"},
               {"role": "user", "content": "[10:00 am on 25 May, 2023]\nCaroline: I finished my first bowl yesterday."},
               {"role": "assistant", "content": "Melanie: Wonderful."},
               {"role": "user", "content": "When did Caroline finish her first bowl?"}]
    assert reply_to(history).startswith("Caroline finished her first bowl on 24 May 2023.")


def test_each_answer_type_gets_its_span():
    history = talk(
        "Caroline: My brother Tom lives in Porto. We have two cats. "
                                    "I have worked at the library for 6 years.",
        "Melanie: Lovely! It was Matt Patterson who sang at my party.",
        "Caroline: I read \"Becoming Nicole\" because a friend recommended it.",
        "Melanie: Good choice.",
    )
    ask = lambda q: reply_to([*history, {"role": "user", "content": q}])  # noqa: E731
    assert ask("Where does Caroline's brother live?") == "Caroline's brother Tom lives in Porto."
    assert ask("How many cats does Caroline have?") == "Caroline said they have two cats."
    assert ask("How long has Caroline worked at the library?").startswith(
        "Caroline has worked at the library for 6 years.")
    assert ask("Who sang at Melanie's party?") == "It was Matt Patterson who sang at Melanie's party."
    assert ask("What book did Caroline read?").startswith('Caroline read "Becoming Nicole".')
    assert "a friend recommended it" in ask("Why did Caroline read Becoming Nicole?")


def test_a_list_question_gathers_items_from_several_messages():
    history = talk(
        "Caroline: I went camping at the beach in June.",
        "Melanie: Fun!",
        "Caroline: Also camped in the mountains last summer, and in the forest once.",
        "Melanie: You love the outdoors.",
        "Caroline: The weather was cold today.",
        "Melanie: Stay warm.",
        "Where has Caroline camped?",
    )
    reply = reply_to(history)
    for place in ("beach", "mountains", "forest"):
        assert place in reply
    assert "weather" not in reply


def test_two_sentences_sharing_an_entity_answer_together():
    history = talk(
        "Caroline: I moved here from my home country four years ago.",
        "Melanie: Big change!",
        "Caroline: My grandma sent this necklace from my home country, Sweden.",
        "Melanie: Say hi to her.",
        "Where did Caroline move from?",
    )
    reply = reply_to(history)
    assert reply.startswith("Caroline moved from Sweden."), reply
    assert "four years ago" in reply and "necklace" in reply  # both sentences it rests on


def test_the_users_words_outrank_the_assistants_and_a_question_about_someone_else_is_declined():
    history = talk(
        "Caroline: I adopted a dog named Rex last week.",
        "Melanie: I adopted a cat named Luna too.",
        "Caroline: Rex loves the park.",
        "Melanie: Luna hates it.",
    )
    ask = lambda q: reply_to([*history, {"role": "user", "content": q}])  # noqa: E731
    assert "Rex" in ask("What did Caroline adopt?") and "Luna" not in ask("What did Caroline adopt?")
    assert "Luna" in ask("What did Melanie adopt?")
    assert ask("What did Melanie name her parrot?") == DONT_KNOW


def test_nothing_relevant_means_i_dont_know():
    replies = chat("I'm Ada and I like sailing.", "What colour is my car?", "When is my dentist appointment?")
    assert replies[1:] == [DONT_KNOW, DONT_KNOW]


def test_replies_are_sentences_without_role_labels():
    history = [{"role": "user", "content": "[1:56 pm on 8 May, 2023]\nCaroline: I went to a LGBTQ support group "
                                            "yesterday and it was so powerful."},
               {"role": "assistant", "content": "Melanie: Wow, that's cool!"},
               {"role": "user", "content": "What did Caroline think of the support group?"}]
    reply = reply_to(history)
    assert "Caroline:" not in reply and "Melanie:" not in reply
    assert reply.endswith(".") and reply[0].isupper()
    assert "Caroline went to a LGBTQ support group yesterday (7 May 2023)" in reply


ELENA = talk(
    "[1 March 2024] Elena: We have 35 beta testers signed up so far. My manager on this project is Marcus Lee. "
    "Our new puppy is called Juniper. My birthday is on 3 October, in case you want to remember it.",
    "[1 March 2024] Sage: It's normal for a backlog to grow before it shrinks.",
    "[2 April 2024] Elena: The team offsite is going to be at Lakeside Lodge. On weekends I mostly go sailing.",
    "[2 April 2024] Sage: Sounds good.",
    "[9 April 2024] Elena: Small correction: we're up to 75 beta testers now. My manager is now Helen Ortiz. "
    "Actually, we moved the offsite to Harbour House.",
    "[9 April 2024] Sage: Thanks for the update.",
)


def ask_elena(question: str) -> str:
    return reply_to([*ELENA, {"role": "user", "content": question}])


def test_a_question_joined_by_and_gets_each_part_answered():
    said = ask_elena("When is Elena's birthday, and what is the name of Elena's puppy?")
    assert said.startswith("Elena's birthday is on 3 October")
    assert "Juniper" in said and "and what" not in said


def test_a_part_nothing_says_is_declined_by_itself():
    said = ask_elena("Who is Elena's manager on the project, and where did Elena grow up?")
    assert "Helen Ortiz" in said
    assert said.endswith("As for \"Where did Elena grow up?\", that isn't mentioned in our conversation.")


@pytest.mark.parametrize(("question", "newest", "oldest"), [
    ("How many beta testers has Elena's project signed up?", "75", "35"),
    ("Who is Elena's manager on the project?", "Helen Ortiz", "Marcus Lee"),
    ("Where will Elena's team offsite be held?", "Harbour House", "Lakeside Lodge"),
])
def test_the_newest_statement_of_a_changing_value_wins(question, newest, oldest):
    said = ask_elena(question)
    assert newest in said and oldest not in said


def test_a_value_said_to_change_replaces_the_old_one_in_a_live_chat():
    replies = chat("I'm Priya, the report must use metric units, our budget is 4,200 euros.",
                   "Actually the budget is now 5,000 euros.", "What is our budget?",
                   "How much is our budget and when is the launch?")
    assert replies[2] == "The budget is now 5,000 euros."  # the newest value alone, without "Actually"
    assert replies[3].startswith("The budget is now 5,000 euros.") and "4,200" not in replies[3]
    assert replies[3].endswith('As for "When is the launch?", that isn\'t mentioned in our conversation.')


def test_an_age_nobody_gave_is_not_guessed_and_a_sentence_is_said_once():
    replies = chat("My daughter Lena starts school on 1 September.", "She loves drawing and swimming.",
                   "How old is Lena?", "My son Max is 9 years old.", "How old is Max?")
    assert replies[2] == DONT_KNOW
    assert "9" in replies[4] and "Lena" not in replies[4]


def test_a_person_asking_for_a_summary_in_a_chat_hears_what_they_said():
    replies = chat("My daughter Lena starts school on 1 September.", "She loves drawing and swimming.",
                   "Thanks!", "Summarize what I told you.")
    assert replies[2] == "You're welcome."
    assert replies[3] == ("Here's what you've told me: your daughter Lena starts school on 1 September, "
                          "and she loves drawing and swimming.")


def test_a_count_is_said_as_a_sentence_with_its_noun():
    said = ask_elena("How many beta testers has Elena's project signed up?")
    assert said.startswith("Elena's project has signed up 75 beta testers.")


def test_a_typed_question_whose_evidence_has_no_such_span_is_declined():
    assert ask_elena("Where did Sage grow up?") == DONT_KNOW  # "a backlog grows" holds no place


def test_a_guess_with_nothing_of_its_kind_to_go_on_is_declined():
    assert ask_elena("Which activity would Elena most likely suggest for a team outing?") == DONT_KNOW


@pytest.mark.parametrize(("verb", "past"), [("ship", "shipped"), ("plan", "planned"), ("visit", "visited"),
                                           ("fix", "fixed"), ("play", "played"), ("prefer", "preferred"),
                                           ("rain", "rained"), ("quit", "quit")])
def test_past_tense_doubles_a_final_consonant_only_where_english_does(verb, past):
    from convolab.sim.statements import past as past_of
    assert past_of(verb) == past


PETS = talk(
    "[3 June 2023] Caroline: What's the funniest thing Oliver has done?",
    "[3 June 2023] Melanie: He hid his bone in my slipper once!",
    "[3 June 2023] Caroline: Ha! Oscar, my guinea pig, is much calmer.",
)


def test_a_place_said_as_whose_thing_it_is_answers_where():
    said = reply_to([*PETS, {"role": "user", "content": "Where did Oliver hide his bone once?"}])
    assert said.startswith("Oliver hid his bone once in Melanie's slipper.")


def test_a_question_about_someone_the_evidence_does_not_name_is_declined():
    assert reply_to([*PETS, {"role": "user", "content": "Where did Oscar hide his bone once?"}]) == DONT_KNOW


def test_a_nickname_of_a_speaker_is_not_someone_else():
    history = talk("[3 June 2023] Melanie: My husband and I have been married for 5 years now.", "[3 June 2023] Caroline: Wow!")
    said = reply_to([*history, {"role": "user", "content": "How long have Mel and her husband been married?"}])
    assert "5 years" in said


def test_framing_lines_around_quoted_excerpts_are_not_quoted_back():
    quoted = ("[Excerpts from earlier in our conversation, retrieved for my message below]\n\n"
              "[8 May, 2023 1:56 pm]\nMelanie: I went camping at the beach yesterday.\n[End of excerpts. My message:]")
    said = reply_to([{"role": "user", "content": [{"type": "text", "text": quoted},
                                                  {"type": "text", "text": "What did Melanie do at the beach?"}]}])
    assert "Excerpts" not in said and "End of" not in said and "camping" in said


@pytest.mark.parametrize(("question", "kind", "span", "expected"), [
    ("How long has Caroline had her current group of friends for?", "duration", "4 years",
     "Caroline has had her current group of friends for 4 years."),
    ("When is Caroline's youth center putting on a talent show?", "date", "September 2023",
     "Caroline's youth center is putting on a talent show in September 2023."),
    ("Where will Elena's team offsite be held?", "place", "to Harbour House",
     "Elena's team offsite will be held at Harbour House."),
])
def test_statements_keep_the_subject_whole_and_say_each_word_once(question, kind, span, expected):
    from convolab.sim.questions import AnswerType
    from convolab.sim.statements import statement
    assert statement(question, AnswerType(kind), span) == expected
