"""Build the general prompt sets shipped in src/tunesmith/data/general/ (run from the repository root).

Three disjoint sets, written once and committed (the script is here so the sets can be reviewed and grown):

- ``probe.jsonl``: the labelled retention probe (questions with accepted answers), asked of the base and
  the fine-tuned model by every evaluation;
- ``agreement.jsonl``: held-out open prompts for the label-free part of the probe (the fine-tuned model's
  answers compared with the base model's own);
- ``replay.jsonl``: prompts whose base-model answers are mixed into training (``train.replay``).

`tunesmith.data.general.check_disjoint` is the check the build and the test suite run: no replay prompt
may be an exact or near duplicate of a probe or agreement prompt.

    python tools/build_general_sets.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "data" / "general"

NUMBER_WORDS = {
    0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
    9: "nine", 10: "ten", 11: "eleven", 12: "twelve",
}  # fmt: skip


def number_answers(n: int) -> list[str]:
    return [str(n)] + ([NUMBER_WORDS[n]] if n in NUMBER_WORDS else [])


# -- the labelled probe ---------------------------------------------------------------------------------------
CAPITALS = [
    ("Canada", ["ottawa"]), ("Australia", ["canberra"]), ("Brazil", ["brasilia", "brasília"]), ("Egypt", ["cairo"]),
    ("Russia", ["moscow"]), ("China", ["beijing"]), ("India", ["new delhi", "delhi"]),
    ("Mexico", ["mexico city"]), ("Argentina", ["buenos aires"]), ("Portugal", ["lisbon"]), ("Greece", ["athens"]),
    ("Ireland", ["dublin"]), ("Norway", ["oslo"]), ("Sweden", ["stockholm"]), ("Finland", ["helsinki"]),
    ("Denmark", ["copenhagen"]), ("Poland", ["warsaw"]), ("Austria", ["vienna"]), ("the Netherlands", ["amsterdam"]),
    ("Belgium", ["brussels"]), ("Turkey", ["ankara"]), ("Kenya", ["nairobi"]), ("South Korea", ["seoul"]),
    ("Thailand", ["bangkok"]), ("Vietnam", ["hanoi"]), ("Peru", ["lima"]), ("Chile", ["santiago"]),
    ("Colombia", ["bogota", "bogotá"]), ("Cuba", ["havana"]), ("Hungary", ["budapest"]),
    ("the Czech Republic", ["prague"]), ("Indonesia", ["jakarta"]), ("the Philippines", ["manila"]),
    ("Saudi Arabia", ["riyadh"]), ("Iran", ["tehran"]), ("the United Kingdom", ["london"]),
    ("the United States", ["washington"]), ("New Zealand", ["wellington"]), ("Ukraine", ["kyiv", "kiev"]),
    ("Romania", ["bucharest"]), ("Scotland", ["edinburgh"]), ("Switzerland", ["bern", "berne"]),
]  # fmt: skip
CONTINENTS = [
    ("Brazil", ["south america"]), ("Kenya", ["africa"]), ("Japan", ["asia"]), ("Canada", ["north america"]),
    ("Germany", ["europe"]), ("India", ["asia"]), ("Argentina", ["south america"]), ("Nigeria", ["africa"]),
    ("France", ["europe"]), ("Mexico", ["north america"]), ("China", ["asia"]), ("Peru", ["south america"]),
    ("Morocco", ["africa"]), ("Norway", ["europe"]), ("Thailand", ["asia"]),
]  # fmt: skip
LANDMARKS = [
    ("In which country is the Eiffel Tower?", ["france"]),
    ("In which city is the Statue of Liberty?", ["new york"]),
    ("In which country is the Great Wall?", ["china"]),
    ("In which country are the pyramids of Giza?", ["egypt"]),
    ("In which city is Big Ben?", ["london"]),
    ("In which city is the Colosseum?", ["rome"]),
    ("In which country is Mount Fuji?", ["japan"]),
    ("In which country is the Taj Mahal?", ["india"]),
    ("What is the tallest mountain in the world?", ["everest"]),
    ("What is the longest river in Africa?", ["nile"]),
    ("What is the largest hot desert in the world?", ["sahara"]),
    ("What is the largest country in the world by area?", ["russia"]),
    ("How many continents are there?", number_answers(7)),
    ("What language is spoken in Brazil?", ["portuguese"]),
    ("What language is spoken in Mexico?", ["spanish"]),
    ("What language is mainly spoken in Germany?", ["german"]),
    ("What is the currency of Japan?", ["yen"]),
    ("What is the currency of the United Kingdom?", ["pound"]),
    ("What is the currency of the United States?", ["dollar"]),
    ("What currency is used in most of the European Union?", ["euro"]),
]
SCIENCE = [
    ("At what temperature in degrees Celsius does water freeze?", ["0", "zero"]),
    ("How many planets are in our solar system?", number_answers(8)),
    ("Which planet is closest to the Sun?", ["mercury"]),
    ("What is the largest planet in our solar system?", ["jupiter"]),
    ("Which planet is famous for its rings?", ["saturn"]),
    ("What do we call animals that eat only plants?", ["herbivore", "herbivores"]),
    ("Which organ pumps blood through the body?", ["heart"]),
    ("Which gas do humans need to breathe in to live?", ["oxygen"]),
    ("What is the chemical symbol for gold?", ["au"]),
    ("What is the chemical symbol for sodium?", ["na"]),
    ("How many bones are in the adult human body?", ["206"]),
    ("What is the hardest natural substance?", ["diamond", "diamonds"]),
    ("What force pulls objects toward the ground?", ["gravity"]),
    ("Which organs do we use to breathe?", ["lungs", "lung"]),
    ("What does a caterpillar turn into?", ["butterfly", "butterflies", "moth"]),
    ("How many legs does an insect have?", number_answers(6)),
    ("What is the center of an atom called?", ["nucleus"]),
    ("What does ice become when it melts?", ["water"]),
    ("What does the Moon orbit?", ["earth"]),
    ("What is the largest mammal?", ["blue whale", "whale"]),
    ("What is the fastest land animal?", ["cheetah"]),
    ("What is Earth's natural satellite called?", ["moon"]),
    ("Which gas do plants give off during photosynthesis?", ["oxygen"]),
    ("What is the unit of electrical resistance?", ["ohm", "ohms"]),
    ("What is the SI unit of force?", ["newton", "newtons"]),
    ("Which vitamin does the skin make from sunlight?", ["vitamin d", "d"]),
    ("What is the freezing point of water in degrees Fahrenheit?", ["32"]),
    ("How many hearts does an octopus have?", number_answers(3)),
    ("What is the closest star to Earth?", ["sun"]),
    ("What do bees collect from flowers to make honey?", ["nectar"]),
    ("Which part of the plant takes in water from the soil?", ["root", "roots"]),
    ("What is the main gas in the air we breathe?", ["nitrogen"]),
]
OPPOSITES = [
    ("big", ["small", "little", "tiny"]), ("happy", ["sad", "unhappy"]), ("fast", ["slow"]),
    ("light", ["dark", "heavy"]), ("open", ["closed", "close", "shut"]), ("young", ["old"]), ("tall", ["short"]),
    ("early", ["late"]), ("full", ["empty"]), ("wet", ["dry"]), ("day", ["night"]), ("left", ["right"]),
    ("win", ["lose"]), ("buy", ["sell"]), ("push", ["pull"]), ("hard", ["soft", "easy"]), ("thick", ["thin"]),
    ("rich", ["poor"]), ("strong", ["weak"]), ("in", ["out"]), ("yes", ["no"]), ("first", ["last"]),
    ("above", ["below", "under", "beneath"]), ("begin", ["end", "finish"]), ("love", ["hate"]),
]  # fmt: skip
PLURALS = [
    ("child", ["children"]), ("foot", ["feet"]), ("tooth", ["teeth"]), ("person", ["people", "persons"]),
    ("woman", ["women"]), ("man", ["men"]), ("goose", ["geese"]), ("box", ["boxes"]), ("city", ["cities"]),
    ("knife", ["knives"]), ("leaf", ["leaves"]), ("sheep", ["sheep"]), ("baby", ["babies"]), ("wolf", ["wolves"]),
]  # fmt: skip
PAST = [
    ("go", ["went"]), ("eat", ["ate"]), ("see", ["saw"]), ("write", ["wrote"]), ("swim", ["swam"]),
    ("take", ["took"]), ("buy", ["bought"]), ("think", ["thought"]), ("sing", ["sang"]), ("drink", ["drank"]),
    ("fly", ["flew"]), ("drive", ["drove"]), ("speak", ["spoke"]), ("come", ["came"]), ("give", ["gave"]),
]  # fmt: skip
TRANSLATIONS = [
    ("cat", "Spanish", ["gato"]), ("dog", "Spanish", ["perro"]), ("water", "Spanish", ["agua"]),
    ("goodbye", "Spanish", ["adios", "adiós"]), ("yes", "French", ["oui"]), ("friend", "Spanish", ["amigo", "amiga"]),
    ("house", "Spanish", ["casa"]), ("thank you", "French", ["merci"]), ("hello", "Spanish", ["hola"]),
    ("cat", "French", ["chat"]), ("water", "French", ["eau"]), ("good night", "Spanish", ["buenas noches"]),
    ("red", "Spanish", ["rojo", "roja"]), ("book", "French", ["livre"]),
]  # fmt: skip
KNOWLEDGE = [
    ("What color is grass?", ["green"]),
    ("What color is fresh snow?", ["white"]),
    ("What color is coal?", ["black"]),
    ("How many colors are in a rainbow?", number_answers(7)),
    ("What do you call a baby dog?", ["puppy", "pup"]),
    ("What do you call a baby cat?", ["kitten", "kitty"]),
    ("What do you call a baby cow?", ["calf"]),
    ("What do you call a baby sheep?", ["lamb"]),
    ("What do you call a baby horse?", ["foal", "colt", "filly"]),
    ("Which animal says 'moo'?", ["cow", "cows"]),
    ("Which animal says 'meow'?", ["cat", "cats"]),
    ("Which animal says 'woof'?", ["dog", "dogs"]),
    ("Which season comes after winter?", ["spring"]),
    ("Which season comes after summer?", ["autumn", "fall"]),
    ("Which month comes after March?", ["april"]),
    ("Which day comes after Monday?", ["tuesday"]),
    ("Which day comes before Sunday?", ["saturday"]),
    ("What is the first month of the year?", ["january"]),
    ("What is the last month of the year?", ["december"]),
    ("Who painted the Mona Lisa?", ["leonardo", "da vinci"]),
    ("Who wrote 'Hamlet'?", ["shakespeare"]),
    ("Who was the first president of the United States?", ["washington"]),
    ("Which musical instrument has 88 keys?", ["piano"]),
    ("How many players does a soccer team have on the field?", number_answers(11)),
    ("What shape has three sides?", ["triangle"]),
    ("What shape has four equal sides and four right angles?", ["square"]),
    ("What do you call a shape with eight sides?", ["octagon"]),
    ("How many hours are in a day?", ["24", "twenty-four"]),
    ("How many seconds are in a minute?", ["60", "sixty"]),
    ("How many weeks are in a year?", ["52", "fifty-two"]),
    ("How many days are in a leap year?", ["366"]),
    ("How many sides does a hexagon have?", number_answers(6)),
    ("What do cows produce that people drink?", ["milk"]),
    ("What do you use to cut paper?", ["scissors"]),
    ("Where do fish live?", ["water", "sea", "ocean", "river", "lake"]),
    ("What do we call the meal eaten in the morning?", ["breakfast"]),
    ("What do you wear on your feet?", ["shoes", "socks", "boots", "shoe"]),
    ("What is the opposite direction of north?", ["south"]),
    ("What fruit do raisins come from?", ["grape", "grapes"]),
    ("What is a young frog called?", ["tadpole", "froglet"]),
]
INSTRUCTIONS = [
    ("Write the word 'house' in capital letters.", ["HOUSE"]),
    ("Write the word 'river' in capital letters.", ["RIVER"]),
    ("Write the word 'green' in capital letters.", ["GREEN"]),
    ("Write the word 'table' in capital letters.", ["TABLE"]),
    ("Write the word 'music' in capital letters.", ["MUSIC"]),
    ("Write the word 'tiger' in capital letters.", ["TIGER"]),
    ("Reply with only the word 'no'.", ["no"]),
    ("Reply with only the word 'hello'.", ["hello"]),
    ("Reply with only the word 'done'.", ["done"]),
    ("Reply with only the number 42.", ["42"]),
    ("Spell the word 'cat' backwards.", ["tac", "t-a-c", "t a c"]),
    ("Spell the word 'dog' backwards.", ["god", "g-o-d", "g o d"]),
    ("What is the first letter of the word 'banana'?", ["b"]),
    ("What is the last letter of the word 'pizza'?", ["a"]),
    ("Put these numbers in order from smallest to largest: 3, 1, 2.", ["1, 2, 3", "1,2,3"]),
    ("Which number is larger, 15 or 51?", ["51"]),
    ("Which number is smaller, 7 or 70?", ["7", "seven"]),
    ("Name a fruit that is yellow.", ["banana", "lemon", "pineapple", "mango"]),
    ("Name an animal that can fly.", ["bird", "bat", "eagle", "owl", "parrot", "pigeon", "sparrow", "crow", "duck"]),
    (
        "Name a planet in our solar system.",
        ["mercury", "venus", "earth", "mars", "jupiter", "saturn", "uranus", "neptune"],
    ),
    ("Name a day of the weekend.", ["saturday", "sunday"]),
    ("Give one word that rhymes with 'cat'.", ["hat", "bat", "mat", "rat", "sat", "fat", "pat", "that", "flat", "chat"]),
    ("Count from 1 to 3, separated by commas.", ["1, 2, 3", "1,2,3"]),
    ("Count down from 3 to 1, separated by commas.", ["3, 2, 1", "3,2,1"]),
    ("Write the number ten as a digit.", ["10"]),
    ("Write the number 3 as a word.", ["three"]),
    ("How many letters are in the word 'dog'?", number_answers(3)),
    ("Give a word that means the same as 'big'.", ["large", "huge", "giant", "enormous", "great", "massive"]),
    ("Give a word that means the same as 'happy'.", ["glad", "joyful", "cheerful", "content", "pleased", "merry"]),
    ("Give a word that means the same as 'quick'.", ["fast", "rapid", "speedy", "swift"]),
]


def arithmetic_probe(rng: random.Random) -> list[tuple[str, list[str]]]:
    """'What is A + B? Answer with the number only.' in three operations; disjoint pairs from the 40 originals."""
    seen = {(7, 5, "+"), (9, 3, "x"), (100, 1, "-"), (2, 2, "+")}
    out = []
    while len(out) < 75:
        op = rng.choice(["+", "+", "-", "x"])
        if op == "+":
            a, b = rng.randint(2, 49), rng.randint(2, 49)
        elif op == "-":
            a = rng.randint(10, 99)
            b = rng.randint(1, a - 1)
        else:
            a, b = rng.randint(2, 12), rng.randint(2, 12)
        if (a, b, op) in seen:
            continue
        seen.add((a, b, op))
        word = {"+": "+", "-": "minus", "x": "times"}[op]
        value = a + b if op == "+" else a - b if op == "-" else a * b
        out.append((f"What is {a} {word} {b}? Answer with the number only.", number_answers(value)))
    return out


def labelled_probe() -> list[dict[str, object]]:
    """The first 40 items are the probe's first version (ids gs-001..gs-040), kept so figures stay comparable."""
    rng = random.Random(2026)
    rows = [json.loads(line) for line in (TARGET / "probe.jsonl").read_text(encoding="utf-8").splitlines()[:40]]
    items: list[tuple[str, str, list[str]]] = []
    items += [("arithmetic", q, a) for q, a in arithmetic_probe(rng)]
    items += [("geography", f"What is the capital of {c}?", a) for c, a in CAPITALS]
    items += [("geography", f"On which continent is {c}?", a) for c, a in CONTINENTS]
    items += [("geography", q, a) for q, a in LANDMARKS]
    items += [("science", q, a) for q, a in SCIENCE]
    items += [("language", f"What is the opposite of '{w}'?", a) for w, a in OPPOSITES]
    items += [("language", f"What is the plural of '{w}'?", a) for w, a in PLURALS]
    items += [("language", f"What is the past tense of '{w}'?", a) for w, a in PAST]
    items += [("language", f"Translate '{w}' into {lang}.", a) for w, lang, a in TRANSLATIONS]
    items += [("knowledge", q, a) for q, a in KNOWLEDGE]
    items += [("instruction", q, a) for q, a in INSTRUCTIONS]
    known = {r["question"] for r in rows}
    for skill, question, answers in items:
        if question in known:
            continue
        known.add(question)
        rows.append({"id": f"gs-{len(rows) + 1:03d}", "skill": skill, "question": question, "answers": answers})
    return rows


# -- held-out open prompts for the label-free agreement part ------------------------------------------------------
AGREEMENT = [
    "Name a vegetable that is green.", "Suggest a word to describe a cheetah.",
    "Write a sentence using the word 'river'.", "Suggest a good name for a pet cat.",
    "Describe the color blue in one sentence.", "What would you pack for a picnic?",
    "Write a haiku about autumn leaves.", "Explain what a library is in one sentence.",
    "Name three things you can find in a kitchen.", "What is your favorite season, and why?",
    "Give an example of a mammal that lives in the ocean.", "Write a short greeting for a birthday card.",
    "What is a healthy breakfast?", "Name a sport that is played with a ball.",
    "Explain what a rainbow is to a child.", "What does a firefighter do?",
    "Suggest a title for a story about a brave mouse.", "What are clouds made of?",
    "Describe a cat in three words.", "Why do people brush their teeth?",
    "Write one sentence about the ocean.", "What is the purpose of a bridge?",
    "Name a famous scientist.", "What can you do to stay warm in winter?",
    "How do you make a cup of tea?", "What is the difference between a lake and a sea?",
    "Name two musical instruments.", "What does a doctor do?",
    "Give a reason to read books.", "What is a good way to save money?",
    "Describe the taste of lemon.", "What happens to water when it boils?",
    "Write a sentence that starts with 'Tomorrow'.", "What do plants need to grow?",
    "Name a country in South America.", "Why do leaves change color in the fall?",
    "What is the moon made of?", "Explain what a map is used for.",
    "Suggest a name for a new coffee shop.", "What is a verb? Give an example.",
    "Describe a sunny day in one sentence.", "What is the job of a teacher?",
    "How many wheels does a bicycle have?", "What is the tallest animal?",
    "Name something that is cold.", "Write a short apology for being late.",
    "What makes a good friend?", "Describe a quiet place you like.",
    "Give an example of a fruit that grows on trees.", "Why is exercise important?",
    "What does the heart do?", "Name a tool used for building.",
    "Describe the sound of rain.", "Write a one-line motto for a school.",
    "What is a desert?", "What do you call a person who writes books?",
    "How do birds fly?", "What is the color of an orange?",
    "Name a holiday that people celebrate in winter.", "What is snow made of?",
    "How do you say goodbye in Italian?", "What is a noun? Give an example.",
    "Describe a forest in one sentence.", "Why do we need sleep?",
    "What is the main ingredient in bread?", "Name a board game.",
    "Write a sentence about your favorite food.", "What does a pilot do?",
    "What is the shape of the Earth?", "Name a bird that cannot fly.",
    "What is a volcano?", "Give a synonym for 'smart'.",
    "What do you call a group of wolves?", "Why do we wear seat belts?",
    "How do you make a paper airplane?", "Name a vegetable that grows underground.",
    "What is the weather like in a rainforest?", "Write a short thank-you message to a teacher.",
    "What is a dictionary used for?", "Name an animal that lives in the Arctic.",
    "Describe the smell of fresh bread.", "What is a planet?",
    "Why is the ocean salty?", "Name a job that helps people.",
    "What is the first thing you do in the morning?", "Give an example of a polite phrase.",
    "What is a computer used for?", "Name a famous painting.",
    "How does a plant make food?", "What is a good habit to have?",
    "Write a question you might ask a new friend.", "What is an island?",
    "Name a color that is warm.", "What is the use of an umbrella?",
    "Describe a city at night.", "What does a baker do?",
    "Why do cats like boxes?", "Name a flower.",
    "What is the sun?", "Give an example of a liquid.",
    "Why do we recycle?", "What does a mail carrier do?",
    "Write a sentence with the word 'mountain'.", "What is friendship?",
    "Name a hot drink.", "How do fish breathe?",
    "What is the biggest city you know?", "Give an adjective that describes the sea.",
    "What is a storm?", "Name an insect.",
    "Why do some animals hibernate?", "What do you use a pencil for?",
]  # fmt: skip


# -- replay prompts: what the base model answers is mixed into training ------------------------------------------
FACTS = [
    "Tell me one interesting fact about elephants.", "Why is the sky blue?", "What causes rain?",
    "Who invented the telephone?", "Explain gravity to a ten-year-old.", "How do volcanoes form?",
    "What is photosynthesis?", "Why do we have seasons?", "How does a rainbow form?",
    "What is the water cycle?", "Why do cats purr?", "How do bees make honey?",
    "What is DNA?", "Why does the Moon change shape?", "What is an earthquake?",
    "How do airplanes stay in the air?", "What are dinosaurs?", "Why do we yawn?",
    "What is electricity?", "How does the internet work, in simple terms?", "What is a black hole?",
    "Why do onions make people cry?", "How do magnets work?", "What is the Great Barrier Reef?",
    "What did the Wright brothers do?", "Who was Marie Curie?", "What is the Amazon rainforest?",
    "How are mountains formed?", "What is a comet?", "Why is exercise good for the heart?",
    "How do vaccines help the body?", "What is recycling?", "Why are coral reefs important?",
    "How do plants drink water?", "What is a hurricane?", "Why does ice float on water?",
    "What is the Milky Way?", "How do bats find their way in the dark?", "What is a fossil?",
    "How long does it take the Earth to orbit the Sun?", "Who was Albert Einstein?",
    "What is a democracy?", "Why do birds migrate?", "What is a calorie?",
    "How do tides work?", "What is the difference between weather and climate?",
    "How does a thermometer work?", "What is a glacier?", "Why do we need vitamins?",
    "What is the largest animal that ever lived?", "How does sound travel?",
    "What are the three states of matter?", "Why do stars twinkle?", "What is a tsunami?",
    "How do solar panels make electricity?", "What is an ecosystem?", "Why do dogs wag their tails?",
    "What is the speed of sound, roughly?", "How do submarines dive?", "What is a microscope for?",
    "Why do we have day and night?", "What was the printing press?", "How does a compass work?",
    "How do camels survive long trips without water?", "Why do apples turn brown after cutting?", "What is an atom?",
    "How do chameleons change color?", "What is a leap year?", "How do trees help the air?",
    "What are the Olympic Games?", "What is a constellation?", "Why is the Dead Sea so salty?",
    "How do penguins stay warm?", "What is inflation, in simple words?", "How do clouds form?",
    "What is a mammal?", "Why do we sweat?", "What is the ozone layer?",
    "How does a refrigerator keep food cold?", "What is an eclipse?",
]  # fmt: skip
WRITING = [
    "Write a short poem about the sea.", "Write a thank-you note to a neighbor who watered your plants.",
    "Write a two-sentence story about a lost key.", "Write a slogan for a lemonade stand.",
    "Write a limerick about a sleepy dog.", "Write a short description of a cozy cabin.",
    "Write a text message inviting a friend to dinner.", "Write a four-line poem about the moon.",
    "Write a short product description for a reusable water bottle.", "Write an opening line for a mystery novel.",
    "Write a short speech to welcome new students.", "Write a riddle about a clock.",
    "Write a tweet announcing a bake sale.", "Write a short letter to your future self.",
    "Write a haiku about the first snow.", "Write two sentences describing a busy market.",
    "Write a short bio for a gardener.", "Write a postcard message from a beach holiday.",
    "Write a motivational quote about learning.", "Write a short review of a fictional pizza place.",
    "Write a dialogue of two lines between a cat and a mouse.", "Write a short poem about friendship.",
    "Write a note reminding a roommate to buy milk.", "Write a catchy name for a bicycle shop.",
    "Write a short fable with a moral about patience.", "Write a description of a sunrise in three sentences.",
    "Write a short invitation to a garden party.", "Write an encouraging message for someone starting a new job.",
    "Write a sentence that uses the words 'apple', 'river' and 'yellow'.", "Write a short toast for a wedding.",
    "Write a two-line rhyme about rain.", "Write a short ad for a lost cat poster.",
    "Write a paragraph about why you like summer.", "Write a short story opening set on a train.",
    "Write a note thanking a crossing guard for keeping kids safe.", "Write a short weather report for a sunny day.",
    "Write a tongue twister about snakes.", "Write a short diary entry about a rainy day.",
    "Write a get-well-soon message for a friend.", "Write a short poem about a city at night.",
    "Write a menu description for tomato soup.", "Write a short instruction for feeding a goldfish.",
    "Write an acrostic poem for the word 'SUN'.", "Write a short farewell message to a coworker.",
    "Write one sentence describing a thunderstorm.", "Write a short story about a robot who learns to paint.",
    "Write a short note to apologize for missing a meeting.", "Write a catchy headline about a new park.",
    "Write a short poem about coffee.", "Write a simple recipe title for a quick salad.",
    "Write a short description of a mountain lake.", "Write a welcome message for a book club.",
    "Write a short paragraph about the importance of kindness.", "Write a birthday wish for a grandmother.",
    "Write a two-sentence horror story for kids.", "Write a short message congratulating a graduate.",
    "Write a short poem about a garden in spring.", "Write a short description of a busy airport.",
    "Write a line of dialogue for a pirate captain.", "Write a short pep talk for a soccer team.",
]  # fmt: skip
REASONING = [
    "If all cats are animals and Tom is a cat, is Tom an animal?", "What comes next in the sequence 2, 4, 6, 8?",
    "Which is longer, a week or a month?", "If it is raining, should you take an umbrella? Explain briefly.",
    "A box has 3 red balls and 2 blue balls. How many balls are there in total?",
    "If today is Tuesday, what day will it be in two days?", "Which weighs more, a car or a bicycle?",
    "If you have 10 candies and give away 4, how many are left?", "What comes next: A, C, E, G?",
    "Is a tomato a fruit or a vegetable? Explain.", "If Anna is taller than Ben and Ben is taller than Cara, who is the shortest?",
    "Which is colder, ice or steam?", "If a shop opens at 9 and closes at 5, how many hours is it open?",
    "What is the next number: 1, 1, 2, 3, 5, 8?", "Can a fish climb a tree? Explain briefly.",
    "If you double 6 and add 3, what do you get?", "Which is bigger, a mouse or an elephant?",
    "If a pencil costs 2 dollars, how much do 5 pencils cost?", "Is 17 an even or an odd number?",
    "What is the missing word: bread and ...?", "If the glass is half full, how much is empty?",
    "Which comes first, lunch or dinner?", "Sort these words alphabetically: pear, apple, mango.",
    "If every student has 2 books and there are 4 students, how many books are there?",
    "What is the odd one out: dog, cat, car, cow?", "Is the statement 'all birds can fly' true?",
    "If water freezes at 0 degrees Celsius, is water at minus 5 degrees solid or liquid?",
    "What day comes three days after Friday?", "Which is heavier, one kilogram of iron or two kilograms of feathers?",
    "A farmer has 12 sheep and buys 8 more. How many sheep does he have?",
    "If you walk 3 kilometers each day, how far do you walk in a week?",
    "Which number is the odd one out: 2, 4, 7, 8?", "Complete the analogy: hot is to cold as day is to ...",
    "If a train leaves at 2 pm and the trip takes 3 hours, when does it arrive?",
    "Is a whale a fish or a mammal?", "What is the next letter: Z, Y, X, ...?",
    "If a rectangle is 4 cm by 3 cm, what is its area?", "Which is faster, walking or driving?",
    "If you cut a pizza into 8 slices and eat 3, how many slices remain?",
    "Complete the analogy: bird is to nest as bee is to ...", "Is zero an even number?",
    "If Maria has twice as many apples as Luke and Luke has 4, how many does Maria have?",
    "What is the next number: 100, 90, 80, ...?", "Which is the largest: 0.5, 0.25 or 0.75?",
    "If a week has 7 days, how many days are in 3 weeks?", "What shape is a ball?",
    "If you face north and turn right, which direction do you face?", "Is a spider an insect? Explain.",
    "If a book has 200 pages and you read 50 a day, how many days will it take?",
    "Which month has the fewest days?", "What do you get if you mix blue and yellow paint?",
    "If the clock shows 3:00, where does the hour hand point?", "Which is longer, 1 meter or 90 centimeters?",
    "What is half of a dozen?", "If two coins are tossed, how many outcomes are possible?",
    "Which season is the warmest in the Northern Hemisphere?", "What is the next word: Monday, Tuesday, ...?",
    "Which is more, a quarter or a third of a cake?", "If a car travels 50 km in one hour, how far in 4 hours?",
    "What is three quarters of 100?",
]  # fmt: skip
INSTRUCTION_PROMPTS = [
    "List three fruits.", "Give two tips for better sleep.", "Rewrite this sentence in the past tense: I walk to school.",
    "Turn this statement into a question: The store is open.", "Summarize in one sentence: The cat slept all day in the sun.",
    "Give three synonyms for 'beautiful'.", "List the primary colors.", "Name three countries in Europe.",
    "Make a compound word from 'sun' and 'flower'.", "Make this sentence more polite: Give me the salt.",
    "List four animals that live on a farm.", "Correct the spelling: recieve.", "Put this list in order: three, one, two.",
    "Give three ideas for a rainy-day activity.", "Rewrite in simpler words: The meeting has been postponed.",
    "List three things you need to bake a cake.", "Write the days of the week in order.",
    "Name three vegetables that are orange or red.", "Give two examples of renewable energy.",
    "How do you say 'see you later' in German?", "Convert 2 hours into minutes.", "List five colors.",
    "Give one example of a question and one of an exclamation.", "Make a shopping list for a simple breakfast.",
    "Rewrite this sentence with a stronger verb: He went quickly to the door.", "List three musical genres.",
    "Give three tips for staying focused while studying.", "Name two oceans.",
    "Turn this into a command: You should close the window.", "Name three planets.",
    "Write the numbers from 5 to 10.", "Give an antonym for 'generous'.", "List three parts of a plant.",
    "Combine these sentences: I like tea. I like coffee.", "Give two examples of mammals that swim.",
    "Name three tools a carpenter uses.", "Explain in one sentence how to wash your hands.",
    "List three kinds of weather.", "Write an email subject line for a team lunch.",
    "Give three reasons to learn a new language.", "Change this sentence to the future tense: I eat lunch.",
    "List three shapes.", "Give a short definition of 'habit'.", "Name three things that are soft.",
    "Write the alphabet's first five letters.", "List two ways to save water at home.",
    "Give three examples of fruits that are red.", "Rewrite in passive voice: The dog chased the ball.",
    "Name three jobs in a hospital.", "List three items you would take camping.",
    "Give two examples of good manners.", "Describe how to make a sandwich in three steps.",
    "Name three types of transport.", "List three hobbies.", "Give two tips for a job interview.",
    "Convert 3 kilometers into meters.", "Name two famous rivers.", "List three things that are made of wood.",
    "Give a one-word summary of a happy day.", "Name three sports played with a racket.",
    "List three winter clothes.", "Give an example of a sentence with a comma.",
    "Explain the word 'teamwork' in one sentence.", "List three kitchen appliances.",
    "Name two animals with stripes.", "Give three words that start with the letter B.",
    "Write a to-do list with three items for a Saturday.", "List two benefits of walking.",
    "Name three breakfast foods.", "Why do cooks follow recipes?",
    "List three things you can recycle.", "Give two examples of nouns.",
    "Name three things in a classroom.", "Give an example of a greeting in French.",
    "Name two birds.", "List three insects.", "Give two examples of hot weather activities.",
    "Name a famous bridge and the city it is in.", "List three feelings.", "Give two tips for saving energy.",
]  # fmt: skip
CONVERSATION = [
    "How are you today?", "Can you recommend a book for a long flight?", "What should I cook for dinner tonight?",
    "I feel tired. Any advice?", "What is a fun thing to do on a weekend?", "Tell me a joke.",
    "What is a good hobby to start?", "How can I make new friends in a new city?", "What is a good gift for a ten-year-old?",
    "How do I stay motivated to exercise?", "What is a good way to relax after work?", "Any tips for learning to cook?",
    "What should I name my goldfish?", "How do I keep a plant alive?", "What is a good movie for a family night?",
    "How can I be more organized?", "What is a nice thing to say to a friend who is sad?",
    "How do I start journaling?", "What should I bring to a potluck?", "How can I drink more water during the day?",
    "What is a good warm-up before running?", "Tell me something cheerful.", "What is a good snack for a hike?",
    "How can I learn to draw?", "What is a polite way to decline an invitation?",
    "What are good questions to ask at a museum?", "How can I make my room feel cozier?",
    "What is a simple way to start saving money?", "How do I prepare for a long car trip?",
    "Can you suggest a name for a family blog?",
]  # fmt: skip


def arithmetic_replay(rng: random.Random) -> list[str]:
    """Computations phrased unlike the probe's 'What is A + B? Answer with the number only.'"""
    out = []
    forms = [
        "Add {a} and {b}.",
        "Subtract {b} from {a}.",
        "Multiply {a} by {b}.",
        "Calculate the sum of {a} and {b}, and show your work.",
        "A bag holds {a} marbles and you put in {b} more. How many marbles are in the bag now?",
        "There were {a} birds on a wire and {b} flew away. How many are left?",
        "Each box holds {b} pencils. How many pencils are in {a} boxes?",
        "Divide {p} by {b}.",
        "What do you get when you take {b} away from {a}? Explain the steps.",
        "Find the total cost of {a} items that cost {b} dollars each.",
    ]
    seen: set[str] = set()
    while len(out) < 70:
        form = rng.choice(forms)
        a, b = rng.randint(12, 95), rng.randint(2, 11)
        if "from {a}" in form or "away from {a}" in form or "flew away" in form:
            a = max(a, b + 1)
        text = form.format(a=a, b=b, p=a * b)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def replay_prompts() -> list[dict[str, object]]:
    rng = random.Random(7)
    groups = [
        ("arithmetic", arithmetic_replay(rng)),
        ("facts", FACTS),
        ("writing", WRITING),
        ("reasoning", REASONING),
        ("instructions", INSTRUCTION_PROMPTS),
        ("conversation", CONVERSATION),
    ]
    rows = []
    for kind, prompts in groups:
        for prompt in prompts:
            rows.append({"id": f"rp-{len(rows) + 1:03d}", "kind": kind, "prompt": prompt})
    return rows


def write(name: str, rows: list[dict[str, object]]) -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    (TARGET / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{name}: {len(rows)} rows")


def main() -> None:
    write("probe.jsonl", labelled_probe())
    write("agreement.jsonl", [{"id": f"ag-{i + 1:03d}", "prompt": p} for i, p in enumerate(AGREEMENT)])
    write("replay.jsonl", replay_prompts())


if __name__ == "__main__":
    main()
