"""Word lists and tables the record generators draw from (names, cities, products, states)."""

FIRST = (
    ("Ava", "ava"), ("Liam", "liam"), ("Noah", "noah"), ("Emma", "emma"), ("Olivia", "olivia"),
    ("Mateo", "mateo"), ("Zoë", "zoe"), ("José", "jose"), ("Søren", "soren"), ("Amara", "amara"),
    ("Hiroshi", "hiroshi"), ("Priya", "priya"), ("Chloé", "chloe"), ("Lukas", "lukas"),
    ("Fatima", "fatima"), ("Ingrid", "ingrid"), ("Kwame", "kwame"), ("Mei", "mei"),
    ("Oliver", "oliver"), ("Sofia", "sofia"), ("Ethan", "ethan"), ("Aoife", "aoife"),
    ("Björn", "bjorn"), ("Nadia", "nadia"),
)
LAST = (
    ("Smith", "smith"), ("García", "garcia"), ("Müller", "muller"), ("Tanaka", "tanaka"),
    ("O'Brien", "obrien"), ("Nguyen", "nguyen"), ("Rossi", "rossi"), ("Johansson", "johansson"),
    ("Okafor", "okafor"), ("Dubois", "dubois"), ("Kowalski", "kowalski"), ("Patel", "patel"),
    ("Silva", "silva"), ("Murphy", "murphy"), ("Jensen", "jensen"), ("van Dijk", "vandijk"),
)
CITIES = (
    ("Austin", "Texas", "TX", "United States", "US", "787{:02d}"),
    ("Portland", "Oregon", "OR", "United States", "US", "972{:02d}"),
    ("Brooklyn", "New York", "NY", "United States", "US", "112{:02d}"),
    ("Ottawa", "Ontario", "ON", "Canada", "CA", "K1A 0B{}"),
    ("London", "England", "ENG", "United Kingdom", "GB", "EC1A {}BB"),
    ("Münster", "Nordrhein-Westfalen", "NW", "Germany", "DE", "481{:02d}"),
    ("Lyon", "Auvergne-Rhône-Alpes", "ARA", "France", "FR", "690{:02d}"),
    ("Tokyo", "Tokyo", "JP-13", "Japan", "JP", "100-00{:02d}"),
    ("Melbourne", "Victoria", "VIC", "Australia", "AU", "30{:02d}"),
    ("Amsterdam", "Noord-Holland", "NH", "Netherlands", "NL", "10{:02d} AB"),
)
STREETS = ("Main St", "Oak Avenue", "High Street", "Market St", "Elm Road", "Harbour Way")
CUSTOMER_TAGS = ("vip", "wholesale", "newsletter", "returning", "local")
EMAIL_STATES = ("SUBSCRIBED", "SUBSCRIBED", "SUBSCRIBED", "NOT_SUBSCRIBED", "NOT_SUBSCRIBED",
                "NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING")
SMS_STATES = ("SUBSCRIBED", "NOT_SUBSCRIBED", "NOT_SUBSCRIBED", "UNSUBSCRIBED")
OPT_IN = ("SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN")
CUSTOMER_STATES = ("ENABLED",) * 7 + ("DISABLED", "DISABLED", "INVITED")
FINANCIAL = ("PAID",) * 6 + ("PENDING", "REFUNDED", "PARTIALLY_REFUNDED", "AUTHORIZED")
FULFILLMENT = ("FULFILLED",) * 5 + ("UNFULFILLED", "UNFULFILLED", "PARTIALLY_FULFILLED")
ADJECTIVES = ("Classic", "Organic", "Vintage", "Handmade", "Everyday", "Deluxe", "Nordic",
              "Rustic", "Urban", "Alpine", "Coastal", "Midnight")
NOUNS = ("Mug", "Tote Bag", "Candle", "Notebook", "Scarf", "Tea Blend", "Water Bottle",
         "Backpack", "Sweater", "Cutting Board", "Soap Bar", "Planter")
VENDORS = ("Acme Goods", "Fjord & Co", "Maison Lumière", "Kōbō Works", "Northwind")
PRODUCT_TYPES = ("Home", "Apparel", "Kitchen", "Stationery", "Accessories")
PRODUCT_STATUS = ("ACTIVE",) * 17 + ("DRAFT", "DRAFT", "ARCHIVED")
SIZES = (("Default Title",), ("Small", "Large"), ("Small", "Medium", "Large"))
THEMES = ("Summer", "Winter", "Best Sellers", "New Arrivals", "Gifts", "Sale", "Essentials",
          "Staff Picks")
SORT_ORDERS = ("MANUAL", "BEST_SELLING", "ALPHA_ASC", "CREATED_DESC")
