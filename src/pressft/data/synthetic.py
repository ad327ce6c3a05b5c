"""Deterministic synthetic BMW PressClub corpus for offline runs and CI.

Real PressClub articles cannot be fetched offline, so the default pipeline trains on this corpus.
It mirrors the real schema and the real type imbalance, and it gives each type a recognisable
structure, but every article is filled from a small, fictional world (executives, partners,
awards, concept cars are invented) with templates. The point is learnability by a ~2M parameter
model: title, summary, tags and type all follow from the content in consistent ways, e.g. every
tag literally occurs in the content and the title reuses the slot values of the lead sentence.

Determinism: only a private ``random.Random(seed)`` is used, and every table is a list or an
insertion-ordered dict (never a set, whose str order depends on the per-process hash salt).
"""

from __future__ import annotations

import datetime
import random
import re
import unicodedata

from pressft.tasks import ARTICLE_TYPES

TYPE_WEIGHTS = (0.80, 0.08, 0.06, 0.06)  # shares on the real site, in ARTICLE_TYPES order
WORD_RANGE = {"Press Release": (120, 260), "Press Kit": (220, 380), "Speech": (120, 260),
              "Fact & Figures": (120, 260)}
URL = "https://synthetic.invalid/global/article/detail/T{index:07d}EN/{slug}"
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

# --- The fictional world --------------------------------------------------------------------
# model: (brand, drive, plants, variant suffixes, kW range, price range in k€, range km, kWh)
MODELS = {
    "BMW iX": ("BMW", "electric", ["Dingolfing"], ["xDrive45", "xDrive60", "M70 xDrive"], (300, 485), (77, 135), (550, 700), (94, 110)),
    "BMW i4": ("BMW", "electric", ["Munich"], ["eDrive35", "eDrive40", "M50 xDrive"], (210, 400), (56, 75), (480, 590), (67, 84)),
    "BMW i5": ("BMW", "electric", ["Dingolfing"], ["eDrive40 Sedan", "xDrive40 Touring", "M60 xDrive"], (250, 442), (70, 120), (470, 580), (81, 84)),
    "BMW i7": ("BMW", "electric", ["Dingolfing"], ["eDrive50", "xDrive60", "M70 xDrive"], (335, 485), (115, 185), (560, 625), (101, 106)),
    "BMW iX3": ("BMW", "electric", ["Debrecen", "Shenyang"], ["50 xDrive", "40 xDrive"], (230, 345), (62, 75), (650, 805), (95, 109)),
    "BMW iX1": ("BMW", "electric", ["Regensburg"], ["eDrive20", "xDrive30"], (150, 230), (48, 58), (430, 475), (64, 65)),
    "BMW X3": ("BMW", "phev", ["Spartanburg"], ["20 xDrive", "30e xDrive", "M50 xDrive"], (140, 293), (54, 82), (80, 90), (19, 22)),
    "BMW X5": ("BMW", "phev", ["Spartanburg"], ["xDrive40i", "xDrive50e", "M60i xDrive"], (280, 390), (85, 125), (90, 110), (25, 26)),
    "BMW 3 Series": ("BMW", "combustion", ["Munich", "San Luis Potosí", "Shenyang"], ["Sedan", "Touring", "Sedan 330e"], (115, 275), (43, 60), (650, 800), (0, 0)),
    "BMW M3": ("BMW M", "combustion", ["Munich"], ["Competition Sedan", "Competition Touring", "CS"], (375, 405), (95, 130), (550, 620), (0, 0)),
    "BMW M5": ("BMW M", "phev", ["Dingolfing"], ["Sedan", "Touring"], (535, 535), (144, 150), (65, 70), (18, 19)),
    "MINI Cooper": ("MINI", "electric", ["Oxford"], ["E", "SE", "SE Convertible"], (135, 160), (32, 40), (300, 400), (37, 50)),
    "MINI Countryman": ("MINI", "electric", ["Leipzig"], ["E", "SE ALL4"], (150, 230), (41, 52), (430, 460), (65, 67)),
    "Rolls-Royce Spectre": ("Rolls-Royce", "electric", ["Goodwood"], ["", "Black Badge"], (430, 485), (380, 460), (490, 530), (102, 102)),
    "Rolls-Royce Cullinan": ("Rolls-Royce", "combustion", ["Goodwood"], ["", "Series II", "Black Badge"], (420, 441), (340, 420), (500, 560), (0, 0)),
    "BMW R 1300 GS": ("BMW Motorrad", "motorcycle", ["Berlin"], ["", "Adventure", "Trophy"], (107, 107), (19, 26), (350, 450), (0, 0)),
    "BMW CE 04": ("BMW Motorrad", "electric", ["Berlin"], ["", "Avantgarde"], (31, 31), (12, 14), (120, 130), (8, 9)),
    "BMW iX5 Hydrogen": ("BMW", "hydrogen", ["Munich"], ["", "Pilot"], (295, 295), (85, 95), (480, 504), (0, 0)),
}
DRIVE_PHRASES = {
    "electric": "an all-electric drive, {kwh_a} kWh battery and a range of up to {range_km} km (WLTP)",
    "phev": "a plug-in hybrid drive, {kwh_a} kWh battery and an electric range of up to {range_km} km",
    "combustion": "a petrol engine with 48-volt mild hybrid technology and a range of up to {range_km} km",
    "motorcycle": "a 1,300 cc boxer engine and a range of up to {range_km} km on one tank",
    "hydrogen": "a hydrogen fuel cell drive and a range of up to {range_km} km (WLTP)",
}
BRAND_ORG = {"BMW": "The BMW brand", "BMW M": "BMW M GmbH", "MINI": "The MINI brand",
             "Rolls-Royce": "Rolls-Royce Motor Cars", "BMW Motorrad": "BMW Motorrad"}
BRAND_LINES = {  # boilerplate that also guarantees the brand tag occurs in the content
    "BMW": "The BMW brand remains the largest in the BMW Group portfolio.",
    "BMW M": "BMW M stands for high-performance cars with a strong link to motorsport.",
    "MINI": "MINI has combined British design and electric driving fun since 2001.",
    "Rolls-Royce": "Rolls-Royce has been building handcrafted luxury cars for more than a century.",
    "BMW Motorrad": "BMW Motorrad has been building motorcycles for more than 100 years.",
}
# location: (founded, employees, country); all are BMW Group sites in this world
LOCATIONS = {
    "Munich": (1922, 7000, "Germany"), "Dingolfing": (1973, 17000, "Germany"),
    "Regensburg": (1986, 9000, "Germany"), "Leipzig": (2005, 5800, "Germany"),
    "Berlin": (1969, 2100, "Germany"), "Spartanburg": (1994, 11000, "the USA"),
    "San Luis Potosí": (2019, 3000, "Mexico"), "Shenyang": (2004, 26000, "China"),
    "Debrecen": (2022, 1500, "Hungary"), "Oxford": (1913, 4000, "the UK"),
    "Goodwood": (2003, 2500, "the UK"),
}
# Each topic has sentences that contain the topic name literally, so topic tags are extractable.
TOPICS = {
    "Electric Mobility": ["The project is another milestone on the BMW Group's path to electric mobility.",
                          "Electric mobility remains the central pillar of the company's product strategy."],
    "Production": ["The principles of the BMW iFACTORY make production leaner, greener and more digital.",
                   "Production at the site runs in three shifts, six days a week."],
    "Sustainability": ["Sustainability is firmly anchored in every stage of the value chain.",
                       "The measure is part of the company's sustainability strategy for 2030."],
    "Design": ["The design combines clear surfaces with a precise, modern light signature.",
               "Design has always been a defining strength of the {brand} brand."],
    "Motorsport": ["Motorsport remains an important technology laboratory for series development.",
                   "Customer teams around the world rely on BMW M Motorsport."],
    "Automated Driving": ["Systems for automated driving up to Level 3 are available on request.",
                         "Engineers are also testing new functions for automated driving."],
    "Digitalisation": ["Digitalisation speeds up processes across the entire company.",
                       "Virtual planning tools are a key part of the digitalisation strategy."],
    "Sales": ["Sales in Europe, the Americas and Asia all contributed to the result.",
              "The sales organisation expects strong demand in the coming months."],
    "Financial Results": ["The financial results confirm the company's solid course.",
                          "Detailed financial results will be published in the quarterly statement."],
    "Awards": ["The BMW Group has received numerous awards for its products in recent years.",
               "The prize is one of the most respected awards in the industry."],
    "Events": ["It is one of the largest events in the history of the company.",
               "Further events for customers and guests are planned throughout the year."],
    "Research & Development": ["The BMW Group Research & Development network links experts around the world.",
                               "Research & Development teams worked closely with production from the start."],
    "Hydrogen": ["The BMW Group sees hydrogen as a promising addition to battery-electric drives.",
                 "Hydrogen fuel cell technology could become a further pillar of the drive portfolio."],
    "Connectivity": ["Connectivity features such as over-the-air upgrades keep every vehicle up to date.",
                     "Thanks to full connectivity, customers can plan charging stops from their smartphone."],
    "Circular Economy": ["Secondary materials and recycling are central to the circular economy approach.",
                         "The circular economy principle of re-use and recycling guides the whole project."],
    "Employees": ["The company is training its employees for the technologies of the future.",
                  "Employees were involved in planning the new processes from the very beginning."],
    "Charging Infrastructure": ["A growing charging infrastructure makes everyday electric driving easier.",
                                "Customers benefit from charging infrastructure with thousands of new fast chargers."],
    "Art & Culture": ["For more than 50 years, the BMW Group has supported art & culture worldwide.",
                      "The BMW Group Art & Culture programme includes more than 100 initiatives."],
}
EXECUTIVES = {  # role -> fictional name; one name per role, so a name follows from its role
    "ceo": ("Thomas Keller", "Chairman of the Board of Management"),
    "production": ("Anna Berger", "Member of the Board of Management for Production"),
    "finance": ("Julia Hartmann", "Member of the Board of Management for Finance"),
    "development": ("Markus Vogel", "Member of the Board of Management for Development"),
    "sales": ("Sabine Roth", "Member of the Board of Management for Customer, Brands, Sales"),
    "hr": ("Daniel Weiss", "Member of the Board of Management for Human Resources"),
    "design": ("Claudia Neumann", "Head of Design"),
    "motorsport": ("Lukas Brenner", "Head of BMW M Motorsport"),
    "sustainability": ("Katrin Sommer", "Head of Sustainability"),
}
PARTNERS = ["Voltera Group", "Nordlicht Technologies", "Helix Industries", "Quantis", "Aurelia Systems",
            "Terrava", "Lumen Partners", "Arcadia Tech", "Kestrel Solutions", "Sora Mobility"]
AREAS = [("charging infrastructure", "Charging Infrastructure"), ("battery recycling", "Circular Economy"),
         ("green hydrogen", "Hydrogen"), ("renewable energy", "Sustainability"),
         ("software for automated driving", "Automated Driving"), ("digital services", "Digitalisation"),
         ("vehicle connectivity", "Connectivity")]
AWARDS = ["European Design Excellence Award", "Green Drive Award", "Premium Car of the Year award",
          "Innovation in Motion Award", "World Electric Vehicle Trophy", "Red Line Design Prize",
          "Luxury Excellence Award", "Readers' Choice Award"]
QUALITIES = ["efficiency", "design", "driving dynamics", "interior quality", "range", "safety features"]
RACES = ["24 Hours of Nürburgring", "24 Hours of Daytona", "24 Hours of Spa", "12 Hours of Sebring",
         "6 Hours of Fuji", "Macau GT Cup", "Bathurst 12 Hour"]
TEAMS = ["Alpen", "Nordring", "Falcon", "Redline", "Isar", "Baltic"]
DRIVERS = ["Jonas Fuchs", "Marco Leone", "Elin Strand", "Pierre Vidal", "Noah Carter", "Kenji Mori",
           "Lena Hofer", "Tomás Ruiz"]
CONCEPTS = [("BMW Vision Horizon", "BMW"), ("BMW i Vision Current", "BMW"), ("MINI Concept Aurora", "MINI"),
            ("Rolls-Royce Vision Serenity", "Rolls-Royce"), ("BMW Motorrad Concept Pulse", "BMW Motorrad"),
            ("BMW M Vision Apex", "BMW M"), ("MINI Concept Pebble", "MINI"), ("BMW Vision Meridian", "BMW")]
VISIONS = ["electric luxury", "urban mobility", "sustainable design", "digital driving pleasure",
           "minimalist interiors", "circular materials"]
SHOWS = [("IAA Mobility", "Munich"), ("BMW Welt", "Munich"), ("the Goodwood Festival of Speed", "Goodwood"),
         ("the Shenyang Auto Show", "Shenyang"), ("the Oxford Motor Festival", "Oxford"),
         ("the Leipzig Design Days", "Leipzig")]
FACILITIES = [("Battery Cell Competence Centre", "Electric Mobility"), ("Hydrogen Technology Centre", "Hydrogen"),
              ("Driving Simulation Centre", "Automated Driving"), ("Software and Digital Hub", "Digitalisation"),
              ("Recycling and Dismantling Centre", "Circular Economy"), ("Vocational Training Centre", "Employees"),
              ("Connected Car Lab", "Connectivity")]
ARTWORKS = ["Lines of Motion", "Silent Speed", "Colour and Light", "Future Forms", "Echoes of Steel",
            "Kinetic Dreams", "Open Horizons", "Quiet Machines"]
ARTISTS = ["Mira Lindqvist", "Oskar Brandl", "Yuna Takeda", "Rafael Ortega", "Ines Kowalski", "Amara Osei"]
MILESTONES = [500000, 750000, 1000000, 1500000, 2000000, 2500000, 3000000, 4000000, 5000000, 10000000]
ORDINAL_WORDS = ["second", "third", "fourth", "fifth", "sixth", "seventh"]
PERIODS = [("the first quarter of {year}", 1), ("the first half of {year}", 2),
           ("the first nine months of {year}", 3), ("the {prev_year} financial year", 4)]
QUOTE_ENDS = ["We are proud of what our teams have achieved.", "This is only the beginning.",
              "I would like to thank everyone involved."]
COMPANY_LINE = ("The BMW Group is one of the world's leading premium manufacturers of automobiles and motorcycles "
                "and also provides premium financial and mobility services.")
OUTLOOKS = ["The BMW Group will provide further details in the coming months.",
            "Further information will follow at the official launch.",
            "The company expects the project to make a lasting contribution to its success."]

# --- Press Release events: text templates share slot names, so titles follow from the lead ---
PR_EVENTS = [
    dict(kind="production_start", model="plant", topics=["Production"], extra=["Employees", "Digitalisation"], role="production",
         lead=["The BMW Group today started series production of the new {variant} at its {location} plant.",
               "The first series-production {variant} rolled off the assembly line at BMW Group Plant {location} today."],
         facts=["The plant will build up to {capacity:,} units of the model per year from {year}.",
                "The BMW Group invested € {invest} million in the new production line.",
                "The launch creates around {jobs:,} new jobs at the site.",
                "The model comes with {drive_phrase}."],
         title=["Series production of the new {variant} starts in {location}",
                "Start of production for the new {variant} in {location}",
                "Plant {location} begins series production of the new {variant} in {year}"],
         rephrase=["Plant {location} has begun building the new {variant} in series.",
                   "The new {variant} is now in series production at the BMW Group site in {location}."],
         quotes=["With the new {variant}, our team in {location} opens a new chapter",
                 "The start of production of the {variant} shows how flexible our plant in {location} is"]),
    dict(kind="model_launch", model="any", topics=["Design"], extra=["Connectivity", "Automated Driving", "Charging Infrastructure"], role="sales",
         lead=["The BMW Group today presented the new {variant}, which will reach customers from {month} {year}.",
               "The new {variant} celebrates its world premiere today and will be launched in {month} {year}."],
         facts=["Prices in Germany start at € {price:,}.", "With {kw} kW ({hp} hp), the model comes with {drive_phrase}.",
                "It will be built at BMW Group Plant {location}.", "Orders can be placed from {order_month}."],
         title=["World premiere: the new {variant} arrives in {month} {year}",
                "The new {variant} celebrates its world premiere in {year}",
                "New {variant} to be launched in {month} {year}"],
         rephrase=["The new {variant} has been unveiled and goes on sale in {month} {year}.",
                   "Customers can get the new {variant} from {month} {year} after today's world premiere."],
         quotes=["The new {variant} sets new standards in its segment", "Our customers have been waiting for the {variant}"]),
    dict(kind="award", model="any", topics=["Awards"], extra=["Design", "Sustainability"], role="sales",
         lead=["The new {variant} has won the {award} {year}.",
               "The jury of the {award} {year} has named the new {variant} the winner in its category."],
         facts=["The jury of {jury} experts praised the model's {quality}.",
                "It is the {ordinal} time that a {brand} model has received this award.",
                "The award-winning model is built at BMW Group Plant {location}.",
                "The prize was presented at a ceremony in {month}."],
         title=["The new {variant} wins the {award} {year}", "{award} {year} goes to the new {variant}",
                "Top honour for the new {variant}: {award} {year}"],
         rephrase=["The {award} {year} has been awarded to the new {variant}.",
                   "The new {variant} has been chosen as the winner of the {award} {year}."],
         quotes=["This award confirms that the {variant} convinces customers and experts alike",
                 "We are proud that the {variant} has received the {award}"]),
    dict(kind="partnership", model=None, location="any", topics=["{area_topic}"], extra=["Sustainability", "Digitalisation"], role="development",
         lead=["The BMW Group and {partner} have agreed a long-term partnership for {area} in {location}.",
               "The BMW Group is joining forces with {partner} to expand {area} in {location}."],
         facts=["The agreement runs for {contract_years} years and covers a volume of € {invest} million.",
                "Both partners plan to start {pilot} pilot projects in {year}.",
                "Around {jobs:,} experts from both companies will work on the project.",
                "{partner} is one of the leading specialists in {area}."],
         title=["BMW Group and {partner} partner on {area} in {location}",
                "{partner} and BMW Group sign agreement on {area} in {year}",
                "New partnership: BMW Group and {partner} advance {area} in {location}"],
         rephrase=["{partner} will work with the BMW Group on {area} in {location}.",
                   "A new long-term partnership with {partner} strengthens {area} in {location}."],
         quotes=["Together with {partner}, we are taking {area} to the next level",
                 "This partnership brings us closer to our goals in {area}"]),
    dict(kind="motorsport", model=None, brand="BMW M", location="Munich", topics=["Motorsport"], extra=["Events"], role="motorsport",
         lead=["BMW M Team {team} has won the {race} {year} with the BMW M4 GT3 EVO.",
               "Victory for BMW M Motorsport: {driver1} and {driver2} have won the {race} {year}."],
         facts=["The team completed {laps} laps and finished {gap} seconds ahead of the runner-up.",
                "It is the {ordinal} overall victory for BMW M at this event.",
                "{driver1} set the fastest lap of the race.",
                "The racing cars are prepared by BMW M Motorsport in Munich."],
         title=["BMW M Team {team} wins the {race} {year}", "Victory at the {race} {year} for BMW M Team {team}",
                "{driver1} and {driver2} win the {race} for BMW M"],
         rephrase=["BMW M Motorsport celebrates victory at the {race} {year} with BMW M Team {team}.",
                   "The {race} {year} ended with a win for BMW M Team {team}."],
         quotes=["This victory at the {race} is a fantastic reward for the whole team",
                 "Our drivers did an outstanding job at the {race}"]),
    dict(kind="plant_investment", model=None, location="any", topics=["Production"], extra=["Employees", "Electric Mobility", "Digitalisation"], role="production",
         lead=["The BMW Group is investing € {invest} million in its {location} plant to prepare the site for future models.",
               "BMW Group Plant {location} will receive an investment of € {invest} million by {year_plus}."],
         facts=["The funds will go into a new {building} and the modernisation of existing halls.",
                "The investment secures around {employees:,} jobs at the site.",
                "Construction work will start in {month} {year}.",
                "Around {jobs:,} additional jobs will be created."],
         title=["BMW Group invests € {invest} million in Plant {location}",
                "€ {invest} million for the future of BMW Group Plant {location}",
                "Plant {location} prepares for the future with € {invest} million investment"],
         rephrase=["An investment of € {invest} million will prepare Plant {location} for future models.",
                   "The BMW Group is spending € {invest} million on its site in {location}."],
         quotes=["This investment is a clear commitment to our plant in {location}",
                 "With € {invest} million we are making {location} fit for the future"]),
    dict(kind="concept_reveal", model=None, location="show", topics=["Design"], extra=["Sustainability", "Circular Economy", "Events"], role="design",
         lead=["At {show} {year} in {location}, the {concept} gives a first glimpse of {vision}.",
               "The {concept}, a vision of {vision}, celebrates its world premiere at {show} {year} in {location}."],
         facts=["The concept car previews design ideas for models from {year_plus}.",
                "Its interior uses {pct} percent secondary and renewable materials.",
                "The car was developed by a team of {jury} designers.",
                "Visitors can see the car at {show} until the end of {month}."],
         title=["World premiere of the {concept} at {show} {year}", "The {concept} shows a vision of {vision}",
                "The {concept} takes centre stage at {show} {year}"],
         rephrase=["The {concept} has been unveiled at {show} in {location} as a vision of {vision}.",
                   "A new concept car, the {concept}, shows the future of {vision}."],
         quotes=["The {concept} shows how we think about {vision}",
                 "With the {concept}, we are opening a new chapter in design"]),
    dict(kind="sustainability", model=None, location="any", topics=["Sustainability"], extra=["Production", "Circular Economy"], role="sustainability",
         lead=["BMW Group Plant {location} has reduced CO2 emissions per vehicle produced by {pct} percent since {base_year}.",
               "CO2 emissions per vehicle built at BMW Group Plant {location} have fallen by {pct} percent since {base_year}."],
         facts=["The plant now covers {share} percent of its electricity needs from renewable sources.",
                "This saves around {tonnes:,} tonnes of CO2 every year.",
                "The site also cut its water consumption by {pct2} percent.",
                "Heat from the paint shop is now recovered and reused."],
         title=["Plant {location} cuts CO2 emissions per vehicle by {pct} percent",
                "{pct} percent less CO2 per vehicle at BMW Group Plant {location}",
                "Plant {location} reports {pct} percent lower CO2 emissions than in {base_year}"],
         rephrase=["Each vehicle from Plant {location} now causes {pct} percent less CO2 than in {base_year}.",
                   "The {location} plant has cut its CO2 emissions per vehicle by {pct} percent."],
         quotes=["Our team in {location} proves that premium production and climate protection go together",
                 "A reduction of {pct} percent is a great achievement for {location}"]),
    dict(kind="milestone", model="plant", topics=["Production"], extra=["Employees", "Events"], role="production",
         lead=["BMW Group Plant {location} has built its {milestone:,}th vehicle, a new {variant}.",
               "A new {variant} is the {milestone:,}th vehicle to roll off the line at BMW Group Plant {location}."],
         facts=["The jubilee vehicle is finished in a special paint colour.",
                "The jubilee vehicle will be handed over to a customer in {month}.",
                "The site currently builds up to {capacity:,} vehicles per year.",
                "The model comes with {drive_phrase}."],
         title=["Plant {location} celebrates production of its {milestone:,}th vehicle",
                "Milestone in {location}: the {milestone:,}th vehicle is a new {variant}",
                "{milestone:,} vehicles built at BMW Group Plant {location}"],
         rephrase=["The {milestone:,}th vehicle from Plant {location} is a new {variant}.",
                   "Plant {location} has reached a production milestone of {milestone:,} vehicles."],
         quotes=["The {milestone:,}th vehicle is a tribute to the people in {location}",
                 "This milestone shows the skill of our team in {location}"]),
    dict(kind="sales", model="brand", location="hq", topics=["Sales"], extra=["Financial Results", "Charging Infrastructure"], role="sales",
         lead=["{brand_org} delivered {deliveries:,} vehicles to customers in {period}, an increase of {growth} percent.",
               "With {deliveries:,} deliveries in {period}, {brand_org_lc} grew its sales by {growth} percent."],
         facts=["The new {variant} was the best-selling model.", "Demand was particularly strong in {region}.",
                "The order bank remains at a high level.", "The share of electrified vehicles rose to {share} percent."],
         title=["{brand} delivers {deliveries:,} vehicles in {period}",
                "{brand} grows sales by {growth} percent in {period}",
                "Sales up {growth} percent: {brand} delivers {deliveries:,} vehicles"],
         rephrase=["Sales of {brand} rose by {growth} percent to {deliveries:,} vehicles in {period}.",
                   "{brand} reports {deliveries:,} deliveries and growth of {growth} percent for {period}."],
         quotes=["Our customers love the {variant}", "Growth of {growth} percent shows the strength of our line-up"]),
    dict(kind="facility", model=None, location="any", topics=["Research & Development", "{facility_topic}"], extra=[], role="development",
         lead=["The BMW Group today opened its new {facility} in {location}.",
               "With the new {facility} in {location}, the BMW Group is strengthening its research & development network."],
         facts=["The BMW Group invested € {invest} million in the building.",
                "Around {jobs:,} specialists will work there.", "The centre covers an area of {area_m2:,} square metres.",
                "First projects will start in {month} {year}."],
         title=["BMW Group opens new {facility} in {location}", "New {facility} in {location} opens its doors",
                "{location} gets new {facility} with {jobs:,} jobs"],
         rephrase=["A new {facility} of the BMW Group has opened in {location}.",
                   "In {location}, the BMW Group has opened a new {facility}."],
         quotes=["The new {facility} gives our experts in {location} ideal conditions",
                 "With the {facility}, {location} becomes a hub for new ideas"]),
    dict(kind="art", model=None, location="any", topics=["Art & Culture"], extra=["Events"], role="ceo",
         lead=["The BMW Group is presenting the exhibition {artwork} by {artist} in {location} from {month} {year}.",
               "With the exhibition {artwork}, the artist {artist} brings new works to {location} in {month} {year}."],
         facts=["The show features {works} works by {artist}.", "Admission to the exhibition is free.",
                "The exhibition runs for {weeks} weeks.", "A guided tour takes place every Sunday."],
         title=["Exhibition {artwork} by {artist} opens in {location}",
                "BMW Group presents {artwork} by {artist} in {location} in {year}",
                "{artist} shows {artwork} in {location}"],
         rephrase=["{artist} presents the exhibition {artwork} in {location}, supported by the BMW Group.",
                   "The BMW Group brings the exhibition {artwork} by {artist} to {location}."],
         quotes=["{artist} invites us to see mobility with new eyes", "Art opens minds, and {artwork} does exactly that"]),
]
SPEECHES = [  # occasion phrase -> topics, speaker role, opening sentence and two body sentences
    dict(occasion="{years_ord} anniversary of BMW Group Plant {location}", model=None, location="old", topics=["Events", "Production"], role="ceo",
         open="For {years} years, this plant has stood for quality, flexibility and team spirit.",
         gist="looked back on {years} years of the plant and thanked its {employees:,} employees",
         body=["Today, {employees:,} employees build up to {capacity:,} vehicles here every year.",
               "Over the years we have invested more than € {invest} million in this site."]),
    dict(occasion="production start of the new {variant} in {location}", model="plant", topics=["Production"], role="production",
         open="Today, the first new {variant} leaves our assembly line here in {location}.",
         gist="welcomed the first new {variant} from the assembly line and the {jobs:,} new jobs in {location}",
         body=["We have invested € {invest} million in this plant and created {jobs:,} new jobs.",
               "The model comes with {drive_phrase}."]),
    dict(occasion="Annual General Meeting {year} in {location}", model=None, location="Munich", topics=["Financial Results"], extra=["Sales"], role="ceo",
         open="The past financial year was a successful one for our company.",
         gist="reported {group_deliveries:,} deliveries and proposed a dividend of € {dividend} per share",
         body=["We delivered {group_deliveries:,} vehicles to our customers, an increase of {growth} percent.",
               "We propose a dividend of € {dividend} per share."]),
    dict(occasion="opening of the new {facility} in {location}", model=None, location="any", topics=["Research & Development", "{facility_topic}"], role="development",
         open="This new {facility} is an investment in the knowledge of tomorrow.",
         gist="opened the new {facility}, an investment of € {invest} million in {location}",
         body=["We have invested € {invest} million in this building.", "Around {jobs:,} specialists will work here."]),
    dict(occasion="world premiere of the new {variant} in {location}", model="any", location="Munich", topics=["Design", "Events"], role="design",
         open="The new {variant} is the most emotional car we have ever designed.",
         gist="presented the new {variant}, which reaches customers in {month} {year}",
         body=["With {kw} kW ({hp} hp), it comes with {drive_phrase}.", "It will reach our customers in {month} {year}."]),
    dict(occasion="opening of the exhibition {artwork} in {location}", model=None, location="any", topics=["Art & Culture", "Events"], role="ceo",
         open="Art and mobility have always inspired each other.",
         gist="opened the exhibition {artwork} with {works} works by {artist}",
         body=["We are proud to show {works} works by {artist}.", "The exhibition will be open to the public for {weeks} weeks."]),
]
# Press Kit building blocks
KIT_CLAIMS = ["its most advanced model to date", "a new benchmark in its segment",
              "the next generation of a bestseller", "a fresh interpretation of a modern classic"]
KIT_DESIGN = ["a long bonnet, short overhangs and a powerful stance", "a clean, reduced surface design",
              "slim headlights and a distinctive front end", "a sporty silhouette with flowing lines"]
KIT_INTERIOR = ["a curved display and high-quality vegan surfaces dominate the interior",
                "the interior offers generous space and premium materials",
                "a new steering wheel and ambient lighting create a modern atmosphere"]
KIT_EQUIPMENT = ["a head-up display", "a panoramic glass roof", "heated seats", "a premium sound system",
                 "adaptive LED headlights", "a 360-degree camera", "a digital key for the smartphone"]
KIT_TITLES = ["The new {variant}: design, powertrain and equipment in detail",
              "Press kit: the new {variant} for model year {year}",
              "The new {variant} ({year}): all details at a glance",
              "Everything about the new {variant}: design, drive and prices"]
# Fact & Figures kinds and their titles (each title reuses numbers from the lead)
FF_KINDS = ["group", "brand", "plant"]
FF_TITLES = {
    "group": ["BMW Group delivers {deliveries:,} vehicles in {period}", "BMW Group key figures for {period}: revenue of € {revenue} billion",
              "Facts and figures: BMW Group in {period} with {deliveries:,} deliveries"],
    "brand": ["{brand} in {period}: {deliveries:,} deliveries at a glance", "Facts and figures: {brand} deliveries in {period}",
              "{brand} deliveries in {period} rise by {growth} percent"],
    "plant": ["BMW Group Plant {location}: facts and figures for {prev_year}", "Plant {location} in figures: {output:,} vehicles built in {prev_year}",
              "Facts and figures {prev_year}: BMW Group Plant {location} with {employees:,} employees"],
}
BRAND_VOLUME = {"BMW": 2000000, "MINI": 290000, "Rolls-Royce": 6000, "BMW M": 180000, "BMW Motorrad": 200000}
REGIONS = ["Europe", "the USA", "China", "Korea", "the Middle East", "Japan"]
BUILDINGS = ["body shop", "assembly hall", "paint shop", "battery assembly", "logistics centre"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


def _slots(rng: random.Random, year: int, model_rule, location_rule, brand=None) -> dict:
    """All slot values one article may need; drawing them all keeps the code flat and simple."""
    if model_rule == "brand":  # a sales story: pick the brand first, then one of its models
        brand = rng.choice(list(BRAND_ORG))
    names = [m for m in MODELS if brand is None or MODELS[m][0] == brand]
    model = rng.choice(names)
    m_brand, drive, plants, suffixes, kw, price, range_km, kwh = MODELS[model]
    s = dict(model=model if model_rule else None, variant=f"{model} {rng.choice(suffixes)}".strip(),
             kw=rng.randint(*kw), price=rng.randrange(price[0] * 1000, price[1] * 1000 + 1, 100),
             range_km=rng.randint(*range_km), kwh=rng.randint(*kwh), drive=drive)
    s["hp"] = round(s["kw"] * 1.36)
    s["kwh_a"] = ("an " if str(s["kwh"]).startswith(("8", "11", "18")) else "a ") + str(s["kwh"])
    s["drive_phrase"] = DRIVE_PHRASES[drive].format(**s)
    s["brand"] = brand or (m_brand if model_rule else "BMW")
    show, show_loc = rng.choice(SHOWS)
    concept, concept_brand = rng.choice(CONCEPTS)
    rule = location_rule or ("plant" if model_rule else "any")
    if rule == "plant":  # a model story happens where the model is built
        loc = rng.choice(plants)
    elif rule == "hq":
        loc = "Goodwood" if s["brand"] == "Rolls-Royce" else "Munich"
    elif rule == "any":
        loc = rng.choice(list(LOCATIONS))
    elif rule == "show":  # a concept car story happens at its show and belongs to the concept's brand
        loc, s["brand"] = show_loc, concept_brand
    elif rule == "old":  # anniversaries need a plant that is old enough
        loc = rng.choice([name for name, row in LOCATIONS.items() if year - row[0] >= 10])
    else:
        loc = rule
    founded, employees, _ = LOCATIONS[loc]
    area, area_topic = rng.choice(AREAS)
    facility, facility_topic = rng.choice(FACILITIES)
    period, quarters = rng.choice(PERIODS)
    drivers = rng.sample(DRIVERS, 2)
    s.update(location=loc, founded=founded, employees=employees, years=year - founded,
             years_ord=_ordinal(year - founded), year=year, prev_year=year - 1, year_plus=year + rng.randint(1, 3),
             base_year=rng.choice([2006, 2015, 2019]), month=rng.choice(MONTHS), order_month=rng.choice(MONTHS),
             capacity=rng.randrange(40000, 350001, 5000), invest=rng.randrange(100, 951, 50),
             jobs=rng.randrange(150, 2001, 50), pct=rng.randint(15, 60), pct2=rng.randint(10, 40),
             share=rng.randint(20, 95), tonnes=rng.randrange(5000, 120001, 500), jury=rng.randint(12, 60),
             contract_years=rng.randint(3, 10), pilot=rng.randint(2, 12), laps=rng.randint(120, 800),
             gap=f"{rng.uniform(0.8, 60):.1f}", ordinal=rng.choice(ORDINAL_WORDS), quality=rng.choice(QUALITIES),
             award=rng.choice(AWARDS), race=rng.choice(RACES), team=rng.choice(TEAMS), driver1=drivers[0],
             driver2=drivers[1], partner=rng.choice(PARTNERS), area=area, area_topic=area_topic, show=show,
             concept=concept, vision=rng.choice(VISIONS), building=rng.choice(BUILDINGS), facility=facility,
             facility_topic=facility_topic, artwork=rng.choice(ARTWORKS), artist=rng.choice(ARTISTS),
             works=rng.randint(12, 80), weeks=rng.randint(4, 16), area_m2=rng.randrange(4000, 60001, 500),
             milestone=rng.choice(MILESTONES), region=rng.choice(REGIONS), elec_share=rng.randint(12, 35),
             growth=f"{rng.uniform(1.5, 18):.1f}", dividend=f"{rng.uniform(4, 9):.2f}",
             period=period.format(year=year, prev_year=year - 1), quarters=quarters)
    if s["brand"] == "Rolls-Royce":  # a manufactory, not a volume plant
        s["capacity"] = rng.randrange(4000, 8001, 500)
    s["deliveries"] = round(BRAND_VOLUME[s["brand"]] * quarters / 4 * rng.uniform(0.85, 1.15))
    s["group_deliveries"] = round(2450000 * rng.uniform(0.9, 1.05))  # a full financial year
    s["brand_org"] = BRAND_ORG[s["brand"]]
    s["brand_org_lc"] = s["brand_org"].replace("The ", "the ", 1)
    return s


# --- Shared helpers ---------------------------------------------------------------------------
def _words(text: str) -> int:
    return len(text.split())


def _topics(rng: random.Random, s: dict, required: list, extra: list) -> list:
    """1-3 topics: the event's own, the drive's (an electric model implies Electric Mobility), extras."""
    topics = [t.format(**s) for t in required]
    if s["model"] and s["drive"] in ("electric", "phev"):
        topics.append("Electric Mobility")
    if s["model"] and s["drive"] == "hydrogen":
        topics.append("Hydrogen")
    topics = list(dict.fromkeys(topics))[:3]
    pool = [t for t in extra if t not in topics]
    topics += rng.sample(pool, rng.randint(0, min(len(pool), 3 - len(topics))))
    return sorted(topics, key=list(TOPICS).index)


def _tags(s: dict, topics: list) -> list:
    """Canonical order: brand, model, topics, location."""
    return list(dict.fromkeys([s["brand"]] + ([s["model"]] if s["model"] else []) + topics + [s["location"]]))


def _topic_lines(rng: random.Random, s: dict, topics: list) -> list:
    return [rng.choice(TOPICS[t]).format(**s) for t in topics]


def _location_line(location: str) -> str:
    founded, employees, country = LOCATIONS[location]
    return f"The BMW Group site in {location}, {country}, dates back to {founded} and employs around {employees:,} people."


def _tag_lines(text: str, tags: list, s: dict) -> list:
    """Background sentences for tags the text does not mention yet, so every tag is extractable."""
    lines = []
    for tag in tags:
        if tag.lower() in text.lower():
            continue
        if tag in BRAND_LINES:
            lines.append(BRAND_LINES[tag])
        elif tag in LOCATIONS:
            lines.append(_location_line(tag))
        elif tag in MODELS:
            lines.append(f"The {s['variant']} remains one of the most important models in the line-up.")
        else:
            lines.append(TOPICS[tag][0].format(**s))
    return lines


def _summary(rng: random.Random, lead: list, rephrase: str, facts: list) -> str:
    """A third of teasers copy the lead verbatim; the rest rephrase it and add a fact from the body."""
    if rng.random() < 1 / 3:
        return " ".join(lead)
    parts = [rephrase]
    for fact in facts:
        if _words(" ".join(parts)) >= 25 or len(parts) == 3:
            break
        if _words(" ".join(parts + [fact])) <= 50:
            parts.append(fact)
    return " ".join(parts)


def _lead(sentences: list) -> list:
    """Lead = first sentences up to about 25 words, never more than 3 (the verbatim teaser)."""
    lead = []
    for sentence in sentences:
        if lead and (_words(" ".join(lead)) >= 25 or len(lead) == 3):
            break
        lead.append(sentence)
    return lead


def _fit(rng: random.Random, paras: list, blocks: list, kind: str, at: int) -> list:
    """Insert optional blocks of paragraphs before index `at` (-1: append) until the minimum length,
    and beyond it with probability 1/2 each, for variety."""
    lo, _ = WORD_RANGE[kind]
    for block in blocks:
        if _words(" ".join(paras)) >= lo and rng.random() < 0.5:
            break
        at = len(paras) if at < 0 else at
        paras[at:at] = block
        at += len(block)
    return paras


# --- One builder per article type -------------------------------------------------------------
def _press_release(rng: random.Random, year: int) -> dict:
    ev = rng.choice(PR_EVENTS)
    s = _slots(rng, year, ev["model"], ev.get("location"), ev.get("brand"))
    fill = lambda t: t.format(**s)  # noqa: E731
    topics = _topics(rng, s, ev["topics"], ev["extra"])
    facts = [fill(f) for f in rng.sample(ev["facts"], len(ev["facts"]))]
    lead = _lead([fill(rng.choice(ev["lead"]))] + facts)
    body = facts[len(lead) - 1:]
    lines = _topic_lines(rng, s, topics)
    name, role = EXECUTIVES[ev["role"]]
    dateline = s["location"] if rng.random() < 0.75 else "Munich"
    quote = f'"{fill(rng.choice(ev["quotes"]))}," said {name}, {role} of the BMW Group. "{rng.choice(QUOTE_ENDS)}"'
    paras = [f"{dateline}. " + " ".join(lead), " ".join(body[:2] + lines[:1]), quote]
    background = lines[1:] + body[2:] + [_location_line(s["location"])]
    background += _tag_lines("\n".join(paras + background), _tags(s, topics), s)
    paras.append(" ".join(background))
    paras = _fit(rng, paras, [[rng.choice(OUTLOOKS) + " " + BRAND_LINES[s["brand"]]]], "Press Release", -1)
    if _words(" ".join(paras)) < WORD_RANGE["Press Release"][0]:  # at most 5 paragraphs: extend the last one
        paras[-1] += " " + COMPANY_LINE
    return dict(title=fill(rng.choice(ev["title"])), lead=lead, rephrase=fill(rng.choice(ev["rephrase"])),
                facts=body, paras=paras, tags=_tags(s, topics))


def _press_kit(rng: random.Random, year: int) -> dict:
    """Sectioned and technical: heading lines, kW/hp, range, kWh, prices."""
    s = _slots(rng, year, "any", "plant")
    fill = lambda t: t.format(**s)  # noqa: E731
    topics = _topics(rng, s, ["Design"], ["Connectivity", "Automated Driving", "Digitalisation"])
    lines = dict(zip(topics, _topic_lines(rng, s, topics)))
    country = LOCATIONS[s["location"]][2]
    lead = [fill("With the new {variant}, {brand_org_lc} presents " + rng.choice(KIT_CLAIMS) + "."),
            fill("The model will be built at BMW Group Plant {location} and launched in {month} {year}.")]
    power = [fill("The {variant} delivers {kw} kW ({hp} hp) and comes with {drive_phrase}."),
             f"It accelerates from 0 to 100 km/h in {min(9.8, 1.6 + 800 / s['kw']) + rng.uniform(-0.2, 0.2):.1f} seconds.",
             f"Top speed is electronically limited to {120 if s['kw'] < 60 else 250 if s['kw'] < 400 else 305} km/h."]
    if s["drive"] in ("electric", "phev"):
        power.append(f"At a fast charger, the battery charges from 10 to 80 percent in {rng.randint(18, 40)} minutes.")
    power += [lines[t] for t in ("Electric Mobility", "Hydrogen") if t in lines]
    equipment = rng.sample(KIT_EQUIPMENT, 4)
    other = [lines[t] for t in topics if t not in ("Design", "Electric Mobility", "Hydrogen")]
    price = [fill("The new {variant} will be available from {month} {year}."),
             fill("Prices in Germany start at € {price:,} including VAT."), fill("Orders can be placed from {order_month}.")]
    sections = [
        (rng.choice(["Design.", "Exterior and interior design."]),
         fill(f"The exterior of the {{variant}} is shaped by {rng.choice(KIT_DESIGN)}. ")
         + rng.choice(KIT_INTERIOR).capitalize() + ". " + lines["Design"]
         + f" Light-alloy wheels of up to {rng.randint(17, 23)} inches complete the look."),
        (rng.choice(["Powertrain.", "Drive system and performance."]), " ".join(power)),
        (rng.choice(["Equipment.", "Equipment and digital features."]),
         f"Standard equipment includes {equipment[0]} and {equipment[1]}. Optional extras include {equipment[2]} "
         f"and {equipment[3]}. " + " ".join(["The latest operating system offers a large central display and "
                                             "natural voice control."] + other)),
        (rng.choice(["Availability and pricing.", "Market launch and prices."]), " ".join(price)),
    ]
    paras = [" ".join(lead)] + [p for pair in sections for p in pair]
    production = fill(f"The {{variant}} is built at BMW Group Plant {{location}} in {country}, "
                      "which employs around {employees:,} people.")
    tag_lines = _tag_lines("\n".join(paras), _tags(s, topics), s)
    paras[-2:-2] = ["Production.", " ".join([production] + tag_lines)]
    chassis = ["Chassis and driving dynamics.", fill("An adaptive suspension and precise steering give the {variant} "
               "a balanced character. Driving modes range from comfortable to sporty.")]
    paras = _fit(rng, paras, [chassis], "Press Kit", 5)
    rephrase = rng.choice(["The new {variant} combines {kw} kW ({hp} hp) with {drive_phrase}.",
                           "Built at Plant {location}, the new {variant} reaches customers in {month} {year}."])
    return dict(title=fill(rng.choice(KIT_TITLES)), lead=lead, rephrase=fill(rephrase),
                facts=price[1:2] + power[:2], paras=paras, tags=_tags(s, topics))


def _speech(rng: random.Random, year: int) -> dict:
    """First person, salutation, 'Check against delivery', ends with 'Thank you.'"""
    occ = rng.choice(SPEECHES)
    s = _slots(rng, year, occ["model"], occ.get("location"))
    fill = lambda t: t.format(**s)  # noqa: E731
    topics = _topics(rng, s, occ["topics"], occ.get("extra", ["Employees"]))
    name, role = EXECUTIVES[occ["role"]]
    occasion = fill(occ["occasion"])
    lead = [f"As {role} of the BMW Group, I am delighted to welcome you to the {occasion}.", fill(occ["open"])]
    body = [fill(b) for b in occ["body"]] + _topic_lines(rng, s, topics)
    thanks = [rng.choice(["I would like to thank everyone who made this day possible.",
                          "My thanks go to our partners, our suppliers and above all our teams."]),
              fill("{location} can be proud of what has been achieved here.")]
    paras = [rng.choice(["Check against delivery.", "– Check against delivery –"]),
             rng.choice(["Ladies and gentlemen,", "Dear guests,\nLadies and gentlemen,", "Dear colleagues, dear guests,"]),
             " ".join(lead), " ".join(body)]
    thanks += _tag_lines("\n".join(paras + thanks), _tags(s, topics), s)
    closing = rng.choice(["Let us shape the future of mobility together.", "I wish us all an inspiring day.",
                          "Together, we will write the next chapter of this success story."]) + " Thank you."
    extra = ["We are facing a period of profound change in our industry. We are ready for it, "
             "because we have the right products, the right technologies and, above all, the right people.",
             "I am convinced that the best is yet to come. Our teams are working with great passion on the next generation "
             "of vehicles, and I look forward to sharing more with you soon."]
    paras = _fit(rng, paras + [" ".join(thanks), closing], [[e] for e in extra], "Speech", 4)
    rephrase = f"Speaking at the {occasion}, {name}, {role} of the BMW Group, {fill(occ['gist'])}."
    return dict(title=fill(rng.choice([f"Speech by {name} at the {occasion}", f"{name}: speech at the {occasion}",
                                       f"Speech at the {occasion} by {name}"])),
                lead=lead, rephrase=rephrase, facts=[], paras=paras, tags=_tags(s, topics))


def _fact_figures(rng: random.Random, year: int) -> dict:
    """A block of 'Label: value' lines framed by a few prose sentences."""
    kind, u = rng.choice(FF_KINDS), rng.uniform
    if kind == "group":
        s = _slots(rng, year, None, "Munich", brand="BMW")
        s["deliveries"] = d = round(s["group_deliveries"] * s["quarters"] / 4)
        revenue = d * u(0.055, 0.062) / 1000
        s.update(revenue=f"{revenue:.1f}", margin=f"{u(5.5, 11.5):.1f}")
        topics = _topics(rng, s, ["Financial Results", "Sales"], ["Electric Mobility"])
        lead = ["The BMW Group delivered {deliveries:,} vehicles to customers in {period}.",
                "Group revenue amounted to € {revenue} billion, and the EBIT margin in the Automotive segment reached {margin}%."]
        figures = [f"Deliveries: {d:,} units ({u(-6, 12):+.1f}%)",
                   f"Electrified vehicles: {round(d * s['elec_share'] / 100):,} units ({s['elec_share']}% of total)",
                   f"Deliveries in Europe: {round(d * u(0.38, 0.45)):,} units",
                   f"Deliveries in China: {round(d * u(0.25, 0.33)):,} units",
                   f"Revenue: € {s['revenue']} billion ({u(-5, 10):+.1f}%)",
                   f"Group earnings before tax: € {revenue * u(0.07, 0.12):.2f} billion",
                   f"EBIT margin Automotive segment: {s['margin']}%",
                   f"Free cash flow Automotive segment: € {revenue * u(0.03, 0.08):.2f} billion",
                   f"Workforce at period end: {rng.randrange(145000, 160000, 10):,} employees"]
        context = ["Demand was particularly strong in {region}.", "Electrified vehicles accounted for {elec_share} percent of deliveries."]
        rephrase = "In {period}, the BMW Group recorded {deliveries:,} deliveries and revenue of € {revenue} billion."
    elif kind == "brand":
        s = _slots(rng, year, "brand", "hq")
        d, split = s["deliveries"], [u(0.3, 0.45), u(0.15, 0.3)]
        topics = _topics(rng, s, ["Sales"], ["Financial Results"])
        lead = ["{brand_org} delivered {deliveries:,} vehicles to customers in {period}.",
                "Sales grew by {growth} percent compared with the same period of the previous year."]
        figures = [f"Deliveries: {d:,} units (+{s['growth']}%)",
                   f"Best-selling model: {s['model']} ({round(d * u(0.2, 0.4)):,} units)",
                   f"Europe: {round(d * split[0]):,} units", f"Americas: {round(d * split[1]):,} units",
                   f"Asia and rest of world: {round(d * (1 - sum(split))):,} units",
                   f"Share of electrified vehicles: {s['elec_share']}%"]
        context = ["The {model} was once again the most popular model.", "Demand was particularly strong in {region}."]
        rephrase = "{brand} increased its deliveries by {growth} percent to {deliveries:,} vehicles in {period}."
    else:
        s = _slots(rng, year, "plant", "plant")
        s.update(output=s["capacity"], country=LOCATIONS[s["location"]][2])
        topics = _topics(rng, s, ["Production"], ["Employees", "Sustainability"])
        lead = ["BMW Group Plant {location} in {country} built {output:,} vehicles in {prev_year}.",
                "The site has been part of the global production network since {founded}."]
        figures = [f"Founded: {s['founded']}", f"Employees: {s['employees']:,}",
                   f"Apprentices: {rng.randrange(80, 900, 10)}",
                   f"Vehicles built in {s['prev_year']}: {s['output']:,} units ({u(-8, 15):+.1f}%)",
                   f"Vehicles per working day: up to {round(s['output'] / 230):,}",
                   f"Main model: {s['model']}", f"Site area: {rng.randint(40, 500)} hectares",
                   f"Share of renewable electricity: {s['share']}%",
                   f"Investment since founding: € {u(1, 12):.1f} billion"]
        context = ["Around {employees:,} people work at the site.", "The {model} is the most important model built there."]
        rephrase = "In {prev_year}, {output:,} vehicles rolled off the line at BMW Group Plant {location} in {country}."
    fill = lambda t: t.format(**s)  # noqa: E731
    lead, context = [fill(t) for t in lead], [fill(t) for t in context]
    prose = _topic_lines(rng, s, topics) + [fill("The figures were published today in {location}.")]
    paras = [" ".join(lead), "Key figures at a glance.", "\n".join(figures), " ".join(context + prose)]
    paras[-1] = " ".join([paras[-1]] + _tag_lines("\n".join(paras), _tags(s, topics), s))
    paras += ["Outlook.", rng.choice(["For the full year, the company expects a slight increase in deliveries.",
                                      "The company confirms its outlook for the current year.",
                                      "Demand for electrified models is expected to remain strong."])]
    paras = _fit(rng, paras, [[COMPANY_LINE]], "Fact & Figures", -1)
    return dict(title=fill(rng.choice(FF_TITLES[kind])), lead=lead, rephrase=fill(rephrase),
                facts=context[::-1], paras=paras, tags=_tags(s, topics))


BUILDERS = {"Press Release": _press_release, "Press Kit": _press_kit, "Speech": _speech,
            "Fact & Figures": _fact_figures}


def generate_corpus(n_articles: int, seed: int) -> list[dict]:
    """Deterministic synthetic PressClub corpus (same n and seed -> identical output, byte for byte)."""
    rng = random.Random(seed)
    types = rng.choices(ARTICLE_TYPES, weights=TYPE_WEIGHTS, k=n_articles)
    if n_articles >= 50:  # rare types must still reach every split
        for kind in ARTICLE_TYPES[1:]:
            while types.count(kind) < 2:
                types[rng.choice([i for i, t in enumerate(types) if t == "Press Release"])] = kind
    first, last = datetime.date(2019, 1, 1).toordinal(), datetime.date(2025, 12, 31).toordinal()
    seen, corpus = set(), []
    for index, kind in enumerate(types):
        date = datetime.date.fromordinal(rng.randint(first, last))
        for _ in range(500):  # redraw on a title clash, so titles (and urls) are unique
            art = BUILDERS[kind](rng, date.year)
            if art["title"] not in seen:
                break
        else:
            raise RuntimeError(f"could not find a unique title for article {index}")
        seen.add(art["title"])
        corpus.append(dict(
            title=art["title"], date=date.strftime("%d.%m.%Y"), type=kind,
            summary=_summary(rng, art["lead"], art["rephrase"], art["facts"]), tags=art["tags"],
            url=URL.format(index=index, slug=_slug(art["title"])), content="\n\n".join(art["paras"])))
    return corpus
