"""The words the synthetic generator draws from: names, projects, filler, facts, tools.

Plain data, kept apart from the generator's logic. Filler never contains a digit or a
value from a fact's pool, so a planted fact is only ever stated where it was planted.
In templates, ``{U}`` is the user's name and ``{A}`` the assistant's.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_NAMES = ("Maya", "Tom", "Priya", "Lukas", "Aiko", "Omar", "Elena", "Jonas")
ASSISTANT_NAMES = ("Ari", "Quinn", "Robin", "Sage", "Kit")
TEAMMATES = ("Bea", "Ravi", "Jo", "Mats", "Yusuf", "Carla")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
TOOLS_USED = ("the issue tracker", "the shared spreadsheet", "our wiki", "the team board")
COUNTS = ("two", "three", "four", "a few", "half a dozen")

PROJECTS = (
    ("the climbing gym booking app", ("the booking calendar", "the membership page", "the waiver form",
                                      "the push notifications", "the staff dashboard")),
    ("the community garden website", ("the plot waiting list", "the volunteer rota", "the harvest log",
                                      "the events page", "the member sign-up form")),
    ("the bakery's ordering app", ("the checkout flow", "the pre-order calendar", "the allergen labels",
                                   "the loyalty card", "the pickup reminders")),
    ("the museum audio guide", ("the floor map", "the offline mode", "the transcript view",
                                "the language picker", "the tour playlists")),
)

USER_FILLER = (
    "I spent most of the morning untangling {feature}, and it finally behaves the way I want.",
    "{teammate} and I paired on {feature}, which went better than expected.",
    "The review of {feature} keeps slipping because everyone is busy with other things.",
    "I'm trying to decide whether {feature} should ship now or wait for the next round.",
    "We had a long call about {project} and mostly agreed on the next steps.",
    "Honestly, the hardest part of {project} so far has been keeping the scope small.",
    "I wrote {count} pages of notes on {feature} and still feel like I'm missing something.",
    "{teammate} thinks we should rewrite {feature} from scratch, but I'm not convinced.",
    "The staging build broke again on {day}, so I lost a couple of hours to that.",
    "I keep a running list of small bugs, and it's getting longer rather than shorter.",
    "Our users keep asking about {feature}, which is a good sign, I suppose.",
    "I moved all the open tasks into {tool} so nothing gets lost this time.",
    "It was a quiet week otherwise, mostly emails and a few short meetings.",
    "I'd love a second opinion on how to structure {feature} before I commit to it.",
    "We demoed {feature} to {teammate}'s group and got some useful feedback.",
    "The copy on {feature} still reads a bit stiff to me.",
    "I'm planning to block out {day} morning just for deep work on {project}.",
    "Testing {feature} on an old phone showed {count} layout problems I hadn't noticed.",
    "I'm a bit tired today, so I'll keep this short.",
    "We finally cleaned up the backlog in {tool}, which felt great.",
    "Do you think it's worth writing proper documentation for {feature} this early?",
    "{teammate} is out until {day}, so a few decisions will have to wait.",
    "The feedback from the last round of interviews was mixed but encouraging.",
    "I sketched {count} versions of {feature} and I like the simplest one best.",
    "Part of me wants to add more features, but the sensible part says polish what we have.",
    "We agreed to keep meetings under half an hour, and so far it's working.",
    "I rewrote the onboarding checklist for {project} so new people can start faster.",
    "There's a small performance issue in {feature} that only shows up with lots of data.",
    "{teammate} found an edge case in {feature} that none of us had thought about.",
    "I'm not sure the current naming in {feature} will make sense to new users.",
)

ASSISTANT_FILLER = (
    "That sounds like solid progress on {feature}.",
    "Keeping the scope small is usually the right call at this stage of {project}.",
    "One option is to ship a minimal version of {feature} first and learn from real use.",
    "It might help to write down what done looks like for {feature} before going further.",
    "A short checklist in {tool} could keep those decisions from getting lost.",
    "If {teammate} feels strongly about a rewrite, a quick spike could settle it without much risk.",
    "Old devices are a great test; layout problems there usually show up elsewhere later.",
    "Blocking out focused time is one of the most effective habits for a project like this.",
    "Mixed feedback is still useful, especially if you look for patterns across interviews.",
    "Simple versions tend to age better, so I'd lean toward the one you like best.",
    "A little documentation now can save a lot of questions later, even if it's rough.",
    "Performance issues that only appear with lots of data are worth a quick benchmark.",
    "Would it help to list the open questions so they're ready when {teammate} is back?",
    "It sounds like the team is finding a good rhythm.",
    "Polishing what you have is rarely wasted effort, especially before a wider release.",
    "I'd be happy to go through the structure of {feature} with you step by step.",
    "Breaking {feature} into smaller pieces might make the review easier to schedule.",
    "A flaky staging build is worth fixing early; it quietly costs hours every week.",
    "Short meetings work best when each one ends with a clear owner for every task.",
    "Good onboarding notes pay off the first time someone new joins {project}.",
    "Take it easy today; the work will still be there tomorrow.",
    "It's normal for a backlog to grow before it shrinks, as long as it's triaged.",
    "If users keep asking about {feature}, that's a strong signal about priorities.",
    "You could ask {teammate} to read the copy with fresh eyes.",
    "Edge cases like that are much cheaper to find now than after launch.",
    "Clear names matter more than clever ones, especially for new users.",
)

ACKNOWLEDGEMENTS = ("Good to know, thanks for telling me.", "Noted, I'll keep that in mind.",
                    "Thanks, that's helpful context.", "Got it, thanks.", "That's useful to know.")
OPENERS = ("Hi {A}!", "Morning, {A}.", "Hey, it's me again.", "Hello again!",
           "Hi, quick check-in on {project}.")
SECOND_THOUGHTS = ("Oh, and one more thing:", "Also, I forgot to mention:", "One more thought:")
FACT_LEADS = ("By the way,", "Unrelated, but", "Before I forget,", "Oh, and")
UPDATE_LEADS = ("Actually,", "Quick update:", "Small correction to what I said before:")


@dataclass(frozen=True)
class FactSpec:
    """A kind of fact to plant: how it is stated, updated and asked about.

    ``pool`` holds candidate values (a launch date's pool is filled in by the generator);
    when ``grows``, the pool is in increasing order and an update picks a larger value.
    ``ask`` is the single-hop question; ``adversarial`` asks about the assistant instead
    (a false premise); ``infer`` is an inference question and its answer template.
    """

    key: str
    kind: str
    pool: tuple[str, ...]
    state: str
    ask: str
    update: str | None = None
    adversarial: str | None = None
    infer: tuple[str, str] | None = None
    grows: bool = False


FACTS = (
    FactSpec("puppy", "name", ("Biscuit", "Pepper", "Juniper", "Waffles", "Nori", "Mochi"),
             "our new puppy is called {v}, and she has already chewed through a charging cable.",
             "What is the name of {U}'s puppy?", adversarial="What is the name of {A}'s puppy?"),
    FactSpec("manager", "name", ("Helen Ortiz", "Marcus Lee", "Ingrid Novak", "Daniel Okafor", "Rosa Martins"),
             "my manager on this project is {v}, so anything over budget goes through them.",
             "Who is {U}'s manager on the project?",
             update="my manager is now {v}, since the previous one moved to another team."),
    FactSpec("sister", "name", ("Lena", "Clara", "Sofia", "Hannah", "Amara", "Ines"),
             "my sister {v} is coming to stay with me for a couple of weeks.",
             "What is the name of {U}'s sister?", adversarial="What is the name of {A}'s sister?"),
    FactSpec("designer", "name", ("Felix Brandt", "Noor Haddad", "Grace Kim", "Tomas Ruiz"),
             "the new logo was designed by {v}, a freelancer a friend recommended.",
             "Who designed the new logo for {U}'s project?"),
    FactSpec("codename", "name", ("Heron", "Lantern", "Quartz", "Tidepool", "Bramble"),
             "the project's code name is {v}, at least until marketing comes up with something better.",
             "What is the code name of {U}'s project?",
             update="we renamed the project to {v}, because legal didn't like the old code name."),
    FactSpec("budget", "number", ("$8,500", "$12,000", "$15,500", "$18,000", "$22,500", "$30,000"),
             "the budget that got approved for the first phase is {v}.",
             "What is the budget for the first phase of {U}'s project?",
             update="my budget changed to {v} after the finance review."),
    FactSpec("team_size", "number", ("4", "5", "6", "7", "9", "11"),
             "there are {v} people on the team right now, counting me.",
             "How many people are on {U}'s team?",
             update="with the new hires, the team is {v} people now.", grows=True),
    FactSpec("testers", "number", ("35", "48", "60", "75", "120", "150"),
             "we have {v} beta testers signed up so far.",
             "How many beta testers has {U}'s project signed up?",
             update="we're up to {v} beta testers now.", grows=True),
    FactSpec("commute", "number", ("15 minutes", "25 minutes", "40 minutes", "55 minutes"),
             "my commute is {v} each way, which is where most of my reading happens.",
             "How long is {U}'s commute?", adversarial="How long is {A}'s commute?"),
    FactSpec("launch", "date", (),
             "we're aiming to launch on {v}.",
             "When is {U}'s project scheduled to launch?",
             update="the launch slipped, and the new launch date is {v}."),
    FactSpec("birthday", "date", ("3 October", "17 April", "29 July", "11 February", "6 December"),
             "my birthday is on {v}, in case you want to remember it.",
             "When is {U}'s birthday?"),
    FactSpec("office", "place", ("Lisbon", "Rotterdam", "Porto", "Leeds", "Tartu", "Ghent"),
             "our office is in {v}, just a short walk from the station.",
             "In which city is {U}'s office?",
             update="we moved the office to {v}, so my mornings look very different."),
    FactSpec("hometown", "place", ("Cork", "Tampere", "Brno", "Bergen", "Dunedin", "Halifax"),
             "I grew up in {v}, so I'm used to rain.",
             "Where did {U} grow up?", adversarial="Where did {A} grow up?"),
    FactSpec("offsite", "place", ("Lakeside Lodge", "the Old Mill", "Harbour House", "Pine Ridge Camp"),
             "the team offsite is going to be at {v}.",
             "Where will {U}'s team offsite be held?",
             update="we moved the offsite to {v}, because the first venue double-booked us."),
    FactSpec("language", "preference", ("Rust", "Elixir", "Kotlin", "OCaml", "Haskell"),
             "my favourite programming language is {v}, by a mile.",
             "What is {U}'s favourite programming language?",
             infer=("Which language would {U} most likely pick for a weekend side project?", "{v}")),
    FactSpec("drink", "preference", ("an oat flat white", "black filter coffee", "a double espresso",
                                     "green tea", "a cortado"),
             "I drink {v} every morning, no exceptions.",
             "What does {U} drink every morning?", adversarial="What does {A} drink every morning?",
             infer=("What should the team order for {U} on a coffee run?", "{v}")),
    FactSpec("allergy", "preference", ("peanuts", "shellfish", "sesame", "walnuts"),
             "I'm allergic to {v}, so please keep that in mind for team lunches.",
             "What is {U} allergic to?", adversarial="What is {A} allergic to?",
             infer=("Should the team pick a dish with {v} for {U}'s farewell lunch?",
                    "No, {U} is allergic to {v}")),
    FactSpec("hobby", "preference", ("bouldering", "sailing", "birdwatching", "trail running", "kayaking"),
             "on weekends I mostly go {v} to clear my head.",
             "What does {U} usually do on weekends?", adversarial="What does {A} usually do on weekends?",
             infer=("Which activity would {U} most likely suggest for a team outing?", "{v}")),
    FactSpec("music", "preference", ("jazz", "synthwave", "baroque music", "lo-fi hip hop"),
             "I've been listening to a lot of {v} while coding.",
             "What kind of music does {U} listen to while coding?"),
    FactSpec("lease", "event", (), "I signed the lease for our new studio today.",
             "When did {U} sign the lease for the new studio?"),
    FactSpec("beta", "event", (), "we shipped the beta to our first customers today!",
             "When did {U}'s team ship the beta?"),
    FactSpec("meetup", "event", (), "I gave a talk about the project at a local meetup today.",
             "When did {U} give a talk about the project at a meetup?"),
    FactSpec("bike", "event", (), "I finally bought a secondhand bike for commuting today.",
             "When did {U} buy a bike for commuting?", adversarial="When did {A} buy a bike for commuting?"),
)

# -- tools -----------------------------------------------------------------------------------

TOOLS = [
    {"name": "get_weather", "description": "Weather forecast for a city on a date.",
     "input_schema": {"type": "object", "properties": {
         "city": {"type": "string"}, "date": {"type": "string", "description": "e.g. 14 May 2024"}},
         "required": ["city", "date"]}},
    {"name": "convert_currency", "description": "Convert an amount between currencies at today's rate.",
     "input_schema": {"type": "object", "properties": {
         "amount": {"type": "number"}, "from_currency": {"type": "string"},
         "to_currency": {"type": "string"}}, "required": ["amount", "from_currency", "to_currency"]}},
    {"name": "search_notes", "description": "Search the user's project notes.",
     "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    {"name": "get_calendar", "description": "The user's calendar events on a date.",
     "input_schema": {"type": "object", "properties": {"date": {"type": "string"}}, "required": ["date"]}},
]

WEATHER_CITIES = ("Oslo", "Seville", "Krakow", "Bruges", "Galway")
CONDITIONS = ("sunny", "cloudy", "light rain", "windy", "overcast")
NOTE_TOPICS = ("accessibility", "pricing ideas", "user interviews", "release checklist")
EVENT_NAMES = ("stand-up", "design review", "one-on-one", "planning session", "user interview")
